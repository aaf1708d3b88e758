"""Environments, requests, approvals, deployments, rollbacks and prediction, on real models.

One module-scoped workspace trains three real versions (iris, fitted on a DataFrame so the
model knows its columns); each test works on its own copy of it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dockyard.core.agent import Agent
from dockyard.core.audit import check_chain, list_events
from dockyard.core.datasets import register_dataset
from dockyard.core.deployments import (
    approve_request,
    deployment_history,
    deployment_status,
    get_request,
    live_deployment,
    recheck_request,
    reject_request,
    request_deployment,
    rollback,
)
from dockyard.core.environments import NotPermittedError, list_environments, set_environment
from dockyard.core.errors import ConflictError, InputError, NotFoundError
from dockyard.core.projects import add_project
from dockyard.core.registry import ArtifactIntegrityError, get_version, register_version
from dockyard.core.runs import queue_runs
from dockyard.core.workspace import Workspace
from tests import stores
from tests.conftest import (
    clone_workspace,
    drop_pg_database,
    release_template,
    template_workspace,
)

# One xdist worker takes the whole module (`--dist loadgroup`), so each kind of store's
# template is trained once, not once per worker.
pytestmark = [pytest.mark.both_stores, pytest.mark.xdist_group("deployments")]

TOML = """
[project]
name = "iris"
entry = "python train.py"

[[datasets]]
name = "iris"
path = "data.csv"
target = "target"

[params.C]
type = "float"
default = 1.0
min = 0.0001

[metrics]
primary = "accuracy"
direction = "maximize"

[[gates]]
metric = "accuracy"
min = 0.8
"""

TRAIN = """
import pandas as pd
from sklearn.linear_model import LogisticRegression
from dockyard.core.tracking import Tracker

with Tracker.from_env() as t:
    frame = pd.read_csv("data.csv")
    X, y = frame.drop(columns=["target"]), frame["target"]
    model = LogisticRegression(C=t.params["C"], max_iter=500).fit(X, y)
    t.log_metric("accuracy", float(model.score(X, y)))
    t.log_model(model, name="model")
