"""One parameter of the launch form: its name, its editor and its type (or what is wrong
with the value), and the rules of a field, which need no widget.

A choice or a boolean is a select (with an extra "all of them" entry that sweeps over
every value), a number or a string is an input checked as you type by the same
``core.projects.coerce_param`` the core applies; a comma-separated list is a sweep.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import prod
from typing import cast

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Input, Label, Select, Static

from dockyard.core.errors import InputError
from dockyard.core.projects import ParamSpec, coerce_param
from dockyard.core.text import visible
from dockyard.tui.text import data_text, plain


def split_values(text: str) -> list[str]:
    """The values of a field: one, or a comma-separated list (a sweep); [] if empty."""
    if not text.strip():
        return []
    return [value.strip() for value in text.split(",")]


def check_values(spec: ParamSpec, text: str) -> tuple[list[str], str | None]:
    """(values, problem): each value checked against ``spec``; an empty field keeps the
    default (or the cloned run's value), except for a string, where it means ""."""
    values = split_values(text)
    if not values:
        return ([""] if spec.type == "str" else []), None
    for value in values:
        if value == "" and spec.type != "str":
            return values, "an empty value in the list"
        try:
            coerce_param(spec, value)
        except InputError as error:
            return values, str(error).removeprefix(f"parameter {spec.name}: ")
    return values, None


def describe_spec(spec: ParamSpec) -> str:
    """The type and range of a parameter in a few characters: ``float 0.001..1000``."""
    kind = {"str": "text"}.get(spec.type, spec.type)
    bounds = spec.range_text()
    return f"{kind} {bounds}" if bounds else kind


def as_text(value: object) -> str:
    """A default or a cloned run's value as the field shows it (booleans as true/false)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def runs_count(counts: Sequence[int]) -> int:
    """How many runs a grid of fields makes: the product of each field's value count."""
    return prod(max(1, count) for count in counts)


class ParamRow(Horizontal):
    """One parameter: its name, its editor and its type (or what is wrong with the value)."""

    def __init__(self, spec: ParamSpec, value: str, index: int) -> None:
        super().__init__(classes="param-row", id=f"param-row-{index}")
        self.spec = spec
        self.initial = value
        self.index = index
        self.problem: str | None = None
        self.count = 1

    def compose(self) -> ComposeResult:
        yield Label(plain(self.spec.name), classes="param-name")
        yield self._editor()
        yield Static(plain(describe_spec(self.spec)), classes="param-hint")

    def _editor(self) -> Widget:
        spec = self.spec
        editor_id = f"param-{self.index}"
        if spec.type in ("choice", "bool"):
            values = (
                [as_text(choice) for choice in spec.choices]
                if spec.type == "choice"
                else ["true", "false"]
            )
            options: list[tuple[Text, str]] = [(data_text(value), value) for value in values]
            sweep = "both (sweep)" if spec.type == "bool" else f"all {len(values)} (sweep)"
            options.append((Text(sweep), ",".join(values)))
            initial = self.initial
            if initial not in {value for _label, value in options}:
                # "False" from a cloned run's record, or a choice no longer offered
                try:
                    initial = as_text(coerce_param(spec, initial))
                except InputError:
                    initial = as_text(spec.default)
            return Select(options, value=initial, allow_blank=False, compact=True, id=editor_id)
        # An empty field keeps the default: the placeholder says so, so it never looks set.
        # A cloned value is data: shown (and so queued) with its control characters visible.
        return Input(
            visible(self.initial),
            placeholder=visible(f"default {as_text(spec.default)}"),
            compact=True,
            id=editor_id,
        )

    @property
    def editor(self) -> Input | Select[str]:
        return cast("Input | Select[str]", self.query_one(f"#param-{self.index}"))

    @property
    def text(self) -> str:
        editor = self.editor
        if isinstance(editor, Input):
            return editor.value
        value = editor.value
        return value if isinstance(value, str) else ""

    def check(self) -> str | None:
        """Check the value now; show the problem (or the type) beside it."""
        values, self.problem = check_values(self.spec, self.text)
        self.count = max(1, len(values))
        hint = self.query_one(".param-hint", Static)
        if self.problem:
            hint.update(plain(f"✗ {self.problem}"))
        elif self.count > 1:
            hint.update(plain(f"sweep of {self.count}"))
        else:
            hint.update(plain(describe_spec(self.spec)))
        self.set_class(self.problem is not None, "-invalid")
        return self.problem

    def argument(self) -> str | None:
        """``name=value`` for ``queue_runs``, or None to keep the default (empty field)."""
        values = split_values(self.text)
        if not values and self.spec.type != "str":
            return None
        return f"{self.spec.name}={','.join(values)}"
