"""Monitors on real trained and deployed sample models: checks, results, bad batches,
rollbacks, alert actions and acknowledgements (scheduling: tests/test_monitor_agent.py)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from dockyard.core.audit import list_events
from dockyard.core.errors import ConflictError, InputError
from dockyard.core.monitoring import (
    acknowledge_alert,
    add_monitor,
    list_alerts,
    list_monitors,
    monitor_history,
    run_monitor,
)
from dockyard.core.projects import add_project
from dockyard.core.workspace import Workspace
from tests.monitor_fixtures import SAMPLES, copy_workspace
from tests.stores import execute

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.both_stores


@pytest.fixture
def ws(
    deployed_samples: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    store_backend: str,
    request: pytest.FixtureRequest,
) -> Workspace:
    monkeypatch.setattr("dockyard.core.monitoring.SETTLE_SECONDS", 0.2)
    return copy_workspace(deployed_samples, tmp_path / "ws", request)


def documented_columns(sample: str) -> set[str]:
    """The columns the sample's README says the drifted batch moves."""
    readme = (REPO / "sample_projects" / sample / "README.md").read_text()
    bullet = readme.split("`batch_drift.csv`", 1)[1].split("Every other column", 1)[0]
    return set(re.findall(r"`([a-z0-9_]+)`", bullet))


def test_sample_batches_raise_exactly_the_documented_drift(ws: Workspace) -> None:
    folders = {"breast-cancer": "breast_cancer", "diabetes": "diabetes", "wine": "wine"}
    for monitor in list_monitors(ws):
        results = {Path(r.batch_path).name: r for r in run_monitor(ws, monitor.id)}
        assert set(results) == {"batch_normal.csv", "batch_drift.csv"}, monitor.name
        normal, drift = results["batch_normal.csv"], results["batch_drift.csv"]
        assert normal.status == "ok", (monitor.project, monitor.name, normal.summary)
        assert drift.status == "alert", (monitor.project, monitor.name, drift.summary)
        documented = documented_columns(folders[monitor.project])
        assert len(documented) == 3
        if monitor.kind == "drift":
            drifted = {c.column for c in drift.checks if c.check == "drift" and c.status != "ok"}
            assert drifted == documented, monitor.project
            verdict = next(c for c in drift.checks if c.check == "dataset_drift")
            assert verdict.value == pytest.approx(3 / len(ws_columns(drift)), abs=1e-5)
            assert next(c for c in drift.checks if c.check == "prediction_drift").status != "ok"
        if monitor.kind == "quality":
            flagged = {c.column for c in drift.checks if c.status != "ok"}
            assert flagged and flagged <= documented, monitor.project
        if monitor.kind == "performance":
            assert any(c.status == "alert" and c.threshold is not None for c in drift.checks)
        assert drift.model_ref == f"{monitor.project}@1" and drift.rows in (150, 200)
        assert drift.seconds is not None and drift.batch_hash
    assert set(SAMPLES) == {m.project for m in list_monitors(ws)}


def ws_columns(result: object) -> list[str]:
    return [c.column for c in result.checks if c.check == "drift"]  # type: ignore[attr-defined]


def incoming(ws: Workspace, project: str = "wine") -> Path:
    return ws.root / "projects" / project / "incoming"


def test_each_batch_is_checked_once_and_results_are_stored(ws: Workspace) -> None:
    first = run_monitor(ws, "wine/feature-drift")
    assert len(first) == 2
    assert run_monitor(ws, "wine/feature-drift") == []
    # the same bytes under another name are the same batch
    shutil.copy(incoming(ws) / "batch_normal.csv", incoming(ws) / "copy.csv")
    assert run_monitor(ws, "wine/feature-drift") == []
    history = monitor_history(ws, "wine/feature-drift")
    assert [h.id for h in history] == sorted((r.id for r in first), reverse=True)
    stored = {h.id: h for h in history}
    for result in first:
        assert stored[result.id].checks == result.checks
        assert stored[result.id].started_at is not None
    info = next(m for m in list_monitors(ws, "wine") if m.name == "feature-drift")
    assert info.last_status in ("ok", "alert") and info.open_alerts == 1


