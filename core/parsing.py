"""Numbers typed by users (ids, counts, versions, parameters), refused early and in one line.

Every integer that reaches the store must fit SQLite's signed 64-bit INTEGER, or the
driver fails deep inside a query with an OverflowError; every float a training script
receives must be finite, or the failure surfaces later inside scikit-learn. Both faces
(the command line's click types, the TUI's forms) and the core parsers call these.
"""

from __future__ import annotations

import math
from typing import Any

from dockyard.core.errors import InputError

#: The largest value of SQLite's (and PostgreSQL's BIGINT) signed 64-bit integer.
INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)

# Longer digit strings are out of range anyway; never hand int() thousands of digits.
_MAX_DIGITS = len(str(INT64_MAX))


def shown(value: object, limit: int = 40) -> str:
    """``value`` as a short repr for an error line (a pasted megabyte stays one short line)."""
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse_int(value: str | int, minimum: int = INT64_MIN, maximum: int = INT64_MAX) -> int:
    """``value`` as an int in ``minimum..maximum`` (by default the signed 64-bit range).

    Accepts an int or a decimal string of ASCII digits with an optional sign (``str.isdigit``
    also accepts ``²`` and other digits ``int()`` refuses). Raises :class:`InputError`
    saying what is wrong; the caller prefixes the thing being parsed.
    """
    if isinstance(value, bool):
        raise InputError(f"{shown(value)} is not an integer")
    if isinstance(value, int):
        number = value
    else:
        text = str(value).strip()
        digits = text[1:] if text[:1] in "+-" else text
        if not (digits.isascii() and digits.isdigit()):
            raise InputError(f"{shown(value)} is not an integer")
        if len(digits.lstrip("0")) > _MAX_DIGITS:
            raise InputError(f"{shown(value)} is out of range ({minimum} to {maximum})")
        number = int(text)
    if not minimum <= number <= maximum:
        raise InputError(f"{shown(value)} is out of range ({minimum} to {maximum})")
    return number


def parse_float(value: Any) -> float:
    """``value`` (a number or a string) as a finite float.

    ``nan``, ``inf`` and numbers too large for a float (``1e999``) are refused: a NaN
    passes every ``min``/``max`` comparison and either breaks the estimator later.
    """
    if isinstance(value, bool):
        raise InputError(f"{shown(value)} is not a number")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"{shown(value)} is not a number") from None
    if not math.isfinite(number):
        raise InputError(f"{shown(value)} is not a finite number (NaN and infinity are refused)")
    return number


def parse_version(selector: str, ref: str) -> int | None:
    """The version number a ``NAME@VERSION`` selector names, None when it is not a number.

    Anything but ASCII digits (``latest``, an alias) is None for the caller to interpret;
    a number outside ``1..INT64_MAX`` is refused, naming ``ref``.
    """
    if not (selector.isascii() and selector.isdigit()):
        return None
    try:
        return parse_int(selector, 1, INT64_MAX)
    except InputError:
        raise InputError(
            f"{shown(selector)} in {shown(ref, 60)} is not a version; versions are numbered "
            f"1 to {INT64_MAX}"
        ) from None
