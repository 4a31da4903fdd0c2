"""ASCII transliteration policy for XPT character values: a text -> its ASCII form, or the characters with none.

SAS transport v5 files carry no encoding, and FDA expects plain ASCII in them, so every character
value is made ASCII before writing, in three steps, and every changed value is reported by the writer:

1. An explicit table, applied first because Unicode decomposition would get these wrong or not touch
   them: micro sign and Greek mu -> `u`; superscript runs -> `^` + digits (`10⁹/L` -> `10^9/L`, where
   decomposition alone would give the false `109/L`); `ß` -> `ss`, `æ`/`Æ` -> `ae`/`AE`, `œ`/`Œ` ->
   `oe`/`OE`, `ø`/`Ø` -> `o`/`O`, `đ`, `ł` (and capitals) -> `d`, `l`; curly single quotes and primes -> `'`;
   curly double quotes and guillemets `« »` -> `"`; hyphens, en/em dashes and the minus sign -> `-`;
   `°` -> `deg`; `±` -> `+/-`; `×` -> `x`; `÷` -> `/`; `≤`/`≥`/`≠` -> `<=`/`>=`/`!=`; `•` and `·` -> `-` and `.`;
   `½`, `¼`, `¾` -> `1/2`, `1/4`, `3/4`; `€` -> `EUR`, `£` -> `GBP`; `©`/`®` -> `(C)`/`(R)`; tab,
   carriage return and line feed -> a space (a CR LF pair -> one space); soft hyphen, zero-width
   spaces and the byte-order mark -> nothing.
2. Unicode NFKD decomposition, then every combining mark dropped: `é` -> `e`, `ô` -> `o`, `ç` -> `c`;
   compatibility forms fold to their plain letters (`ﬁ` -> `fi`, `…` -> `...`, no-break and thin
   spaces -> a space, `™` -> `TM`, subscript digits -> digits). A character whose decomposition holds a
   negating overlay (`≮`, `∉`, `≢`: a stroke through a symbol) is kept whole, so it is refused in step 4
   rather than turned into its opposite (`≮` is not `<`).
3. Greek letters (after step 2, so accented Greek too) become their English names: `β` -> `beta`,
   `Δ` -> `DELTA` (a capital letter gives the name in capitals); the Greek mu stays `u` (step 1), as it is
   the micro prefix of units far more often than a letter.
4. Anything still outside printable ASCII (0x20-0x7E), including other control characters (NUL, ESC),
   emoji and CJK, is NOT replaced by `?`: the value is refused with the list of those characters, and
   the package is not written (`converters/sdtm_package.py`). Only when the user opts in
   (`convert --ascii-placeholder`) each such character becomes the placeholder `[U+XXXX]` (its code
   point: `🤒` -> `[U+1F912]`), reported as a warning with the original value.

A change made by step 2 alone (accents only) is reported as information; a change that needed step 1
is reported as a warning, since it replaces a symbol rather than dropping a mark.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import pandas as pd

_TABLE: dict[str, str] = {
    "\u00b5": "u", "\u03bc": "u",                      # micro sign, Greek mu
    "\u00df": "ss", "\u1e9e": "SS",
    "\u00e6": "ae", "\u00c6": "AE", "\u0153": "oe", "\u0152": "OE",
    "\u00f8": "o", "\u00d8": "O", "\u0111": "d", "\u0110": "D", "\u0142": "l", "\u0141": "L",
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u00b4": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"',
    "\u00ab": '"', "\u00bb": '"', "\u2039": "'", "\u203a": "'",
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-", "\u2212": "-",
    "\u00b0": "deg", "\u00b1": "+/-", "\u00d7": "x", "\u00f7": "/", "\u2264": "<=", "\u2265": ">=", "\u2260": "!=",
    "\u00bd": "1/2", "\u00bc": "1/4", "\u00be": "3/4", "\u2044": "/",
    "\u2022": "-", "\u00b7": ".", "\u20ac": "EUR", "\u00a3": "GBP", "\u00a9": "(C)", "\u00ae": "(R)",
    "\t": " ", "\n": " ", "\r": " ",
    "\u00ad": "", "\u200b": "", "\u200c": "", "\u200d": "", "\u2060": "", "\ufeff": "",
}
_GREEK_NAMES = ("alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda",
                "mu", "nu", "xi", "omicron", "pi", "rho", "sigma", "tau", "upsilon", "phi", "chi", "psi", "omega")
_GREEK_SMALL = "αβγδεζηθικλμνξοπρστυφχψω"
_GREEK_CAPITAL = "ΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩ"
_GREEK = str.maketrans({
    **dict(zip(_GREEK_SMALL, _GREEK_NAMES)), **{c: n.upper() for c, n in zip(_GREEK_CAPITAL, _GREEK_NAMES)},
    "ς": "sigma",  # final sigma
})
PLACEHOLDER = "[U+{code:04X}]"
_SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻", "0123456789+-")
_SUPERSCRIPT_RUN = re.compile("[⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻]+")
_CRLF = re.compile("\r\n")
_TRANSLATE = str.maketrans(_TABLE)
_NEGATION = re.compile("[\u0338\u20d2\u20e5]")  # combining overlays that negate (long solidus, vertical line)
NOT_PRINTABLE_ASCII = re.compile(r"[^\x20-\x7e]")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Transliteration:
    """The outcome for one distinct value."""

    original: str
    replacement: str       # the ASCII value (when `unmapped` is empty)
    unmapped: str          # characters with no ASCII form, as `U+00E9 'é'` items joined by ", "
    accents_only: bool     # step 2 alone produced the change
    placeholders: bool = False  # `unmapped` characters were replaced by PLACEHOLDER (the user opted in)


def _drop_marks(text: str, form: str = "NFKD") -> str:
    decomposed = unicodedata.normalize(form, text)
    if _NEGATION.search(decomposed):  # `≠` would lose its stroke and become `=`: keep such characters whole
        return "".join(ch if _NEGATION.search(unicodedata.normalize(form, ch)) else _drop_marks(ch, form)
                       for ch in text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def transliterate(text: str, placeholder: bool = False) -> Transliteration:
    """Apply the policy above to one value; with `placeholder`, step 4 replaces instead of refusing."""
    step1 = _SUPERSCRIPT_RUN.sub(lambda m: "^" + m.group().translate(_SUPERSCRIPTS), _CRLF.sub(" ", text))
    step1 = step1.translate(_TRANSLATE)
    result = _drop_marks(step1).translate(_GREEK)
    bad = sorted(set(NOT_PRINTABLE_ASCII.findall(result)))
    unmapped = ", ".join(f"U+{ord(ch):04X} {ch!r}" for ch in bad)
    accents_only = not bad and step1 == text and result == _drop_marks(text, "NFD")
    if bad and placeholder:
        result = NOT_PRINTABLE_ASCII.sub(lambda m: PLACEHOLDER.format(code=ord(m.group())), result)
        return Transliteration(text, result, unmapped, False, placeholders=True)
    return Transliteration(text, result, unmapped, accents_only)


def written_width(values: pd.Series) -> pd.Series:
    """The bytes each text value takes once made ASCII by the policy above (a character with no ASCII form
    counted as its placeholder, the widest it can become): `len` for plain ASCII values, the transliteration
    measured once per distinct other value. Long text is split by this width, not its character count."""
    width = values.str.len()
    odd = values.str.contains(NOT_PRINTABLE_ASCII.pattern, regex=True)
    if odd.any():
        distinct = pd.unique(values[odd])
        widths = {value: len(transliterate(value, placeholder=True).replacement) for value in distinct}
        width[odd] = values[odd].map(widths)
    return width