def test_bad_batches_are_errors_that_name_the_problem(ws: Workspace) -> None:
    for path in incoming(ws).iterdir():
        path.unlink()
    good = (REPO / "sample_projects/wine/incoming/batch_normal.csv").read_text()
    lines = good.splitlines()
    bad = {
        "missing.csv": "\n".join(",".join(r.split(",")[1:]) for r in lines),
        "extra.csv": "\n".join(r + (",x" if i else ",surprise") for i, r in enumerate(lines)),
        "retyped.csv": "\n".join([lines[0], "abc," + lines[1].split(",", 1)[1], *lines[2:]]),
        "empty.csv": lines[0] + "\n",
        "binary.csv": None,
    }
    for name, text in bad.items():
        if text is None:
            (incoming(ws) / name).write_bytes(b"\x00\xff\xfe\x00garbage\x89PNG\r\n")
        else:
            (incoming(ws) / name).write_text(text)
    results = {Path(r.batch_path).name: r for r in run_monitor(ws, "wine/data-quality")}
    assert {n: r.status for n, r in results.items()} == dict.fromkeys(bad, "error")
    assert "missing column(s) alcohol" in results["missing.csv"].error
    assert "extra column(s) surprise" in results["extra.csv"].error
    assert "retyped column(s) alcohol" in results["retyped.csv"].error
    assert "zero rows" in results["empty.csv"].error
    assert results["binary.csv"].error
    # the next run still happens, and checks the good batch that arrives
    (incoming(ws) / "good.csv").write_text(good)
    again = run_monitor(ws, "wine/data-quality")
    assert [(Path(r.batch_path).name, r.status) for r in again] == [("good.csv", "ok")]


def test_a_batch_still_being_written_is_an_error_then_checked(ws: Workspace) -> None:
    import subprocess
    import sys

    for path in incoming(ws).iterdir():
        path.unlink()
    good = REPO / "sample_projects/wine/incoming/batch_normal.csv"
    target = incoming(ws) / "slow.csv"
    writer = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\n"
         "data = open(sys.argv[1], 'rb').read()\n"
         "with open(sys.argv[2], 'wb') as out:\n"
         "    for i in range(0, len(data), 200):\n"
         "        out.write(data[i:i + 200]); out.flush(); time.sleep(0.02)\n",
         str(good), str(target)],
    )  # fmt: skip
    try:
        import time

        while not target.exists() or target.stat().st_size == 0:
            time.sleep(0.01)
        results = run_monitor(ws, "wine/data-quality")
    finally:
        writer.wait(timeout=60)
    assert [r.status for r in results] == ["error"]
    assert "still being written" in results[0].error
    time.sleep(0.3)
    after = run_monitor(ws, "wine/data-quality")
    assert [r.status for r in after] == ["ok"]


def test_rollback_is_followed_and_the_result_names_the_version(ws: Workspace) -> None:
    from dockyard.core.deployments import request_deployment, rollback
    from dockyard.core.registry import get_version, register_version

    run_id = get_version(ws, "wine@1").run_id
    register_version(ws, run_id, "wine")
    request_deployment(ws, "wine@2", "production", actor="test")
    for path in incoming(ws).iterdir():
        path.unlink()
    source = REPO / "sample_projects/wine/incoming/batch_normal.csv"
    shutil.copy(source, incoming(ws) / "a.csv")
    assert [r.model_ref for r in run_monitor(ws, "wine/feature-drift")] == ["wine@2"]
    rollback(ws, "production", "wine", "bad", actor="test")
    lines = source.read_text().splitlines()
    (incoming(ws) / "b.csv").write_text("\n".join(lines[:-1]) + "\n")
    assert [r.model_ref for r in run_monitor(ws, "wine/feature-drift")] == ["wine@1"]


