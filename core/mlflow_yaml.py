"""The YAML MLflow writes (``meta.yaml``, ``MLmodel``), read without a YAML library.

MLflow writes these files with PyYAML's ``safe_dump``: block mappings of scalars and of
further mappings, ``[]``/``{}`` for empty collections, short block lists, and strings
plain, single- or double-quoted, folded onto indented lines past 80 columns. This reader
takes exactly that subset; anything else raises ``ValueError``, which the importer reports
as a malformed file. Dockyard does not depend on PyYAML for two files of one format.
"""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

_KEY_RE = re.compile(r"^(?P<key>[^\s:'\"#][^:#]*?|'[^']*'|\"[^\"]*\"):(?:\s+(?P<rest>.*))?$")
_INT_RE = re.compile(r"^[-+]?\d+$")
_FLOAT_RE = re.compile(r"^[-+]?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?$")


def loads(text: str) -> dict[str, Any]:
    """The mapping ``text`` holds (a ``meta.yaml`` or ``MLmodel``)."""
    lines = [line.rstrip() for line in text.splitlines()]
    lines = [line for line in lines if not line.lstrip().startswith("#")]
    while lines and not lines[-1]:
        lines.pop()
    while lines and not lines[0]:
        lines.pop(0)
    value, end = _block(lines, 0, 0)
    if end != len(lines):
        raise ValueError(f"unexpected indentation at line {end + 1!r}: {lines[end]!r}")
    if not isinstance(value, dict):
        raise ValueError("the file is not a mapping")
    return value


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _block(lines: list[str], start: int, indent: int) -> tuple[Any, int]:
    """The mapping or list starting at ``lines[start]`` (indented by ``indent``)."""
    if (start < len(lines) and lines[start].lstrip().startswith("- ")) or (
        start < len(lines) and lines[start].strip() == "-"
    ):
        return _sequence(lines, start, indent)
    result: dict[str, Any] = {}
    i = start
    while i < len(lines) and _indent(lines[i]) == indent:
        match = _KEY_RE.match(lines[i].strip())
        if match is None:
            raise ValueError(f"not a 'key: value' line: {lines[i].strip()!r}")
        key = _scalar(match["key"])
        rest = match["rest"]
        i += 1
        if rest is None or rest == "":
            # a nested block, or a list at the same indentation (PyYAML's default style)
            if i < len(lines) and (
                _indent(lines[i]) > indent
                or (_indent(lines[i]) == indent and lines[i].lstrip().startswith("- "))
            ):
                value, i = _block(lines, i, _indent(lines[i]))
            else:
                value = None
        else:
            # a scalar folded onto more-indented lines continues there
            parts = [rest]
            while i < len(lines) and (not lines[i] or _indent(lines[i]) > indent):
                parts.append(lines[i].strip())
                i += 1
            value = _scalar(_fold(parts))
        result[str(key)] = value
    return result, i


def _fold(parts: list[str]) -> str:
    """Lines of a folded scalar joined as YAML does: a space, or a newline per empty line."""
    text = parts[0]
    for previous, part in itertools.pairwise(parts):
        if not part:
            text += "\n"
        else:
            text += part if not previous else " " + part
    return text


def _sequence(lines: list[str], start: int, indent: int) -> tuple[list[Any], int]:
    items: list[Any] = []
    i = start
    while i < len(lines) and _indent(lines[i]) == indent and lines[i].lstrip().startswith("-"):
        body = lines[i].strip()[1:].strip()
        i += 1
        if _KEY_RE.match(body):  # "- key: value" starts a mapping item
            inner = " " * (indent + 2) + body
            block_lines = [inner]
            while i < len(lines) and _indent(lines[i]) > indent:
                block_lines.append(lines[i])
                i += 1
            value, _ = _block(block_lines, 0, indent + 2)
            items.append(value)
            continue
        parts = [body]
        while i < len(lines) and _indent(lines[i]) > indent:
            parts.append(lines[i].strip())
            i += 1
        items.append(_scalar(" ".join(parts)))
    return items, i


def _scalar(text: str) -> Any:
    text = text.strip()
    if text.startswith("'"):
        if not text.endswith("'") or len(text) < 2:
            raise ValueError(f"unterminated quoted string: {text[:40]!r}")
        return text[1:-1].replace("''", "'")
    if text.startswith('"'):
        return json.loads(text)  # PyYAML's double-quoted escapes are JSON's for its output
    if text in ("", "null", "~", "Null", "NULL"):
        return None
    if text in ("[]",):
        return []
    if text in ("{}",):
        return {}
    if text in ("true", "True"):
        return True
    if text in ("false", "False"):
        return False
    if _INT_RE.match(text):
        return int(text)
    if _FLOAT_RE.match(text):
        return float(text)
    return text
