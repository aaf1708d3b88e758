"""The suite bounds itself: every test has a time limit, and a test that fails or times
out half-way leaves no detached agent behind (``conftest._stop_what_the_test_started``)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

INNER = """
import os, time
from pathlib import Path
from dockyard.core.agent import agent_status, ensure_agent
from dockyard.core.workspace import init_workspace

def test_starts_an_agent_then_hangs(tmp_path):
    ws = init_workspace(tmp_path / "ws")
    assert ensure_agent(ws)
    deadline = time.monotonic() + 30
    while not agent_status(ws).alive and time.monotonic() < deadline:
        time.sleep(0.1)
    Path(os.environ["AGENT_PID_FILE"]).write_text(str(agent_status(ws).pid))
    time.sleep(120)  # pytest-timeout ends this
"""


@pytest.mark.slow
def test_a_test_that_times_out_leaves_no_agent_running(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["tests.conftest"]\n')
    (tmp_path / "test_inner.py").write_text(INNER)
    pid_file = tmp_path / "agent.pid"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCKYARD_", "PYTEST_"))}
    # the checkout's package, and the checkout itself for `tests.conftest`
    env.update(
        PYTHONPATH=os.pathsep.join([str(REPO / ".pkg"), str(REPO)]), AGENT_PID_FILE=str(pid_file)
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
         "--timeout", "15", "--basetemp", str(tmp_path / "inner"), "test_inner.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Timeout" in result.stdout, result.stdout
    pid = int(pid_file.read_text())
    assert pid > 0
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(f"/proc/{pid}").exists(), f"agent {pid} outlived its failed test"


def test_every_test_has_a_time_limit(pytestconfig: pytest.Config) -> None:
    assert pytestconfig.pluginmanager.hasplugin("timeout")
    assert 0 < float(pytestconfig.getini("timeout")) <= 600