"""


def iris_csv(path: Path, rows: int | None = None) -> Path:
    from sklearn.datasets import load_iris

    frame = load_iris(as_frame=True).frame
    frame.columns = ["sepal_length", "sepal_width", "petal_length", "petal_width", "target"]
    if rows is not None:
        frame = frame.sample(rows, replace=True, random_state=0)
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def trained(
    tmp_path_factory: pytest.TempPathFactory,
    module_store_backend: str,
    request: pytest.FixtureRequest,
) -> Iterator[Workspace]:
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("DOCKYARD_")}
    root = tmp_path_factory.mktemp("deploy")
    ws, pg_url = template_workspace(request, module_store_backend, root / "ws")
    project = root / "ws" / "iris"
    project.mkdir()
    (project / "dockyard.toml").write_text(TOML)
    (project / "train.py").write_text(TRAIN)
    iris_csv(project / "data.csv")
    add_project(ws, project)
    register_dataset(ws, "iris", project / "data.csv", "iris", author="test")
    queue_runs(ws, "iris", ["C=1,0.001,10"])
    Agent(ws, concurrency=1).serve(until_idle=True)
    from dockyard.core.runs import list_runs

    runs = sorted(r.id for r in list_runs(ws))
    for run_id in runs:
        register_version(ws, run_id, "iris-clf")
    set_environment(ws, "staging", approvals=0, actor="alice")
    set_environment(
        ws, "production", approvals=1, approvers=("bob", "carol"), protected=True, actor="alice"
    )
    os.environ.update(saved)
    from dockyard.core.workspace import _ENGINES

    for engine in _ENGINES.values():
        engine.dispose()
    _ENGINES.clear()
    release_template(ws)
    yield ws
    if pg_url is not None:
        drop_pg_database(request.getfixturevalue("pg_server"), pg_url)


@pytest.fixture
def ws(trained: Workspace, tmp_path: Path, request: pytest.FixtureRequest) -> Workspace:
    return clone_workspace(trained, tmp_path / "ws", request)


def refused(ws: Workspace) -> list[str]:
    return [e.details["error"] for e in list_events(ws) if e.action == "deploy.refused"]


def test_versions_trained_as_expected(ws: Workspace) -> None:
    accs = [get_version(ws, f"iris-clf@{n}").metrics["accuracy"] for n in (1, 2, 3)]
    assert accs[1] < 0.8 < accs[0] <= accs[2]


def test_environments_listed_and_changes_audited(ws: Workspace) -> None:
    envs = {e.name: e for e in list_environments(ws)}
    assert envs["production"].approvers == ("bob", "carol")
    assert envs["staging"].approvals == 0
    events = [e for e in list_events(ws) if e.action == "env.set"]
    assert [e.details["env"] for e in events] == ["staging", "production"]
    with pytest.raises(NotPermittedError, match="protected"):
        set_environment(ws, "production", approvals=0, actor="alice")
    set_environment(ws, "production", approvals=2, actor="bob")
    with pytest.raises(InputError, match="protected environment needs at least one"):
        set_environment(ws, "production", approvals=0, actor="bob")
    with pytest.raises(InputError, match="not a user name"):
        from dockyard.core.environments import parse_approvers

        parse_approvers("bob,rm -rf")
    with pytest.raises(InputError, match="valid environment name"):
        set_environment(ws, "Prod!", approvals=0)


def test_staging_deploys_at_once_then_production_needs_another_approver(ws: Workspace) -> None:
    staged = request_deployment(ws, "iris-clf@1", "staging", "try it", actor="alice")
    assert staged.deployment is not None and staged.request.status == "deployed"
    current = ws.home / "deployments/staging/iris-clf/current"
    manifest = json.loads((current / "manifest.json").read_text())
    assert manifest["version"] == 1 and manifest["input_schema"][0]["name"] == "sepal_length"
    assert (current / "model.skops").read_bytes()
    decision = request_deployment(ws, "iris-clf@1", "production", "ship", actor="alice")
    request = decision.request
    assert decision.deployment is None and request.status == "pending"
    assert request.checks_passed and any("hash" in c.name for c in request.checks)
    with pytest.raises(NotPermittedError, match="cannot approve"):
        approve_request(ws, request.id, actor="alice")
    with pytest.raises(NotPermittedError, match="not an approver"):
        approve_request(ws, request.id, actor="mallory")
    done = approve_request(ws, request.id, "looks good", actor="bob")
    assert done.deployment is not None and done.request.status == "deployed"
    assert done.deployment.approved_by == ("bob",)
    with pytest.raises(ConflictError, match="is deployed"):
        approve_request(ws, request.id, actor="carol")
    assert len(refused(ws)) == 3
    assert get_version(ws, "iris-clf@production").version == 1
    assert check_chain(ws).ok


def test_approve_twice_counts_once(ws: Workspace) -> None:
    set_environment(ws, "production", approvals=2, actor="bob")
    request = request_deployment(ws, "iris-clf@1", "production", actor="alice").request
    approve_request(ws, request.id, actor="bob")
    with pytest.raises(NotPermittedError, match="already approved"):
        approve_request(ws, request.id, actor="bob")
    assert get_request(ws, request.id).status == "pending"
    assert approve_request(ws, request.id, actor="carol").deployment is not None


def test_failed_gate_needs_a_written_override(ws: Workspace) -> None:
    request = request_deployment(ws, "iris-clf@2", "production", actor="alice").request
    assert not request.checks_passed
    with pytest.raises(NotPermittedError, match="override-gates"):
        approve_request(ws, request.id, actor="bob")
    with pytest.raises(InputError, match="written reason"):
        approve_request(ws, request.id, override_reason="  ", actor="bob")
    assert get_request(ws, request.id).status == "pending"
    done = approve_request(ws, request.id, override_reason="hotfix, see INC-4", actor="bob")
    assert done.deployment is not None
    override = [e for e in list_events(ws) if e.action == "deploy.override"]
    assert override[0].details["reason"] == "hotfix, see INC-4"


def test_not_worse_gate_names_both_numbers(ws: Workspace) -> None:
    request_deployment(ws, "iris-clf@3", "staging", actor="alice")
    checks = request_deployment(ws, "iris-clf@1", "staging", actor="alice").request.checks
    worse = next(c for c in checks if "not worse" in c.name)
    assert "iris-clf@3" in worse.name and "->" in worse.detail
    v1, v3 = (get_version(ws, f"iris-clf@{n}").metrics["accuracy"] for n in (1, 3))
    assert worse.passed == (v1 >= v3)


def test_rejected_and_stale_requests_cannot_be_approved(ws: Workspace) -> None:
    first = request_deployment(ws, "iris-clf@1", "production", actor="alice").request
    second = request_deployment(ws, "iris-clf@3", "production", actor="alice").request
    with pytest.raises(InputError, match="needs a comment"):
        reject_request(ws, second.id, "", actor="bob")
    approve_request(ws, first.id, actor="bob")
    assert get_request(ws, second.id).stale
    with pytest.raises(ConflictError, match="stale"):
        approve_request(ws, second.id, actor="carol")
    rechecked = recheck_request(ws, second.id, actor="alice")
    assert not rechecked.stale
    reject_request(ws, second.id, "not now", actor="carol")
    with pytest.raises(ConflictError, match="rejected"):
        approve_request(ws, second.id, actor="bob")
    assert [d.version for d in deployment_status(ws)] == [1]


@pytest.mark.parametrize("damage", ["modified", "deleted"])
def test_altered_model_file_is_refused(ws: Workspace, damage: str) -> None:
    request = request_deployment(ws, "iris-clf@1", "production", actor="alice").request
    path = ws.home / get_version(ws, "iris-clf@1").artifact_path
    if damage == "deleted":
        path.unlink()
    else:
        data = bytearray(path.read_bytes())
        data[10] ^= 1
        path.write_bytes(bytes(data))
    with pytest.raises(ArtifactIntegrityError):
        approve_request(ws, request.id, actor="bob")
    assert get_request(ws, request.id).status == "pending"
    assert not (ws.home / "deployments/production").exists()
    with pytest.raises(ArtifactIntegrityError):
        request_deployment(ws, "iris-clf@1", "staging", actor="alice")
    assert len(refused(ws)) == 2


def test_undeclared_environment(ws: Workspace) -> None:
    with pytest.raises(NotFoundError, match="'prod' is not declared"):
        request_deployment(ws, "iris-clf@1", "prod", actor="alice")


def test_rollback_and_history(ws: Workspace) -> None:
    for n in (1, 3):
        rid = request_deployment(ws, f"iris-clf@{n}", "production", actor="alice").request.id
        approve_request(ws, rid, actor="bob")
    request_deployment(ws, "iris-clf@1", "staging", actor="alice")
    with pytest.raises(InputError, match="nothing to roll back"):
        rollback(ws, "staging", "iris-clf", actor="bob")
    back = rollback(ws, "production", "iris-clf", "v3 misbehaves", actor="carol")
    assert back.deployment is None and back.request.kind == "rollback"
    approve_request(ws, back.request.id, actor="bob")
    assert live_deployment(ws, "production", "iris-clf").version == 1
    set_environment(ws, "production", emergency_rollback=True, actor="bob")
    rid = request_deployment(ws, "iris-clf@3", "production", actor="alice").request.id
    approve_request(ws, rid, actor="carol")
    emergency = rollback(ws, "production", "iris-clf", "pager", actor="bob")
    assert emergency.deployment is not None and emergency.deployment.version == 1
    history = deployment_history(ws, "production", "iris-clf")
    assert [d.version for d in history] == [1, 3, 1, 3, 1]
    assert [d.status for d in history][-1] == "active"
    assert history[1].approved_by == ("bob",)


def test_status_at_a_past_date(ws: Workspace) -> None:
    rid = request_deployment(ws, "iris-clf@1", "production", actor="alice").request.id
    approve_request(ws, rid, actor="bob")
    between = deployment_status(ws)[0].deployed_at
    time.sleep(0.01)
    rid = request_deployment(ws, "iris-clf@3", "production", actor="alice").request.id
    approve_request(ws, rid, actor="carol")
    then = deployment_status(ws, at=between)
    assert [(d.version, d.approved_by) for d in then] == [(1, ("bob",))]
    assert [d.version for d in deployment_status(ws)] == [3]


APPROVE = """
import sys, time
from pathlib import Path
from dockyard.core.deployments import approve_request
from dockyard.core.errors import DockyardError
from dockyard.core.workspace import find_workspace
ws = find_workspace(Path(sys.argv[1]))
go = Path(sys.argv[4])
while not go.exists():
    time.sleep(0.001)
