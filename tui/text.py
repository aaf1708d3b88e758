"""Data on screen: every user-supplied string reaches a widget through these helpers.

Textual parses a ``str`` given to ``Static``, ``Label``, a border title, a notification or
a ``DataTable`` cell as markup, so a column named ``[/x]`` raises ``MarkupError`` and one
named ``[link=…]x[/link]`` becomes a link. ``textual.markup.escape`` does not close the
hole (it misses ``[$var]``, ``[B]`` and a trailing backslash), so data never goes into a
markup string here: it becomes :class:`~textual.content.Content` or Rich
:class:`~rich.text.Text` (neither is parsed), after :func:`core.text.visible` has made
its control characters visible. Our own styling is written as a markup template whose
``$name`` variables are filled with data, which Textual inserts literally.
"""

from __future__ import annotations

from rich.text import Text
from textual.content import Content

from dockyard.core.text import visible

__all__ = ["data_text", "markup", "plain", "visible"]


def plain(value: object, style: str = "", *, keep: str = "") -> Content:
    """``value`` as Content shown literally (for Static, Label, border titles, options)."""
    text = visible(str(value), keep=keep)
    return Content.styled(text, style) if style else Content(text)


def markup(template: str, **values: object) -> Content:
    """Our markup ``template`` with each ``$name`` filled by data, literally.

    ``markup("[b]Run $id[/b] · $project", id=3, project=name)``: the template is ours and
    may style; the values are data and are never parsed.
    """
    return Content.from_markup(template, **{k: visible(str(v)) for k, v in values.items()})


def data_text(value: object, style: str = "", *, no_wrap: bool = True, keep: str = "") -> Text:
    """``value`` as a Rich Text, for DataTable cells and plots (never parsed as markup)."""
    return Text(visible(str(value), keep=keep), style=style, no_wrap=no_wrap, end="")
