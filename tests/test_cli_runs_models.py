"""``dockyard run ...`` and ``dockyard model ...`` run as real processes on a workspace with
really trained runs: exit status, the lines a user reads, the JSON a script reads.

One workspace per module (training is the slow part): ``dockyard init``, ``project add``,
``run start --wait`` (which starts the detached agent), stopped with ``agent stop`` at the
end. Tests that add runs or models use their own names and ids, so they do not depend on
their order.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.test_cli import dockyard as _dockyard
from tests.test_cli import one_line_error

pytestmark = pytest.mark.slow

TOML = """
[project]
name = "tiny"
entry = "python train.py"

[params.C]
type = "float"
default = 1.0
min = 0.0001

[params.fail]
type = "bool"
default = false

[params.gate]
type = "str"
default = ""

[metrics]
primary = "accuracy"
direction = "maximize"

[[gates]]
metric = "accuracy"
min = 0.8

[[gates]]
metric = "loss"
max = 0.7
"""

# gate: wait for that file before ending (a run that is running for as long as a test
# needs, released by a condition, not a sleep); fail: exit 1 at once.
TRAIN = """
import sys, time
from pathlib import Path
from dockyard.core.tracking import Tracker

with Tracker.from_env() as t:
    p = t.params
    print(f"start C={p['C']}", flush=True)
    if p["fail"]:
        print("failing on purpose", flush=True)
        sys.exit(1)
    if p["gate"]:
        print("waiting for the gate", flush=True)
        while not Path(p["gate"]).exists():
            time.sleep(0.05)
        print("released", flush=True)
        sys.exit(0)
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True)
    for step in range(5):
        t.log_metric("loss", 1.0 / (step + 1) / p["C"], step=step)
    model = LogisticRegression(C=p["C"], max_iter=500).fit(X, y)
    t.log_metric("accuracy", float(model.score(X, y)))
    t.log_model(model, name="model")
    print("trained", flush=True)
