"""The `trialbridge` command line -> its argparse parser: every command and option defined once, the
argument types that say what was wrong, usage errors as CLI-USAGE findings with exit code 2, and the exit codes.
"""
from __future__ import annotations

import argparse
import sys
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from trialbridge.converters.reports.findings import print_findings
from trialbridge.schemas.findings import finding

EXIT_OK, EXIT_CONFORMANCE, EXIT_BAD_INPUT, EXIT_INTERNAL = 0, 1, 2, 3


def tool_version() -> str:
    """The installed trialbridge version ("unknown" from a source tree never installed)."""
    try:
        return version("trialbridge")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


class _Parser(argparse.ArgumentParser):
    """argparse that exits with status 2 and our own wording on a usage error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print_findings([finding("CLI-USAGE", self.prog, detail=message)], sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT)


def _whole_number(minimum: int, maximum: int | None = None):
    """An argparse type: a whole number of at least `minimum` (and at most `maximum`), with a message that says
    what was wrong."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected a number of at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"expected a number of at most {maximum:,}, got {value:,}")
        return value
    return parse


def _releases(text: str) -> tuple[str, ...]:
    """`R4,R5` -> ("R4", "R5"); `none` -> ()."""
    if text.strip().lower() == "none":
        return ()
    releases = tuple(dict.fromkeys(part.strip().upper() for part in text.split(",") if part.strip()))
    unknown = [r for r in releases if r not in ("R4", "R5")]
    if unknown or not releases:
        raise argparse.ArgumentTypeError(f"expected R4, R5, R4,R5 or none, got {text!r}")
    return releases


def _dataset_json_formats(text: str) -> tuple[str, ...]:
    """`json,ndjson` -> ("json", "ndjson")."""
    formats = tuple(dict.fromkeys(part.strip().lower() for part in text.split(",") if part.strip()))
    if not formats or any(f not in ("json", "ndjson") for f in formats):
        raise argparse.ArgumentTypeError(f"expected json, ndjson or json,ndjson, got {text!r}")
    return formats


