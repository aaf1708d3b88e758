"""Numbers users type, refused early: the core parsers every face shares."""

from __future__ import annotations

import pytest

from dockyard.core.datasets import parse_ref as dataset_ref
from dockyard.core.errors import InputError, NotFoundError
from dockyard.core.parsing import INT64_MAX, parse_float, parse_int, parse_version
from dockyard.core.registry import parse_ref as model_ref
from dockyard.core.runs import get_run, list_runs
from dockyard.core.workspace import Workspace


@pytest.mark.parametrize(
    ("text", "expected"), [("0", 0), ("+7", 7), (" 12 ", 12), (str(INT64_MAX), INT64_MAX)]
)
def test_parse_int_accepts_plain_decimal(text: str, expected: int) -> None:
    assert parse_int(text, 0) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (str(INT64_MAX + 1), "out of range"),
        ("9" * 5000, "out of range"),  # never handed to int(): no ValueError past 4300 digits
        ("-1", "out of range"),
        ("\u00b2", "not an integer"),  # str.isdigit() says yes, int() says no
        ("1_000", "not an integer"),
        ("1.0", "not an integer"),
        ("", "not an integer"),
    ],
)
def test_parse_int_refuses(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as err:
        parse_int(text, 0)
    assert len(str(err.value)) < 120  # a pasted megabyte stays a short line


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-Infinity", "1e400", float("nan")])
def test_parse_float_refuses_what_is_not_finite(value: object) -> None:
    with pytest.raises(InputError, match="not a finite number"):
        parse_float(value)


def test_versions_are_bounded_in_both_reference_parsers() -> None:
    assert parse_version("3", "m@3") == 3 and parse_version("champion", "m@champion") is None
    assert dataset_ref("iris@v2").version == 2
    for parse in (dataset_ref, model_ref):
        with pytest.raises(InputError, match="is not a version"):
            parse(f"x@{INT64_MAX + 1}")
        with pytest.raises(InputError, match="is not a version"):
            parse("x@0")


def test_core_refuses_what_the_command_line_would(workspace: Workspace) -> None:
    with pytest.raises(InputError, match="'bogus' is not a run status"):
        list_runs(workspace, status="bogus")
    with pytest.raises(InputError, match="out of range"):
        list_runs(workspace, limit=-5)  # SQLite reads a negative LIMIT as "no limit"
    with pytest.raises(NotFoundError, match="no run with id"):
        get_run(workspace, INT64_MAX + 1)


def test_the_status_choices_are_the_statuses_runs_take() -> None:
    from dockyard.core.runs import ACTIVE, FINAL
    from dockyard.store.schema import RUN_STATUSES

    assert sorted(RUN_STATUSES) == sorted(ACTIVE + FINAL)