try:
    approve_request(ws, int(sys.argv[2]), actor=sys.argv[3])
    print("deployed")
except DockyardError as exc:
    print("refused", exc)
"""


def _spawn(ws: Workspace, request_id: int, actor: str, go: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
    return subprocess.Popen(
        [sys.executable, "-c", APPROVE, str(ws.root), str(request_id), actor, str(go)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_two_approvers_at_the_same_instant_deploy_once(ws: Workspace, tmp_path: Path) -> None:
    request = request_deployment(ws, "iris-clf@1", "production", actor="alice").request
    go = tmp_path / "go"
    procs = [_spawn(ws, request.id, who, go) for who in ("bob", "carol")]
    time.sleep(1.5)  # both interpreters started and waiting on the file
    go.touch()
    outs = [p.communicate(timeout=60) for p in procs]
    results = sorted(out.split()[0] for out, _ in outs)
    assert results == ["deployed", "refused"], outs
    assert len(deployment_history(ws, "production", "iris-clf")) == 1
    actions = [e.action for e in list_events(ws) if e.action.startswith("deploy.")]
    assert actions.count("deploy.deployed") == 1 and actions.count("deploy.approve") == 1
    assert actions.count("deploy.refused") == 1
    assert check_chain(ws).ok


def _kill_while_switching(ws: Workspace, tmp_path: Path) -> int:
    """Approve in a child process, hold the model's switch lock, SIGKILL it mid-switch."""
    import fcntl

    request = request_deployment(ws, "iris-clf@1", "production", actor="alice").request
    model_dir = ws.home / "deployments/production/iris-clf"
    model_dir.mkdir(parents=True)
    lock = (model_dir / ".lock").open("a")
    fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
    go = tmp_path / "go"
    go.touch()
    proc = _spawn(ws, request.id, "bob", go)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = stores.rows(ws, "SELECT id FROM deployment WHERE status = 'switching'")
        if found:
            row = found[0]
            break
        time.sleep(0.05)
    else:
        pytest.fail("the approval never reached the switch")
    time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    lock.close()
    assert not (model_dir / "current").exists()
    return int(row[0])