def _timestamp(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an ISO 8601 date or date-time such as 2015-07-23T00:00:00, got {text!r}") from None


_positive_int = _whole_number(1)
_non_negative_int = _whole_number(0)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="trialbridge",
        description="Turn a clinical trial's native records into CDISC SDTM (XPT v5 + Define-XML) and HL7 FHIR.",
    )
    parser.add_argument("--version", action="version", version=f"trialbridge {tool_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    report = argparse.ArgumentParser(add_help=False)
    report.add_argument("--format", choices=("table", "json"), default="table",
                        help="how findings are printed: a table for people (default) or JSON on stdout")
    report.add_argument("--max-shown", type=_positive_int, default=20, metavar="N",
                        help="at most N findings shown per rule in the table (all are counted; default 20)")
    report.add_argument("--verbose", action="store_true",
                        help="also show notes (info findings: transliterations, lengths set, ...) in the table")
    report.add_argument("--quiet", action="store_true",
                        help="no progress display (it is shown only on a terminal anyway)")
    report.add_argument("--log-format", choices=("text", "json"), default="text",
                        help="json: one JSON object per line on stderr for each stage and the end, "
                             "instead of the progress display, table and summary")
    report.add_argument("--waivers", type=Path, default=None, metavar="FILE",
                        help="explanations (CSV or YAML: rule, dataset, variable, pattern, justification, author, "
                             "date); matching findings are marked explained and no longer set the exit code")

    convert = commands.add_parser("convert", parents=[report], help="convert a native record folder",
                                  description="Read and check a native record folder (registry.json + CRF CSVs) and write the standard outputs into --out.")
    convert.add_argument("input", type=Path, nargs="+", metavar="INPUT",
                         help="the native record folder; several folders, or a folder of them, convert each into "
                              "DIR/<name>/ (a batch)")
    convert.add_argument("--jobs", type=_positive_int, default=1, metavar="N",
                         help="batch: convert N studies at a time in worker processes (default 1)")
    convert.add_argument("--out", type=Path, required=True, metavar="DIR",
                         help="output folder: new, empty, or an earlier trialbridge output (with --force); never the input")
    convert.add_argument("--force", action="store_true",
                         help="replace an earlier trialbridge output in --out (only files its manifest lists)")
    convert.add_argument("--fhir", type=_releases, default=("R4", "R5"), metavar="RELEASES",
                         help="FHIR releases to write, comma-separated: R4, R5, both (default R4,R5) or none")
    convert.add_argument("--dataset-json", type=_dataset_json_formats, nargs="?", const=("json", "ndjson"), default=(),
                         metavar="FORMATS",
                         help="also write CDISC Dataset-JSON v1.1 beside the XPT files: json, ndjson or json,ndjson "
                              "(the default when the option is given without a value)")
    convert.add_argument("--spec", type=Path, default=None, metavar="SPEC",
                         help="the study mapping specification: a folder of CSV tables or an .xlsx workbook "
                              "(default: INPUT/spec/ or INPUT/spec.xlsx)")
    convert.add_argument("--bundle-entries", type=_positive_int, default=None, metavar="N",
                         help="at most N entries per FHIR Bundle (default 50: Medplum's limit of updates per transaction)")
    convert.add_argument("--bundle-type", choices=("transaction", "batch"), default="transaction",
                         help="FHIR Bundle type: transaction (all or nothing per Bundle; default) or batch")
    convert.add_argument("--fhir-workers", type=_positive_int, default=None, metavar="N",
                         help="processes that build and check the FHIR resources (default: the CPUs, at most 8); "
                              "fewer hold less memory, the files are the same")
    convert.add_argument("--created", type=_timestamp, default=None, metavar="ISO-DATETIME",
                         help="creation timestamp stamped into every output (default: the registry record's last update)")
    convert.add_argument("--ascii-placeholder", action="store_true",
                         help="in XPT values, replace characters with no ASCII form (emoji, CJK, control characters) "
                              "by [U+XXXX] (each reported) instead of stopping the package; see README")

    registry = commands.add_parser(
        "registry", parents=[report], help="registry records -> trial design datasets, FHIR study, PRS XML",
        description="Convert ClinicalTrials.gov records (API v2 JSON studies or search pages, classic v1 JSON, legacy "
                    "<clinical_study> XML; files or folders) without subject data: each study gets its own folder in "
                    "--out (named by NCT number) with SDTM TS, TA, TE, TI (XPT + define.xml), the FHIR ResearchStudy "
                    "bundle and, with --prs, the PRS protocol record XML. One bad record does not stop the others.")
    registry.add_argument("records", type=Path, nargs="+", metavar="RECORD", help="registry record files or folders")
    registry.add_argument("--out", type=Path, required=True, metavar="DIR",
                          help="output folder: new, empty, or an earlier trialbridge output (with --force); never an input")
    registry.add_argument("--fhir", type=_releases, default=("R4", "R5"), metavar="RELEASES",
                          help="FHIR releases to write, comma-separated: R4, R5, both (default R4,R5) or none")
    registry.add_argument("--prs", action="store_true", help="also write the ClinicalTrials.gov PRS protocol record XML")
    registry.add_argument("--created", type=_timestamp, default=None, metavar="ISO-DATETIME",
                          help="creation timestamp of every output (default: each record's last update)")
    registry.add_argument("--force", action="store_true", help="replace an earlier trialbridge output in --out")
    registry.add_argument("--no-ascii-placeholder", dest="ascii_placeholder", action="store_false",
                          help="stop a study's SDTM package on a character with no ASCII form instead of writing [U+XXXX]")

    validate = commands.add_parser("validate", parents=[report], help="check a native folder or an output",
                                   description="Check PATH without writing anything: a native record folder, an SDTM package folder "
                                               "(XPT files, with its define.xml if present) or a convert output folder, or a define.xml file.")
    validate.add_argument("path", type=Path, metavar="PATH")
    validate.add_argument("--report", type=Path, default=None, metavar="DIR",
                          help="write report.json, report.html and report.xlsx into DIR: new, empty, or an earlier "
                               "report (with --force)")
    validate.add_argument("--force", action="store_true", help="replace the earlier report in --report DIR")
    validate.add_argument("--sdtmig", choices=("3.2", "3.3", "3.4"), default=None,
                          help="SDTMIG version to check against when the package does not say (see README for "
                               "the versions this installation has metadata for)")
    validate.add_argument("--ct", default=None, metavar="DATE",
                          help="CDISC CT version (YYYY-MM-DD) when the package does not say")
    validate.add_argument("--fhir-release", choices=("R4", "R5"), default=None,
                          help="FHIR release of a bundle or NDJSON (default: detected)")

    read = commands.add_parser("read", parents=[report], help="read an EDC export into raw datasets (CSV)",
                               description="Read an EDC export (CDISC ODM 1.3 XML from REDCap, OpenClinica, ...; or a REDCap "
                                           "CSV export with its data dictionary) and write each raw dataset as CSV with "
                                           "counts.json (values read = values written, per form) into --out.")
    read.add_argument("source", type=Path, metavar="RAW_FILE")
    read.add_argument("--dictionary", type=Path, default=None, metavar="CSV",
                      help="REDCap data dictionary of a CSV export (default: the one dictionary CSV beside it)")
    read.add_argument("--out", type=Path, required=True, metavar="DIR",
                      help="output folder: new, empty, or an earlier trialbridge output (with --force)")
    read.add_argument("--force", action="store_true",
                      help="replace an earlier trialbridge output in --out (only files its manifest lists)")

    upload = commands.add_parser("upload", parents=[report], help="post a convert output's FHIR Bundles to a FHIR server",
                                 description="Post the FHIR Bundles of OUT_DIR (fhir/<release>/bundles.ndjson, one Bundle per line) "
                                             "to the FHIR server at --server, in order, with retries; stop at the first refusal. "
                                             "Idempotent: every resource is PUT at its stable id.")
    upload.add_argument("out_dir", type=Path, metavar="OUT_DIR", help="a convert output folder (or its fhir/<release> folder)")
    upload.add_argument("--server", required=True, metavar="URL", help="the server's FHIR base URL, e.g. http://localhost:8080/fhir")
    upload.add_argument("--release", choices=("R4", "R5"), default=None,
                        help="the release to post (default: the server's, from GET [base]/metadata)")
    upload.add_argument("--retries", type=_non_negative_int, default=5, metavar="N",
                        help="retries of a Bundle on a connection error, 429 or 5xx, with doubling back-off (default 5)")
    upload.add_argument("--timeout", type=_positive_int, default=300, metavar="SECONDS", help="per request (default 300)")
    spec = commands.add_parser("spec", help="write a starting study mapping spec, or check one",
                               description="Help with a study mapping specification: `spec init` writes a starting spec from raw "
                                           "extracts, `spec check` reports every problem of a spec (and its raw data) at once.")
    spec_commands = spec.add_subparsers(dest="spec_command", metavar="SPEC_COMMAND", parser_class=_Parser)
    spec_check = spec_commands.add_parser("check", parents=[report], help="report every problem of a spec at once",
                                          description="Check SPEC (a folder of CSV tables, an .xlsx workbook or sdtm.oak's spec CSVs) "
                                                      "and, with RAW_DIR (default: the folder holding SPEC as spec/ or spec.xlsx), "
                                                      "the raw datasets against it. Writes nothing; exit 2 when an error is found.")
    spec_check.add_argument("spec", type=Path, metavar="SPEC")
    spec_check.add_argument("raw", type=Path, nargs="?", default=None, metavar="RAW_DIR")
    spec_init = spec_commands.add_parser("init", parents=[report], help="write a starting spec from raw extracts",
                                         description="Write a starting spec (CSV tables) for the raw datasets of RAW_DIR into --out.")
    spec_init.add_argument("raw", type=Path, metavar="RAW_DIR")
    spec_init.add_argument("--out", type=Path, required=True, metavar="SPEC",
                           help="output folder: new, empty, or an earlier trialbridge output (with --force)")
    spec_init.add_argument("--force", action="store_true", help="replace an earlier output in --out")

    synth = commands.add_parser("synth", help="generate a synthetic REVALLO-like native record folder",
                                description="Write N synthetic subjects that follow the REVALLO protocol rules; deterministic for a seed.")
    synth.add_argument("--subjects", type=_whole_number(1, 999_999), required=True, metavar="N")  # SUBJID: 3 to 6 digits
    synth.add_argument("--seed", type=_non_negative_int, required=True, metavar="S")
    synth.add_argument("--out", type=Path, required=True, metavar="DIR",
                       help="output folder: new, empty, or an earlier trialbridge output (with --force)")
    synth.add_argument("--force", action="store_true",
                       help="replace an earlier trialbridge output in --out (only files its manifest lists)")
    return parser
