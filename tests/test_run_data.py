"""Which dataset version a run trains on (``core.run_data``): pinned, else the version
matching the declared file, else the latest, shown before queuing and recorded with its
reason. Real workspaces, the wine sample's data (178 rows), real runs through the agent."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from dockyard.core.agent import Agent
from dockyard.core.datasets import register_dataset
from dockyard.core.errors import NotFoundError
from dockyard.core.projects import ProjectFileError, add_project, get_project, parse_project_file
from dockyard.core.run_data import declared_data_warnings, resolve_run_data
from dockyard.core.runs import get_run, latest_metrics, list_runs, queue_runs
from dockyard.core.workspace import Workspace, init_workspace
from tests.test_cli import dockyard

SAMPLE = Path(__file__).resolve().parents[1] / "sample_projects" / "wine" / "data" / "train.csv"

# The script counts the rows of the file Dockyard hands it: what it really trained on.
TRAIN = """
import json, os
from dockyard.core.tracking import Tracker
with Tracker.from_env() as t:
    path = json.loads(os.environ["DOCKYARD_DATA"])["wine"]
    with open(path) as handle:
        t.log_metric("rows", sum(1 for _ in handle) - 1)
"""


def toml(pin: str = "") -> str:
    return f"""
[project]
name = "vino"
entry = "python train.py"