def test_crash_between_approval_and_switch_is_completed(ws: Workspace, tmp_path: Path) -> None:
    deployment_id = _kill_while_switching(ws, tmp_path)
    (ws.home / "deployments/production/iris-clf/releases").mkdir(parents=True, exist_ok=True)
    half = ws.home / f"deployments/production/iris-clf/releases/.tmp-{deployment_id}-1"
    half.mkdir()
    (half / "model.skops").write_bytes(b"half")
    status = deployment_status(ws)  # the next command finishes the switch
    assert [(d.id, d.status) for d in status] == [(deployment_id, "active")]
    current = ws.home / "deployments/production/iris-clf/current"
    assert json.loads((current / "manifest.json").read_text())["deployment_id"] == deployment_id
    assert not half.exists()
    deployment_status(ws)  # idempotent
    actions = [e.action for e in list_events(ws)]
    assert actions.count("deploy.deployed") == 1 and actions.count("deploy.recovered") == 1


def test_crash_then_altered_file_is_abandoned(ws: Workspace, tmp_path: Path) -> None:
    _kill_while_switching(ws, tmp_path)
    path = ws.home / get_version(ws, "iris-clf@1").artifact_path
    path.write_bytes(path.read_bytes() + b"x")
    assert deployment_status(ws) == []
    assert not (ws.home / "deployments/production/iris-clf/current").exists()
    failed = [e for e in list_events(ws) if e.action == "deploy.failed"]
    assert len(failed) == 1 and "tampered" in failed[0].details["error"]


def test_predict_checks_the_input_and_scores(ws: Workspace, tmp_path: Path) -> None:
    from dockyard.core.prediction import predict_file, predict_frame

    request_deployment(ws, "iris-clf@1", "staging", actor="alice")
    batch = iris_csv(tmp_path / "batch.csv", rows=120)
    frame = __import__("pandas").read_csv(batch).drop(columns=["target"])
    frame.to_csv(batch, index=False)
    out = tmp_path / "out.csv"
    result = predict_file(ws, "staging", "iris-clf", batch, out)
    assert result.rows == 120 and out.read_text().splitlines()[0].endswith(",prediction")
    assert len(predict_frame(ws, "staging", "iris-clf", frame)) == 120
    cases = {
        "missing": (frame.drop(columns=["petal_width"]), r"missing column\(s\) petal_width"),
        "extra": (frame.assign(id=1), r"unexpected column\(s\) id"),
        "type": (frame.astype(object).assign(sepal_length="abc"), "must be float64"),
    }
    for name, (bad, message) in cases.items():
        path = tmp_path / f"{name}.csv"
        bad.to_csv(path, index=False)
        with pytest.raises(InputError, match=message):
            predict_file(ws, "staging", "iris-clf", path, tmp_path / f"{name}-out.csv")
        assert not (tmp_path / f"{name}-out.csv").exists()
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(InputError, match="empty"):
        predict_file(ws, "staging", "iris-clf", tmp_path / "empty.csv", tmp_path / "e.csv")
    deployed = ws.home / "deployments/staging/iris-clf/current/model.skops"
    deployed.write_bytes(deployed.read_bytes() + b"x")
    with pytest.raises(ArtifactIntegrityError, match="no longer matches"):
        predict_file(ws, "staging", "iris-clf", batch, out)


