"""Row conditions of a mapping step, as a data manager writes them -> boolean masks over whole columns.

The language (case-insensitive keywords, column names as in the spec, text in single quotes):

    ONGOING = 'Y'                         REASON in ('DEATH', 'WITHDRAWAL')
    DEATHDATE is present                  LB.LBSTRESN is empty
    DOS is numeric                        CMMODIFY != CM.CMTRT
    PRIOR is checked                      ONGOING is not checked
    exists EX                             (LOW is present or HIGH is present) and not LB.LBSTRESN is present

`is checked` holds where a check box holds a ticked value (1, Y, YES, TRUE, CHECKED or X, any case).
`exists DOMAIN` holds where the row's subject (USUBJID) has a record in that SDTM domain. `and` binds
tighter than `or`; `not` negates what follows; parentheses group. A condition is parsed once into a small
tree and evaluated on whole columns: no per-row Python.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Union

import numpy as np
import pandas as pd

_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<op>!=|<=|>=|=|<|>)|(?P<punct>[(),])|(?P<word>[A-Za-z_][A-Za-z0-9_.]*|-?\d+(?:\.\d+)?))")
CHECKED = ("1", "Y", "YES", "TRUE", "CHECKED", "X")  # what EDC exports write for a ticked check box
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


class ConditionError(ValueError):
    """A condition that does not follow the language: the message says where and what was expected."""


@dataclass(frozen=True)
class Test:
    kind: str  # "present" "empty" "numeric" "checked" "eq" "ne" "in" "lt" "le" "gt" "ge" "exists"
    left: str
    right: tuple[str, ...] = ()
    right_is_column: bool = False


@dataclass(frozen=True)
class Not:
    inner: "Node"


@dataclass(frozen=True)
class Both:
    kind: str  # "and" | "or"
    parts: tuple["Node", ...]


Node = Union[Test, Not, Both]
Resolve = Callable[[str], pd.Series]  # a column name -> its values on the rows
Exists = Callable[[str], pd.Series]  # a domain name -> has the row's subject a record there


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise ConditionError(f"unexpected {text[pos:].strip()[:20]!r} at character {pos + 1}")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.pos = 0

    def peek(self, offset: int = 0) -> tuple[str, str]:
        index = self.pos + offset
        return self.tokens[index] if index < len(self.tokens) else ("end", "")

    def word(self, *words: str) -> bool:
        kind, value = self.peek()
        return kind == "word" and value.lower() in words

    def take(self) -> tuple[str, str]:
        token = self.peek()
        self.pos += 1
        return token

    def expect(self, what: str, ok: bool) -> None:
        if not ok:
            found = self.peek()[1] or "the end"
            raise ConditionError(f"expected {what}, found {found!r} in {self.text!r}")

    def parse(self) -> Node:
        node = self.or_expr()
        self.expect("and, or or the end", self.peek()[0] == "end")
        return node

    def or_expr(self) -> Node:
        parts = [self.and_expr()]
        while self.word("or"):
            self.take()
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else Both("or", tuple(parts))

    def and_expr(self) -> Node:
        parts = [self.not_expr()]
        while self.word("and"):
            self.take()
            parts.append(self.not_expr())
        return parts[0] if len(parts) == 1 else Both("and", tuple(parts))

    def not_expr(self) -> Node:
        if self.word("not"):
            self.take()
            return Not(self.not_expr())
        return self.atom()

    def atom(self) -> Node:
        kind, value = self.peek()
        if kind == "punct" and value == "(":
            self.take()
            node = self.or_expr()
            self.expect("')'", self.peek() == ("punct", ")"))
            self.take()
            return node
        if self.word("exists"):
            self.take()
            self.expect("a domain name after 'exists'", self.peek()[0] == "word")
            return Test("exists", self.take()[1].upper())
        self.expect("a column name", kind == "word")
        left = self.take()[1]
        if self.word("is"):
            self.take()
            negate = self.word("not")
            if negate:
                self.take()
            self.expect("present, empty, numeric or checked after 'is'",
                        self.word("present", "empty", "numeric", "checked"))
            test = Test(self.take()[1].lower(), left)
            return Not(test) if negate else test
        if self.word("in"):
            self.take()
            return Test("in", left, self.value_list())
        kind, op = self.peek()
        self.expect("=, !=, <, <=, >, >=, in or is after a column name", kind == "op")
        self.take()
        kind, value = self.take()
        self.expect("a quoted text, a number or a column name", kind in ("str", "word"))
        names = {"=": "eq", "!=": "ne", "<": "lt", "<=": "le", ">": "gt", ">=": "ge"}
        if kind == "str":
            return Test(names[op], left, (value[1:-1].replace("''", "'"),))
        is_column = not _NUMBER.match(value)
        return Test(names[op], left, (value,), right_is_column=is_column)

    def value_list(self) -> tuple[str, ...]:
        self.expect("'(' after 'in'", self.peek() == ("punct", "("))
        self.take()
        values = []
        while True:
            kind, value = self.take()
            self.expect("a quoted text in the list", kind in ("str", "word"))
            values.append(value[1:-1].replace("''", "'") if kind == "str" else value)
            kind, value = self.take()
            if value == ")":
                return tuple(values)
            if value != ",":
                self.pos -= 1
                self.expect("',' or ')' in the list", False)


def parse_condition(text: str) -> Node:
    """The condition as a tree; ConditionError when it does not follow the language."""
    return _Parser(text).parse()


def columns_named(node: Node) -> list[str]:
    """Every column name a condition reads (for the spec check)."""
    if isinstance(node, Test):
        names = [] if node.kind == "exists" else [node.left]
        return names + (list(node.right) if node.right_is_column else [])
    if isinstance(node, Not):
        return columns_named(node.inner)
    return [name for part in node.parts for name in columns_named(part)]


def _text(values: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(values):
        return values.map(lambda v: "" if pd.isna(v) else format(v, "g")).astype(object)
    return values.astype(object).where(values.notna(), "").astype(str)


def _number(values: pd.Series) -> pd.Series:
    return pd.to_numeric(_text(values).str.strip().replace("", np.nan), errors="coerce")


def evaluate(node: Node, resolve: Resolve, exists: Exists, index: pd.Index) -> pd.Series:
    """The rows where the condition holds, as a boolean Series on `index`."""
    if isinstance(node, Not):
        return ~evaluate(node.inner, resolve, exists, index)
    if isinstance(node, Both):
        masks = [evaluate(part, resolve, exists, index) for part in node.parts]
        out = masks[0]
        for mask in masks[1:]:
            out = (out & mask) if node.kind == "and" else (out | mask)
        return out
    if node.kind == "exists":
        return exists(node.left).astype(bool)
    left = resolve(node.left)
    text = _text(left)
    if node.kind == "present":
        return text.str.strip() != ""
    if node.kind == "empty":
        return text.str.strip() == ""
    if node.kind == "numeric":
        return _number(left).notna()
    if node.kind == "checked":
        return text.str.strip().str.upper().isin(CHECKED)
    if node.kind == "in":
        return text.isin(list(node.right))
    right = _text(resolve(node.right[0])) if node.right_is_column else pd.Series(node.right[0], index=index)
    if node.kind in ("eq", "ne"):
        equal = text == right
        return equal if node.kind == "eq" else ~equal
    a, b = _number(text), _number(right)
    both = a.notna() & b.notna()
    compare = {"lt": a < b, "le": a <= b, "gt": a > b, "ge": a >= b}[node.kind]
    text_compare = {"lt": text < right, "le": text <= right, "gt": text > right, "ge": text >= right}[node.kind]
    neither = a.isna() & b.isna()
    return (compare & both) | (text_compare & neither & (text != "") & (right != ""))