[[datasets]]
name = "wine"
path = "data/train.csv"
target = "target"
{pin}
"""


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Workspace, Path]:
    """Versions 1 (the full 178 rows, the declared file's content), 2 (the first 89) and
    3 (the first 49) of ``wine``: the issue's case, where "latest" trained on a subset."""
    for key in [k for k in os.environ if k.startswith("DOCKYARD_")]:
        monkeypatch.delenv(key)
    workspace = init_workspace(tmp_path / "ws")
    project = tmp_path / "vino"
    (project / "data").mkdir(parents=True)
    shutil.copy(SAMPLE, project / "data" / "train.csv")
    (project / "dockyard.toml").write_text(toml())
    (project / "train.py").write_text(TRAIN)
    lines = SAMPLE.read_text().splitlines(keepends=True)
    register_dataset(workspace, "wine", project / "data" / "train.csv")
    for rows in (89, 49):
        subset = tmp_path / f"subset-{rows}.csv"
        subset.write_text("".join(lines[: rows + 1]))
        register_dataset(workspace, "wine", subset)
    add_project(workspace, project)
    return workspace, project


def test_the_version_matching_the_declared_file_wins_over_the_latest(
    lab: tuple[Workspace, Path],
) -> None:
    workspace, _project = lab
    (choice,) = resolve_run_data(workspace, get_project(workspace, "vino"))
    assert (choice.ref, choice.reason) == ("wine@1", "matches")
    assert choice.describe() == "wine@1 (matches data/train.csv, 178 rows)"
    (run,) = queue_runs(workspace, "vino")
    assert run.dataset == "wine@1"
    assert run.env["data"][0]["ref"] == "wine@1" and run.env["data"][0]["reason"] == "matches"
    Agent(workspace, concurrency=1).serve(until_idle=True)
    assert get_run(workspace, run.id).status == "finished"
    assert latest_metrics(workspace, run.id)["rows"][1] == 178  # the full file, not 49 rows


def test_an_edited_declared_file_trains_on_the_latest_and_says_so(
    lab: tuple[Workspace, Path],
) -> None:
    workspace, project = lab
    with (project / "data" / "train.csv").open("a") as handle:
        handle.write(SAMPLE.read_text().splitlines()[1] + "\n")  # one more row, unregistered
    (choice,) = resolve_run_data(workspace, get_project(workspace, "vino"))
    assert (choice.ref, choice.reason, choice.unmatched) == ("wine@3", "latest", True)
    assert choice.describe() == (
        "wine@3 (latest, 49 rows); data/train.csv differs from every version"
    )
    # Registering the edited file makes it a version, which it then matches.
    register_dataset(workspace, "wine", project / "data" / "train.csv")
    (choice,) = resolve_run_data(workspace, get_project(workspace, "vino"))
    assert (choice.ref, choice.reason) == ("wine@4", "matches")


def test_a_pinned_version_is_used_even_when_the_file_matches_another(
    lab: tuple[Workspace, Path],
) -> None:
    workspace, project = lab
    (project / "dockyard.toml").write_text(toml("version = 2"))
    add_project(workspace, project)
    (choice,) = resolve_run_data(workspace, get_project(workspace, "vino"))
    assert choice.describe() == "wine@2 (pinned, 89 rows)"
    (run,) = queue_runs(workspace, "vino")
    assert run.dataset == "wine@2"

    (project / "dockyard.toml").write_text(toml("version = 9"))
    add_project(workspace, project)
    before = len(list_runs(workspace))
    with pytest.raises(NotFoundError, match="pins wine version 9, which is not registered"):
        queue_runs(workspace, "vino")
    assert len(list_runs(workspace)) == before  # nothing queued


def test_named_versions_and_clones(lab: tuple[Workspace, Path]) -> None:
    workspace, _project = lab
    (chosen,) = queue_runs(workspace, "vino", data="wine@2")
    assert chosen.env["data"][0]["described"] == "wine@2 (chosen, 89 rows)"
    (latest,) = queue_runs(workspace, "vino", data="wine@latest")
    assert latest.dataset == "wine@3"
    (bare,) = queue_runs(workspace, "vino", data="wine")  # the project's rule for its dataset
    assert bare.dataset == "wine@1"
    (clone,) = queue_runs(workspace, from_run=chosen.id)
    assert clone.dataset == "wine@2"
    assert clone.env["data"][0]["described"] == f"wine@2 (as run {chosen.id}, 89 rows)"
    assert set(clone.env["data_paths"]) == {"wine"}


def test_an_unregistered_declared_dataset_leaves_the_script_its_own_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in [k for k in os.environ if k.startswith("DOCKYARD_")]:
        monkeypatch.delenv(key)
    workspace = init_workspace(tmp_path / "ws")
    project = tmp_path / "vino"
    (project / "data").mkdir(parents=True)
    shutil.copy(SAMPLE, project / "data" / "train.csv")
    (project / "dockyard.toml").write_text(toml())
    add_project(workspace, project)
    (choice,) = resolve_run_data(workspace, get_project(workspace, "vino"))
    assert choice.reason == "unregistered" and choice.version is None
    assert choice.describe() == "wine: not registered; the script reads data/train.csv"
    (run,) = queue_runs(workspace, "vino")
    assert run.dataset is None and run.env["data_paths"] == {}


@pytest.mark.parametrize(
    ("pin", "problem"),
    [
        ('version = "1"', "must be a version number (1, 2, ...), not '1'"),
        ("version = 0", "must be a version number (1, 2, ...), not 0"),
        ("version = 1.0", "must be a version number (1, 2, ...), not 1.0"),
        ("version = true", "must be a version number (1, 2, ...), not True"),
    ],
)
def test_a_pin_is_validated_with_its_key_path(tmp_path: Path, pin: str, problem: str) -> None:
    (tmp_path / "data").mkdir()
    shutil.copy(SAMPLE, tmp_path / "data" / "train.csv")
    # a second problem elsewhere is reported with it, in the same error
    (tmp_path / "dockyard.toml").write_text(toml(pin) + '\n[metrics]\ndirection = "up"\n')
    with pytest.raises(ProjectFileError) as error:
        parse_project_file(tmp_path / "dockyard.toml")
    assert error.value.problems[0] == ("datasets[0].version", problem)
    assert error.value.problems[1][0] == "metrics.direction"


def test_project_add_warns_about_versions_from_another_file(lab: tuple[Workspace, Path]) -> None:
    workspace, project = lab
    (warning,) = declared_data_warnings(workspace, get_project(workspace, "vino"))
    assert warning.startswith(
        "dataset wine has versions from another file than data/train.csv (versions 2, 3 from "
        "2 other files); runs use wine@1 (matches data/train.csv, 178 rows);"
    )
    added = dockyard("project", "add", str(project), cwd=workspace.root)
    assert added.returncode == 0, added.stderr
    assert added.stderr == f"dockyard: warning: {warning}\n"
    as_json = dockyard("project", "add", str(project), "--json", cwd=workspace.root)
    assert json.loads(as_json.stdout)["warnings"] == [warning]


def test_run_start_and_run_show_print_the_version_and_why(lab: tuple[Workspace, Path]) -> None:
    workspace, _project = lab
    started = dockyard("run", "start", "vino", "--no-agent", cwd=workspace.root)
    assert started.returncode == 0, started.stderr
    assert started.stdout.splitlines() == [
        "Queued run 1 of vino",
        "  data: wine@1 (matches data/train.csv, 178 rows)",
    ]
    shown = dockyard("run", "show", "1", cwd=workspace.root).stdout.splitlines()
    assert "  dataset    wine@1 (matches data/train.csv, 178 rows)" in shown


async def test_the_launch_form_shows_the_version_the_run_will_use(
    lab: tuple[Workspace, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from textual.widgets import Select, Static
    from textual.widgets._select import SelectCurrent

    from dockyard.tui import run_actions
    from dockyard.tui.screens.launch import LaunchScreen
    from tests.pilot_wait import notifications
    from tests.test_tui_runs import make_app, settle

    def shown(picker: Select[str]) -> str:
        return str(picker.query_one(SelectCurrent).query_one("#label", Static).render())

    workspace, project = lab
    monkeypatch.setattr(run_actions, "start_agent", lambda *_args: None)
    app = make_app(workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, LaunchScreen)
        picker = form.query_one("#dataset", Select)
        assert picker.value == ""  # the default: the project's rule
        assert shown(picker) == "wine@1 (matches data/train.csv, 178 rows)"
        await pilot.press("ctrl+s")
        await settle(pilot)
        (run,) = list_runs(workspace)
        assert run.dataset == "wine@1"
        assert any(
            text == "Queued run 1 on wine@1 (matches data/train.csv, 178 rows)"
            for text in notifications(app)
        )

    (project / "dockyard.toml").write_text(toml("version = 3"))
    add_project(workspace, project)
    app = make_app(workspace)
    async with app.run_test(size=(120, 36)) as pilot:
        await settle(pilot)
        await pilot.press("n")
        await settle(pilot)
        picker = app.screen.query_one("#dataset", Select)
        assert shown(picker) == "wine@3 (pinned, 49 rows)"


# --- compare: not like for like -------------------------------------------------------------


def test_compare_warns_when_the_runs_trained_on_different_data(
    lab: tuple[Workspace, Path],
) -> None:
    from dockyard.core.comparison import compare

    workspace, _project = lab
    (full,) = queue_runs(workspace, "vino")  # wine@1, matching the declared file
    (subset,) = queue_runs(workspace, "vino", data="wine@3")
    (again,) = queue_runs(workspace, "vino", data="wine@1")
    Agent(workspace, concurrency=1).serve(until_idle=True)
    a, b, c = f"run:{full.id}", f"run:{subset.id}", f"run:{again.id}"
    warning = (
        f"not like for like: trained on different data (run {full.id}: wine@1, "
        f"run {subset.id}: wine@3); a metric may differ because of the data, not the model "
        "(see `dockyard data diff wine@1 wine@3`)"
    )
    result = compare(workspace, [a, b])
    assert result.warnings == [warning]
    assert next(r for r in result.rows if r.name == "dataset").differs
    assert compare(workspace, [a, c]).warnings == []  # same data: nothing to say

    def cli(*args: str) -> tuple[str, str]:
        done = dockyard("model", "compare", a, b, *args, cwd=workspace.root)
        assert done.returncode == 0, done.stderr
        return done.stdout, done.stderr

    table, _ = cli()
    lines = table.splitlines()
    assert lines[0] == f"warning: {warning}"  # above the metrics
    assert lines[1].split() == ["run", str(full.id), "run", str(subset.id)]  # the header
    assert any(line.split()[:4] == ["≠", "dataset", "wine@1", "wine@3"] for line in lines)
    rows = next(line for line in lines if line.startswith("rows "))
    assert rows.split()[1:3] == ["178", "49"]
    markdown, _ = cli("--format", "md")
    assert markdown.splitlines()[0] == f"> **Warning:** {warning}"
    assert markdown.splitlines()[2].startswith("|  | run ")
    assert "| ≠ dataset | wine@1 | wine@3 |" in markdown
    as_csv, err = cli("--format", "csv")
    assert err == f"dockyard: warning: {warning}\n"
    assert as_csv.splitlines()[0] == f"row,run {full.id},run {subset.id}"
    assert "dataset,wine@1,wine@3" in as_csv.splitlines()  # no mark: the CSV stays data
    as_json, _ = cli("--format", "json")
    assert json.loads(as_json)["warnings"] == [warning]
    same = dockyard("model", "compare", a, c, cwd=workspace.root)
    assert "warning" not in same.stdout + same.stderr