def test_cli_review_approve_status_predict_audit(ws: Workspace, tmp_path: Path) -> None:
    from dockyard.core.workspace import acting_user
    from tests.test_cli import dockyard, one_line_error

    me = acting_user(ws)  # the OS account; on PostgreSQL the database login
    set_environment(ws, "production", approvers=("bob", me), actor="bob")
    request = request_deployment(ws, "iris-clf@1", "production", "ship", actor="alice").request
    cwd = ws.root
    listed = json.loads(dockyard("deploy", "list", "--status", "pending", "--json", cwd=cwd).stdout)
    assert [r["id"] for r in listed] == [request.id]
    shown = dockyard("deploy", "show", str(request.id), cwd=cwd)
    assert "requested by alice" in shown.stdout and "[pass]" in shown.stdout
    approved = dockyard("deploy", "approve", str(request.id), "-m", "ok", cwd=cwd)
    assert approved.returncode == 0, approved.stderr
    again = dockyard("deploy", "approve", str(request.id), cwd=cwd)
    assert again.returncode == 1 and "is deployed" in one_line_error(again)
    status = json.loads(dockyard("deploy", "status", "--json", cwd=cwd).stdout)
    assert [(s["env"], s["ref"], s["approved_by"]) for s in status] == [
        ("production", "iris-clf@1", [me])
    ]
    own = dockyard("deploy", "request", "iris-clf@3", "--env", "production", cwd=cwd)
    assert own.returncode == 0, own.stderr
    own_id = json.loads(dockyard("deploy", "list", "--status", "pending", "--json", cwd=cwd).stdout)
    mine = dockyard("deploy", "approve", str(own_id[0]["id"]), cwd=cwd)
    assert mine.returncode == 1 and "cannot approve" in one_line_error(mine)
    nowhere = dockyard("deploy", "request", "iris-clf@1", "--env", "nope", cwd=cwd)
    assert nowhere.returncode == 2 and "not declared" in one_line_error(nowhere)
    history = dockyard("deploy", "history", "production", "iris-clf", cwd=cwd)
    assert "iris-clf@1" in history.stdout and me in history.stdout
    batch = iris_csv(tmp_path / "batch.csv", rows=30)
    scored = dockyard("predict", "iris-clf", "--env", "production", str(batch), cwd=cwd)
    assert scored.returncode == 2 and "unexpected column(s) target" in one_line_error(scored)
    import pandas as pd

    pd.read_csv(batch).drop(columns=["target"]).to_csv(batch, index=False)
    out = tmp_path / "out.csv"
    scored = dockyard(
        "predict", "iris-clf", "--env", "production", str(batch), "-o", str(out), cwd=cwd
    )
    assert scored.returncode == 0, scored.stderr
    assert len(out.read_text().splitlines()) == 31
    log = json.loads(
        dockyard(
            "audit", "log", "--model", "iris-clf", "--env", "production", "--json", cwd=cwd
        ).stdout
    )
    actions = [e["action"] for e in log]
    assert {
        "deploy.deploy",
        "deploy.approve",
        "deploy.switching",
        "deploy.deployed",
        "deploy.refused",
    } <= set(actions)
    envs = json.loads(dockyard("env", "list", "--json", cwd=cwd).stdout)
    assert [e["name"] for e in envs] == ["production", "staging"]


def test_environment_alias_moves_only_by_deployment(ws: Workspace) -> None:
    from dockyard.core.registry import remove_alias, set_alias
    from tests.test_cli import dockyard, one_line_error

    request_deployment(ws, "iris-clf@1", "staging", actor="alice")
    events = len(list_events(ws))
    for attempt in (
        lambda: set_alias(ws, "iris-clf@3", "production"),
        lambda: set_alias(ws, "iris-clf@3", "staging"),
        lambda: remove_alias(ws, "iris-clf", "staging"),
    ):
        with pytest.raises(InputError, match="dockyard deploy request"):
            attempt()
    moved = dockyard("model", "alias", "iris-clf@3", "production", cwd=ws.root)
    assert moved.returncode == 2
    assert "dockyard deploy request MODEL@VERSION --env production" in one_line_error(moved)
    assert get_version(ws, "iris-clf@staging").version == 1
    with pytest.raises(NotFoundError):
        get_version(ws, "iris-clf@production")
    assert len(list_events(ws)) == events
    assert set_alias(ws, "iris-clf@3", "champion").version == 3  # other aliases still move


