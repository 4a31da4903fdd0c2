"""The provenance columns every reader stamps on every raw row and every mapping keeps (STYLE habit 3)."""
SOURCE_FILE = "_file"  # the source file name, e.g. "dosing.csv"
SOURCE_LINE = "_line"  # the physical line in that file (header = 1), or the source line of an XML element
