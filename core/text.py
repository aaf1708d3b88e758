"""Data is text: the one function that makes a user-supplied string safe to show.

Names, messages, tags, params, column names, cell values, log lines and the error texts
that quote them come from files and teammates we do not trust. Written to a terminal as
they are, an escape sequence in a CSV header retitles the window or clears the screen,
and a right-to-left override makes a name read as another. :func:`visible` replaces every
such character with a printable stand-in; every face (the TUI's widgets, the command
line's echo and tables) passes data through it before showing it. Machine output
(``--json``) is never passed through it: it must stay exact, and JSON escapes control
characters itself.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["visible", "visible_tree"]

# C0 controls, DEL and C1 controls; then the invisible or reordering format characters:
# Arabic letter mark, Mongolian vowel separator, zero-width space/non-joiner/joiner,
# LRM/RLM, line and paragraph separators, the bidi embeddings, overrides and isolates,
# word joiner and invisible operators, deprecated format controls, BOM/ZWNBSP,
# interlinear annotations, the Unicode tag characters ("ASCII smuggling"), and lone
# surrogates (a decoder's surrogateescape output, which cannot be encoded to a terminal).
_HIDDEN = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2064"
    "\u2066-\u206f\ufeff\ufff9-\ufffb\U000e0000-\U000e007f\ud800-\udfff]"
)


def _stand_in(char: str) -> str:
    code = ord(char)
    if code < 0x20:
        return chr(0x2400 + code)  # the Control Pictures block: ESC shows as ␛, LF as ␊
    if code == 0x7F:
        return "\u2421"  # ␡
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def visible(text: str, *, keep: str = "") -> str:
    """``text`` with every control or invisible formatting character made visible.

    C0 controls show as their Control Pictures symbol (ESC as ``␛``, newline as ``␊``),
    DEL as ``␡``; C1 controls, bidi overrides and isolates, zero-width and other invisible
    format characters as a Python-style escape (``\\x9b``, ``\\u202e``). Characters in
    ``keep`` (for example ``"\\n"`` for a multi-line text, ``"\\t"`` for a log line) are
    left alone; only C0 characters may be kept. The result is never parsed as anything by
    this function: callers that render markup must still insert it as plain text.
    """
    if not _HIDDEN.search(text):
        return text  # the common case, without building a new string
    if keep:
        return _HIDDEN.sub(lambda m: m[0] if m[0] in keep else _stand_in(m[0]), text)
    return _HIDDEN.sub(lambda m: _stand_in(m[0]), text)


def visible_tree(value: Any) -> Any:
    """``value`` with :func:`visible` applied to every string in it, keys included.

    For a record read from the store (a report, a profile) that a face turns into text
    in many places: cleaning it once on the way in leaves no piece to forget.
    """
    if isinstance(value, str):
        return visible(value)
    if isinstance(value, dict):
        return {visible_tree(k): visible_tree(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(visible_tree(item) for item in value)
    return value