def test_alert_runs_the_command_and_ack_is_audited(ws: Workspace, tmp_path: Path) -> None:
    log = tmp_path / "action.log"
    script = tmp_path / "notify.py"
    script.write_text(
        "import os, json, sys\n"
        f"open({str(log)!r}, 'a').write(json.dumps({{k: v for k, v in os.environ.items() "
        "if k.startswith('DOCKYARD_')}) + '\\n')\n"
        "print('notified'); sys.exit(3)\n"
    )
    import sys

    monitor = add_monitor(
        ws, "wine",
        {"name": "drift-notify", "kind": "drift", "schedule": "every 1h",
         "on_alert": f"{sys.executable} {script}"},
    )  # fmt: skip
    assert monitor.config["on_alert"]
    results = {Path(r.batch_path).name: r for r in run_monitor(ws, monitor.id)}
    drift = results["batch_drift.csv"]
    assert drift.action is not None and drift.action["exit_status"] == 3
    assert "notified" in drift.action["output"]
    assert results["batch_normal.csv"].action is None
    seen = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(seen) == 1
    env = seen[0]
    assert env["DOCKYARD_MONITOR"] == "drift-notify" and env["DOCKYARD_MODEL"] == "wine"
    assert env["DOCKYARD_BATCH"].endswith("batch_drift.csv")
    stored = json.loads(Path(env["DOCKYARD_RESULT_FILE"]).read_text())
    assert stored["status"] == "alert" and stored["id"] == drift.id
    # re-adding the project keeps a monitor added from the command line
    add_project(ws, ws.root / "projects" / "wine")
    assert "drift-notify" in {m.name for m in list_monitors(ws, "wine")}
    with pytest.raises(ConflictError):
        add_monitor(ws, "wine", {"name": "drift-notify", "kind": "drift", "schedule": "every 1h"})
    alert = next(a for a in list_alerts(ws) if a.result_id == drift.id)
    with pytest.raises(InputError, match="say why"):
        acknowledge_alert(ws, alert.id, "  ")
    done = acknowledge_alert(ws, alert.id, "known shift", actor="alice")
    assert done.acknowledged_by == "alice"
    with pytest.raises(ConflictError, match="acknowledged"):
        acknowledge_alert(ws, alert.id, "again")
    events = [e for e in list_events(ws) if e.action == "alert.ack"]
    assert events[-1].details["reason"] == "known shift" and events[-1].actor == "alice"


def test_a_result_interrupted_while_it_is_checked_raises_no_alert(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scheduler presumed gone (its agent's lease taken) may still finish a check: its
    result was marked interrupted meanwhile, so it neither alerts nor runs ``on_alert``,
    and the batch is checked again by the next run."""
    import shlex

    from dockyard.core import monitoring

    touched = tmp_path / "alerted"
    monitor = add_monitor(
        ws, "wine",
        {"name": "late", "kind": "drift", "schedule": "every 1h",
         "on_alert": f"touch {shlex.quote(str(touched))}"},
    )  # fmt: skip
    evaluate = monitoring._evaluate

    def interrupted_meanwhile(workspace: Workspace, *args: Any) -> Any:
        execute(
            workspace,
            "UPDATE monitor_result SET status = 'interrupted' WHERE status = 'running'",
        )
        return evaluate(workspace, *args)

    monkeypatch.setattr(monitoring, "_evaluate", interrupted_meanwhile)
    assert [r.status for r in run_monitor(ws, monitor.id)] == ["interrupted", "interrupted"]
    assert not [a for a in list_alerts(ws) if a.monitor_id == monitor.id]
    assert not touched.exists()
    monkeypatch.setattr(monitoring, "_evaluate", evaluate)
    assert sorted(r.status for r in run_monitor(ws, monitor.id)) == ["alert", "ok"]
    assert len([a for a in list_alerts(ws) if a.monitor_id == monitor.id]) == 1
    assert touched.exists()


@pytest.mark.sqlite_only("parses a project file; no store is involved")
def test_monitor_keys_are_validated_strictly(tmp_path: Path) -> None:
    from dockyard.core.projects import ProjectFileError, parse_project_file

    base = '[project]\nname = "p"\nentry = "python t.py"\n[[monitors]]\nname = "m"\n'
    cases = {
        'kind = "drift"\nschedule = "every 1h"\nthreshold = 2': "share between 0 and 1",
        'kind = "drift"\nschedule = "every 1h"\np_value = 1.5': "between 0 and 1",
        'kind = "drift"\nschedule = "every 1h"\npsi_warn = 0.5': "psi_warn",
        'kind = "drift"\nschedule = "every 1h"\non_alert = "\'unclosed"': "not a command line",
        'kind = "drift"\nschedule = "every 1h"\ndataset = "d"\nbatches = "x/*.csv"': "not both",
        'kind = "drift"\nschedule = "every 1h"\nwebhook = "x"': "webhook",
    }
    for body, message in cases.items():
        (tmp_path / "dockyard.toml").write_text(base + body + "\n")
        with pytest.raises(ProjectFileError, match=message):
            parse_project_file(tmp_path / "dockyard.toml")