def test_declaring_an_environment_named_like_a_hand_set_alias_is_refused(ws: Workspace) -> None:
    from dockyard.core.registry import remove_alias, set_alias
    from tests.test_cli import dockyard, one_line_error

    set_alias(ws, "iris-clf@2", "canary")
    events = len(list_events(ws))
    with pytest.raises(InputError, match=r"iris-clf@2.*--remove"):
        set_environment(ws, "canary", approvals=0, actor="alice")
    refused = dockyard("env", "set", "canary", cwd=ws.root)
    assert refused.returncode == 2
    assert "dockyard model alias iris-clf canary --remove" in one_line_error(refused)
    assert "canary" not in {env.name for env in list_environments(ws)}
    assert len(list_events(ws)) == events  # nothing half-written
    assert get_version(ws, "iris-clf@canary").version == 2  # the alias is left alone
    remove_alias(ws, "iris-clf", "canary")
    assert set_environment(ws, "canary", approvals=0, actor="alice").name == "canary"


def test_list_pages_10000_requests_in_sql(ws: Workspace) -> None:
    from sqlalchemy import event

    from dockyard.core.deployments import list_requests
    from dockyard.core.workspace import engine_for
    from tests.test_cli import dockyard, one_line_error

    first = request_deployment(ws, "iris-clf@1", "production", actor="alice").request
    approve_request(ws, first.id, actor="bob")
    columns = stores.columns(ws, "deployment_request")
    copied = ", ".join(c for c in columns if c not in ("id", "status", "target"))
    # 10,000 copies in one statement, in the order of n (ids follow it), on either engine
    stores.execute(
        ws,
        (
            f"INSERT INTO deployment_request ({copied}, status, target) "
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 9999) "
            f"SELECT {', '.join('d.' + c for c in copied.split(', '))}, "
            "CASE WHEN n.i % 2 = 0 THEN 'pending' ELSE 'rejected' END, "
            "CASE WHEN n.i % 3 % 2 = 0 THEN 'staging' ELSE 'production' END "
            "FROM n, deployment_request AS d WHERE d.id = ? ORDER BY n.i",
            (first.id,),
        ),
        "INSERT INTO approval (request_id, reviewer, decision, comment, created_at, "
        "override_reason) SELECT max(id), 'carol', 'approve', '', CURRENT_TIMESTAMP, '' "
        "FROM deployment_request WHERE status = 'pending'",
    )
    statements: list[str] = []
    engine = engine_for(ws)
    listen = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listen)
    try:
        started = time.perf_counter()
        page = list_requests(ws, limit=50)
        elapsed = time.perf_counter() - started
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    assert len(statements) <= 6, statements  # not a few queries per row
    assert elapsed < 2.0
    assert len(page) == 50 and all(r.status == "pending" for r in page)
    assert [r.id for r in page] == sorted((r.id for r in page), reverse=True)
    assert page[0].approved_by == ["carol"] and page[0].needed in (0, 1)
    rejected = list_requests(ws, "rejected", "production", limit=10, offset=5)
    assert len(rejected) == 10 and {(r.status, r.target) for r in rejected} == {
        ("rejected", "production")
    }
    everything = list_requests(ws)
    assert len(everything) == 10_001 and everything[-1].id == first.id  # deployed, oldest
    assert everything[5000].status == "rejected"
    shown = json.loads(
        dockyard("deploy", "list", "--limit", "3", "--offset", "2", "--json", cwd=ws.root).stdout
    )
    assert [r["id"] for r in shown] == [r.id for r in page[2:5]]
    text = dockyard("deploy", "list", "--limit", "2", cwd=ws.root)
    assert len(text.stdout.splitlines()) == 3 and "--offset 2" in text.stderr
    zero = dockyard("deploy", "list", "--limit", "0", cwd=ws.root)
    assert zero.returncode == 2 and "--limit" in one_line_error(zero)