"""

#: Training accuracy of LogisticRegression(C=1, max_iter=500) on iris: 146 of 150.
ACCURACY_C1 = 146 / 150


class Lab:
    """The module's workspace: ``run(...)`` is ``dockyard ...`` in it."""

    def __init__(self, root: Path, cache: Path) -> None:
        self.root = root
        self.env = {"XDG_CACHE_HOME": str(cache)}

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return _dockyard(*args, cwd=self.root, env=self.env, timeout=timeout)

    def ok(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        result = self.run(*args, timeout=timeout)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json").stdout)

    def error(self, code: int, *args: str) -> str:
        """The one error line of a command that must fail with exit status ``code``."""
        result = self.run(*args)
        assert result.returncode == code, (args, result.stdout, result.stderr)
        return one_line_error(result)

    def log(self, run_id: int) -> Path:
        return self.root / ".dockyard" / "logs" / f"run-{run_id}.log"

    def queue(self, *params: str) -> int:
        (queued,) = self.json("run", "start", "tiny", *[a for p in params for a in ("-p", p)])
        return int(queued["id"])

    def wait_for_log(self, run_id: int, text: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.log(run_id).is_file() and text in self.log(run_id).read_text():
                return
            time.sleep(0.05)
        raise AssertionError(f"run {run_id} never logged {text!r}")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """Runs 1 (C=1) and 2 (C=0.01) finished with a model; run 3 failed."""
    root = tmp_path_factory.mktemp("cli-lab")
    lab = Lab(root, tmp_path_factory.getbasetemp() / "xdg-cache")
    lab.ok("init")
    (root / "tiny").mkdir()
    (root / "tiny" / "dockyard.toml").write_text(TOML)
    (root / "tiny" / "train.py").write_text(TRAIN)
    lab.ok("project", "add", "tiny")
    try:
        started = lab.ok("run", "start", "tiny", "-p", "C=1,0.01", "--wait", timeout=300)
        assert "Queued runs 1, 2 of tiny as sweep" in started.stdout
        assert "run 1 finished in " in started.stdout
        assert f"accuracy={ACCURACY_C1:.4g}" in started.stdout
        # Run 3 goes to the agent that is already up; `run logs -f` follows it from the
        # queue to its end.
        assert lab.queue("fail=true") == 3
        followed = lab.ok("run", "logs", "-f", "3", timeout=300)
        assert followed.stdout.splitlines()[-2:] == ["start C=1.0", "failing on purpose"]
        yield lab
    finally:
        stopped = lab.run("agent", "stop")
        assert stopped.returncode == 0 and "stopped the agent" in stopped.stdout, stopped


# --- runs -----------------------------------------------------------------------------------


def test_run_list_shows_status_metric_and_params(lab: Lab) -> None:
    runs = {r["id"]: r for r in lab.json("run", "list")}
    assert (runs[1]["status"], runs[2]["status"], runs[3]["status"]) == (
        "finished", "finished", "failed"
    )  # fmt: skip
    assert runs[1]["primary_value"] == pytest.approx(ACCURACY_C1)
    table = lab.ok("run", "list").stdout.splitlines()
    assert table[0].split() == ["ID", "PROJECT", "STATUS", "DURATION", "METRIC", "PARAMS"]
    row = next(line.split() for line in table[1:] if line.split()[0] == "1")
    assert row[1:3] == ["tiny", "finished"]
    assert f"accuracy={ACCURACY_C1:.4g}" in row and "C=1.0" in row
    failed = lab.json("run", "list", "--status", "failed", "--project", "tiny")
    assert 3 in [r["id"] for r in failed] and {r["status"] for r in failed} == {"failed"}
    assert lab.ok("run", "list", "--project", "nope").stdout.startswith("No runs;")


def test_run_logs_prints_and_follows_a_live_run(lab: Lab, tmp_path: Path) -> None:
    assert lab.ok("run", "logs", "1").stdout.splitlines()[-2:] == ["start C=1.0", "trained"]
    gate = tmp_path / "gate"
    run_id = lab.queue(f"gate={gate}")
    follow = subprocess.Popen(
        [sys.executable, "-m", "dockyard.tui", "run", "logs", "-f", str(run_id)],
        cwd=lab.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert follow.stdout is not None
        lines = []
        for line in follow.stdout:  # it prints while the run is still running ...
            lines.append(line.rstrip("\n"))
            if line.startswith("waiting for the gate"):
                break
        gate.touch()  # the run cannot have ended before this: it waits for the gate
        rest, err = follow.communicate(timeout=120)  # ... and ends when the run does
    finally:
        follow.kill()
    assert follow.returncode == 0 and err == ""
    assert [*lines, *rest.splitlines()][-3:] == ["start C=1.0", "waiting for the gate", "released"]
    assert "no run with id 999" in lab.error(2, "run", "logs", "999")


def test_run_cancel_stops_a_running_run(lab: Lab, tmp_path: Path) -> None:
    run_id = lab.queue(f"gate={tmp_path / 'never'}")
    lab.wait_for_log(run_id, "waiting for the gate")
    assert lab.ok("run", "cancel", str(run_id)).stdout == f"run {run_id}: cancelling\n"
    lab.ok("run", "logs", "-f", str(run_id))  # returns once the run has ended
    shown = lab.json("run", "show", str(run_id))
    assert shown["status"] == "cancelled"
    assert "released" not in lab.log(run_id).read_text()
    again = lab.error(1, "run", "cancel", str(run_id))
    assert f"run {run_id} has already cancelled; nothing to cancel" in again
    assert "no run with id 999" in lab.error(2, "run", "cancel", "999")


def test_run_retry_queues_the_same_params_and_waits(lab: Lab) -> None:
    retried = lab.run("run", "retry", "3", "--wait", timeout=300)
    assert retried.returncode == 1, (retried.stdout, retried.stderr)  # it failed again
    first, outcome = retried.stdout.splitlines()
    assert first.startswith("Queued run ") and first.endswith(" (retry of 3)")
    new_id = int(first.split()[2])
    assert outcome.startswith(f"run {new_id} failed in ")
    assert "failing on purpose" in retried.stderr.splitlines()
    shown = lab.json("run", "show", str(new_id))
    assert shown["params"] == {"C": "1.0", "fail": "True", "gate": ""}  # run 3's
    assert shown["status"] == "failed" and shown["exit_code"] == 1
    assert "no run with id 999" in lab.error(2, "run", "retry", "999")


# --- models ---------------------------------------------------------------------------------


def register(lab: Lab, run_id: int, name: str) -> str:
    out = lab.ok("model", "register", str(run_id), "--name", name).stdout
    assert out.startswith(f"Registered {name}@") and f"from run {run_id} (sha256 " in out
    return out.split()[1]


def test_model_register_and_show(lab: Lab) -> None:
    out = lab.ok("model", "register", "1", "--name", "iris", "-m", "baseline").stdout
    assert out.startswith("Registered iris@1 from run 1 (sha256 ")
    version = lab.json("model", "show", "iris@1")
    assert out.rstrip().endswith(f"{version['artifact_sha256'][:12]})")
    assert version["description"] == "baseline" and version["run_id"] == 1
    shown = lab.ok("model", "show", "iris@1").stdout.splitlines()
    assert shown[0] == "iris@1  run 1  (tiny)"
    assert f"  accuracy = {ACCURACY_C1:.6g}" in shown and "  description  baseline" in shown
    table = lab.ok("model", "show", "iris").stdout.splitlines()
    assert table[0].split() == ["VERSION", "RUN", "ALIASES", "METRIC", "CREATED"]
    assert table[1].split()[:3] == ["1", "1", f"accuracy={ACCURACY_C1:.4g}"]
    for args, message in (
        (("register", "3", "--name", "iris"), "run 3 is failed; only a finished run"),
        (("register", "999", "--name", "iris"), "no run with id 999"),
        (("show", "nope@1"), "no model named 'nope'"),
    ):
        assert message in lab.error(2, "model", *args), args


def test_model_alias_list_and_history(lab: Lab) -> None:
    first, second = register(lab, 1, "aliased"), register(lab, 2, "aliased")
    assert lab.ok("model", "alias", first, "champion").stdout == "aliased@champion -> version 1\n"
    # version 2 fails its loss gate: moved only with --force, and said so
    assert lab.ok("model", "alias", second, "champion", "--force").stdout == (
        "aliased@champion -> version 2 (forced past failing gates)\n"
    )
    listed = lab.ok("model", "list").stdout.splitlines()
    assert listed[0].split() == ["NAME", "LATEST", "VERSIONS", "ALIASES", "METRIC"]
    row = next(line.split() for line in listed if line.startswith("aliased "))
    assert row[:4] == ["aliased", "2", "2", "champion=v2"] and row[4].startswith("accuracy=")
    assert lab.json("model", "show", "aliased@champion")["version"] == 2
    removed = lab.ok("model", "alias", "aliased", "champion", "--remove").stdout
    assert removed == "Removed alias champion from aliased\n"
    moves = lab.ok("model", "show", "aliased").stdout.split("alias moves:\n")[1].splitlines()
    shown = [line.split("champion: ")[1].split("  by ")[0] for line in moves]
    assert shown == ["- -> v1", "v1 -> v2", "v2 -> removed"]
    assert "not a valid alias" in lab.error(2, "model", "alias", first, "Bad Alias")


def alias_at_a_terminal(lab: Lab, ref: str, answer: bytes) -> tuple[int, str, str]:
    """``model alias REF champion`` with its stdin and stderr on a pseudo-terminal, as a
    person types it: answers the question with ``answer``; (status, stdout, terminal)."""
    master, slave = os.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "dockyard.tui", "model", "alias", ref, "champion"],
        cwd=lab.root, env={**env, **lab.env}, stdin=slave, stderr=slave,
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 60
    while b"anyway? [y/N]" not in seen:
        assert time.monotonic() < deadline, seen
        seen += os.read(master, 4096)
    os.write(master, answer + b"\n")
    stdout, _ = process.communicate(timeout=60)
    with contextlib.suppress(OSError):  # the rest of what the terminal showed
        while chunk := os.read(master, 4096):
            seen += chunk
    os.close(master)
    return process.returncode, stdout, seen.decode()


def test_champion_on_a_version_failing_its_gates_is_confirmed_forced_or_refused(
    lab: Lab,
) -> None:
    weak = register(lab, 2, "gated")  # C=0.01: loss 20 fails `loss <= 0.7`
    line = lab.error(2, "model", "alias", weak, "champion")  # not a terminal, no --force
    assert line.startswith(f"dockyard: error: {weak} fails its gates (")
    assert "loss 20 (needs <= 0.7)" in line and line.endswith(
        "pass --force to make it champion anyway"
    )
    assert lab.json("model", "show", weak)["aliases"] == []

    status, stdout, shown = alias_at_a_terminal(lab, weak, b"n")
    assert status == 1 and stdout == ""
    assert f"dockyard: warning: {weak} fails its gates: " in shown
    assert "dockyard: error: champion not moved; nothing changed" in shown
    assert lab.json("model", "show", weak)["aliases"] == []

    status, stdout, shown = alias_at_a_terminal(lab, weak, b"y")
    assert status == 0, shown
    assert stdout == "gated@champion -> version 1 (forced past failing gates)\n"
    assert lab.json("model", "show", weak)["aliases"] == ["champion"]

    lab.ok("model", "alias", "gated", "champion", "--remove")
    forced = lab.ok("model", "alias", weak, "champion", "--force")
    assert forced.stdout == "gated@champion -> version 1 (forced past failing gates)\n"
    assert forced.stderr.startswith(f"dockyard: warning: {weak} fails its gates: ")
    moves = [
        e for e in lab.json("audit", "log", "--model", "gated") if e["action"] == "model.alias"
    ]
    assert [m["details"].get("forced", False) for m in moves] == [True, False, True]
    assert "forced past failing gates: " in lab.ok("audit", "log", "--model", "gated").stdout


def test_model_edit_description_and_tags(lab: Lab) -> None:
    ref = register(lab, 1, "editable")
    assert lab.ok("model", "edit", ref, "-m", "new words", "-t", "reviewed=yes").stdout == (
        f"Updated {ref}\n"
    )
    edited = lab.json("model", "show", ref)
    assert (edited["description"], edited["tags"]) == ("new words", {"reviewed": "yes"})
    assert "'oops' is not KEY=VALUE" in lab.error(2, "model", "edit", ref, "-t", "oops")
    assert "no model named 'nope'" in lab.error(2, "model", "edit", "nope@1", "-m", "x")


def test_model_compare_in_every_format(lab: Lab) -> None:
    a, b = register(lab, 1, "cmp"), register(lab, 2, "cmp")
    table = lab.ok("model", "compare", a, b, "run:3").stdout.splitlines()
    assert table[0].split() == [a, b, "run", "3"]
    loss = next(line for line in table if line.startswith("loss "))
    assert loss.split()[1:4] == ["0.2", "20", "(+19.8"] and "-)" in loss  # worse: lower wins
    assert any(line.split()[:4] == ["param", "C", "1.0", "0.01"] for line in table)
    assert table[-1].endswith("identical rows hidden; --all shows them)")
    rows = list(csv.reader(io.StringIO(lab.ok("model", "compare", a, b, "--format", "csv").stdout)))
    assert rows[0] == ["row", a, b]
    assert ["accuracy", f"{ACCURACY_C1:.4g}"] == next(r for r in rows if r[0] == "accuracy")[:2]
    data = json.loads(lab.ok("model", "compare", a, b, "--format", "json").stdout)
    assert data["baseline"] == a
    assert "at least 2" in lab.error(2, "model", "compare", a)


def test_model_report_checks_the_gates(lab: Lab) -> None:
    good, weak = register(lab, 1, "reported"), register(lab, 2, "reported")
    lab.ok("model", "alias", good, "champion")
    text = lab.ok("model", "report", weak).stdout
    assert "FAILED" in text and "| loss | <= 0.7 | 20 | FAIL |" in text
    report = json.loads(lab.ok("model", "report", good, "--format", "json").stdout)
    assert report["gates_passed"] is True and report["champion"]["is_this_version"] is True
    assert "has no version 9" in lab.error(2, "model", "report", "reported@9")
