"""dockyard.toml validation: every malformed file gets a message naming file, key, problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.core.errors import InputError, NotFoundError
from dockyard.core.projects import (
    ParamSpec,
    ProjectFileError,
    add_project,
    check_schedule,
    coerce_param,
    get_project,
    list_projects,
    parse_project_file,
)
from dockyard.core.workspace import init_workspace

GOOD = """
[project]
name = "iris"
description = "A classifier"
entry = "python train.py"

[[datasets]]
name = "iris"
path = "data.csv"
target = "target"

[params.model]
type = "choice"
choices = ["logreg", "forest"]
default = "logreg"

[params.C]
type = "float"
default = 1.0
min = 0.001
max = 100.0

[metrics]
primary = "accuracy"
direction = "maximize"

[[gates]]
metric = "accuracy"
min = 0.9

[[monitors]]
name = "drift"
kind = "drift"
schedule = "every 1h"
threshold = 0.2

[[monitors]]
name = "nightly-perf"
kind = "performance"
schedule = "0 3 * * *"
metric = "accuracy"
min = 0.8
"""


def write_project(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "data.csv").write_text("a,target\n1,0\n")
    file = folder / "dockyard.toml"
    file.write_text(text)
    return file


def test_a_good_file_parses(tmp_path: Path) -> None:
    spec = parse_project_file(write_project(tmp_path, GOOD))
    assert spec.name == "iris"
    assert [p.name for p in spec.params] == ["model", "C"]
    assert spec.primary_metric == "accuracy"
    assert spec.gates[0].min == 0.9
    assert [m.kind for m in spec.monitors] == ["drift", "performance"]


MALFORMED = [
    ("not toml", "[project\nname=", "not valid TOML"),
    ("no project table", "[metrics]\nprimary='a'\n", "project: missing"),
    ("missing name", GOOD.replace('name = "iris"\ndesc', "desc"), "project.name: missing"),
    (
        "bad name",
        GOOD.replace('name = "iris"\ndesc', 'name = "Iris Set!"\ndesc'),
        "not a valid name",
    ),
    ("missing entry", GOOD.replace('entry = "python train.py"', ""), "project.entry: missing"),
    (
        "entry wrong type",
        GOOD.replace('entry = "python train.py"', "entry = 3"),
        "project.entry: must be a string, not an integer",
    ),
    ("unknown top key", GOOD + "\n[extra]\na=1\n", ".extra: unknown key"),
    (
        "unknown param type",
        GOOD.replace('type = "float"', 'type = "decimal"'),
        "params.C.type: 'decimal' is not one of",
    ),
    ("param without default", GOOD.replace("default = 1.0\n", ""), "params.C.default: missing"),
    (
        "default out of range",
        GOOD.replace("default = 1.0", "default = 500.0"),
        "params.C.default: parameter C: 500.0 is above the maximum 100",
    ),
    (
        "default nan",
        GOOD.replace("default = 1.0", "default = nan"),
        "params.C.default: parameter C: nan is not a finite number",
    ),
    ("min nan", GOOD.replace("min = 0.001", "min = nan"), "params.C.min: nan is not a finite"),
    ("max inf", GOOD.replace("max = 100.0", "max = +inf"), "params.C.max: inf is not a finite"),
    (
        "int default inf",
        GOOD.replace('type = "float"\ndefault = 1.0', 'type = "int"\ndefault = -inf'),
        "params.C.default: parameter C: -inf is not an integer",
    ),
    (
        "float choice nan",
        GOOD.replace('choices = ["logreg", "forest"]', "choices = [0.5, nan]").replace(
            'default = "logreg"', "default = 0.5"
        ),
        "params.model.choices: nan is not a finite number",
    ),
    ("gate nan", GOOD.replace("min = 0.9", "min = nan"), "gates[0].min: nan is not a finite"),
    (
        "min above max",
        GOOD.replace("min = 0.001", "min = 1000.0"),
        "params.C: min (1000) is greater than max (100)",
    ),
    (
        "choice without choices",
        GOOD.replace('choices = ["logreg", "forest"]\n', ""),
        "params.model.choices: a choice parameter needs",
    ),
    (
        "default not a choice",
        GOOD.replace('default = "logreg"', 'default = "svm"'),
        "params.model.default: parameter model: 'svm' is not one of logreg, forest",
    ),
    (
        "bad direction",
        GOOD.replace('direction = "maximize"', 'direction = "up"'),
        "metrics.direction: 'up' is not maximize or minimize",
    ),
    (
        "gate without bounds",
        GOOD.replace('metric = "accuracy"\nmin = 0.9', 'metric = "accuracy"'),
        "gates[0]: a gate needs `min` or `max`",
    ),
    (
        "gate threshold a string",
        GOOD.replace("min = 0.9", 'min = "high"'),
        "gates[0].min: must be a number, not a string",
    ),
    (
        "unknown monitor kind",
        GOOD.replace('kind = "drift"', 'kind = "vibes"'),
        "monitors[0].kind: 'vibes' is not one of drift, quality, performance",
    ),
    (
        "bad schedule",
        GOOD.replace('schedule = "every 1h"', 'schedule = "hourly"'),
        "monitors[0].schedule: 'hourly' is neither",
    ),
    (
        "cron out of range",
        GOOD.replace('"0 3 * * *"', '"0 25 * * *"'),
        "monitors[1].schedule: '0 25 * * *': 25 is outside 0-23",
    ),
    (
        "performance without metric",
        GOOD.replace('metric = "accuracy"\nmin = 0.8', ""),
        "monitors[1]: a performance monitor needs",
    ),
    (
        "duplicate monitor",
        GOOD.replace('name = "nightly-perf"', 'name = "drift"'),
        "monitors: the name 'drift' is used twice",
    ),
    (
        "missing dataset file",
        GOOD.replace('path = "data.csv"', 'path = "nope.csv"'),
        "datasets[0].path: nope.csv does not exist",
    ),
    (
        "datasets not an array",
        GOOD.replace("[[datasets]]", "[datasets]"),
        "datasets: must be an array of tables",
    ),
]


@pytest.mark.parametrize(("case", "text", "message"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_files_are_named_with_key_and_problem(
    tmp_path: Path, case: str, text: str, message: str
) -> None:
    file = write_project(tmp_path, text)
    with pytest.raises(ProjectFileError) as err:
        parse_project_file(file)
    assert str(err.value).startswith(f"{file}: ")
    assert message in str(err.value), str(err.value)
    assert "\n" not in str(err.value)


def test_every_problem_is_reported_at_once_each_with_its_key(tmp_path: Path) -> None:
    text = (
        GOOD.replace('direction = "maximize"', 'direction = "up"')
        .replace('type = "float"', 'type = "decimal"')
        .replace('kind = "drift"', 'kind = "vibes"')
        .replace('schedule = "0 3 * * *"', 'schedule = "hourly"')
        .replace('target = "target"', 'target = "target"\ncolour = "red"')
        .replace('path = "data.csv"', 'path = "nope.csv"')
    )
    file = write_project(tmp_path, text)
    with pytest.raises(ProjectFileError) as err:
        parse_project_file(file)
    assert [key for key, _ in err.value.problems] == [
        "datasets[0].colour",
        "datasets[0].path",
        "params.C.type",
        "metrics.direction",
        "monitors[0].kind",
        "monitors[1].schedule",
    ]
    message = str(err.value)
    assert message.startswith(f"{file}: 6 problems: datasets[0].colour: unknown key")
    assert "; params.C.type: 'decimal' is not one of" in message
    assert "; monitors[1].schedule: 'hourly' is neither" in message
    assert "\n" not in message


def test_non_utf8_file(tmp_path: Path) -> None:
    file = write_project(tmp_path, "")
    file.write_bytes(b"\xff\xfe[project]")
    with pytest.raises(ProjectFileError, match="not UTF-8"):
        parse_project_file(file)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(ProjectFileError, match=r"dockyard\.toml: not found"):
        parse_project_file(tmp_path / "dockyard.toml")
    ws = init_workspace(tmp_path / "ws")
    with pytest.raises(NotFoundError, match="no such folder"):
        add_project(ws, tmp_path / "missing")


@pytest.mark.parametrize(
    ("kind", "raw", "expected"),
    [("int", "3", 3), ("float", "0.5", 0.5), ("bool", "yes", True), ("str", "x", "x")],
)
def test_coerce_param_from_command_line_strings(kind: str, raw: str, expected: object) -> None:
    assert coerce_param(ParamSpec(name="p", type=kind, default=None), raw) == expected


@pytest.mark.parametrize(
    ("spec", "raw", "message"),
    [
        (ParamSpec("n", "int", 1), "2.5", "is not an integer"),
        (ParamSpec("n", "int", 1, min=0), "-1", "below the minimum 0"),
        (ParamSpec("f", "float", 1.0), "abc", "is not a number"),
        (ParamSpec("b", "bool", True), "maybe", "is not a boolean"),
        (ParamSpec("f", "float", 1.0, min=0, max=10), "nan", "'nan' is not a finite number"),
        (ParamSpec("f", "float", 1.0), "NaN", "is not a finite number"),
        (ParamSpec("f", "float", 1.0), "-inf", "is not a finite number"),
        (ParamSpec("f", "float", 1.0), "1e999", "is not a finite number"),
        (ParamSpec("f", "float", 1.0), float("inf"), "inf is not a finite number"),
        (ParamSpec("n", "int", 1), "99999999999999999999", "is out of range"),
        (ParamSpec("n", "int", 1), float("nan"), "nan is not an integer"),
        (ParamSpec("n", "int", 1), "\u00b2", "is not an integer"),
    ],
)
def test_coerce_param_rejects_bad_values(spec: ParamSpec, raw: object, message: str) -> None:
    with pytest.raises(InputError, match=message):
        coerce_param(spec, raw)


def test_schedules() -> None:
    assert check_schedule("every 30m") == 1800
    assert check_schedule("*/5 * * * *") is None
    with pytest.raises(ValueError):
        check_schedule("every 0h")


def test_add_list_get_and_re_add(tmp_path: Path) -> None:
    ws = init_workspace(tmp_path / "ws")
    write_project(tmp_path / "iris", GOOD)
    info = add_project(ws, tmp_path / "iris")
    assert info.name == "iris" and info.spec.params[1].max == 100.0
    again = add_project(ws, tmp_path / "iris" / "dockyard.toml")
    assert again.id == info.id
    assert [p.name for p in list_projects(ws)] == ["iris"]
    assert get_project(ws, "iris").entry == "python train.py"
    with pytest.raises(NotFoundError, match="registered: iris"):
        get_project(ws, "nope")


def test_same_name_from_another_folder_is_refused(tmp_path: Path) -> None:
    ws = init_workspace(tmp_path / "ws")
    write_project(tmp_path / "a", GOOD)
    write_project(tmp_path / "b", GOOD)
    add_project(ws, tmp_path / "a")
    with pytest.raises(InputError, match="already registered from"):
        add_project(ws, tmp_path / "b")


def test_monitors_follow_the_file(tmp_path: Path) -> None:
    from sqlmodel import Session, select

    from dockyard.core.workspace import engine_for
    from dockyard.store.models import Monitor

    ws = init_workspace(tmp_path / "ws")
    file = write_project(tmp_path / "iris", GOOD)
    add_project(ws, tmp_path / "iris")
    _first, second = GOOD.split("[[monitors]]")[1:]
    file.write_text(GOOD.replace("[[monitors]]" + second, ""))
    add_project(ws, tmp_path / "iris")
    with Session(engine_for(ws)) as session:
        monitors = {m.name: m.enabled for m in session.exec(select(Monitor))}
    assert monitors == {"drift": True, "nightly-perf": False}
