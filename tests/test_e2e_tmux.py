"""End to end: the real ``dockyard`` binary in a real terminal (tmux), driven by keys.

Each test has its own tmux server (``tmux -L <unique socket>``, no user config) at a fixed
size, killed whatever happens. The binary is the one installed beside the running Python,
and the environment carries no ``DOCKYARD_*`` variable from the developer's shell.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

DOCKYARD = Path(sys.executable).parent / "dockyard"
PANE_TITLES = ("Datasets", "Runs", "Models", "Deployments", "Monitoring")
HELP_TEXTS = ("Help: home", "Keys that work")
START_TIMEOUT = 20.0
STEP_TIMEOUT = 10.0


def clean_env() -> dict[str, str]:
    """The caller's environment without Dockyard's variables or an enclosing tmux."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DOCKYARD_", "TMUX", "TEXTUAL_")) and k != "NO_COLOR"
    }
    env["DOCKYARD_USER"] = "e2e"
    env.setdefault("LANG", "C.UTF-8")
    return env


class Tmux:
    """One private tmux server with one session; ``screen()`` is what the pane shows."""

    def __init__(self, env: dict[str, str]) -> None:
        self.socket = f"dockyard-e2e-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.env = env
        self.session = "e2e"

    def tmux(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["tmux", "-L", self.socket, "-f", "/dev/null", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    def start(self, command: str, cwd: Path, width: int = 100, height: int = 30) -> None:
        result = self.tmux(
            "new-session", "-d", "-s", self.session, "-x", str(width), "-y", str(height),
            "-c", str(cwd), command,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr

    def screen(self) -> str:
        result = self.tmux("capture-pane", "-p", "-t", self.session)
        return result.stdout if result.returncode == 0 else ""

    def press(self, *keys: str) -> None:
        for key in keys:
            result = self.tmux("send-keys", "-t", self.session, key)
            assert result.returncode == 0, result.stderr

    def wait_for(self, check: Callable[[str], bool], timeout: float, what: str) -> str:
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.screen()
            if check(text):
                return text
            time.sleep(0.1)
        pytest.fail(f"{what} did not appear within {timeout:.0f} s; the screen was:\n{text}")

    def kill(self) -> None:
        self.tmux("kill-server")


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    assert shutil.which("tmux"), "tmux is needed by the end-to-end tests (make test installs it)"
    server = Tmux(clean_env())
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def demo_workspace(tmp_path: Path) -> Path:
    folder = tmp_path / "demo"
    result = subprocess.run(
        [str(DOCKYARD), "demo", str(folder), "--no-tui"],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (folder / ".dockyard" / "dockyard.db").is_file()
    return folder


def home_drawn(text: str) -> bool:
    return all(title in text for title in PANE_TITLES)


def help_shown(text: str) -> bool:
    return any(marker in text for marker in HELP_TEXTS)


@pytest.mark.slow
def test_dockyard_opens_answers_keys_and_quits_with_q(tmux: Tmux, demo_workspace: Path) -> None:
    # `sleep` keeps the pane (and its last screen) alive after dockyard has exited.
    tmux.start(f"{DOCKYARD}; echo EXIT=$?; sleep 60", cwd=demo_workspace)
    home = tmux.wait_for(home_drawn, START_TIMEOUT, "the home screen's five panes")
    assert "Traceback" not in home

    tmux.press("2")
    tmux.press("?")
    tmux.wait_for(help_shown, STEP_TIMEOUT, "the help screen")
    tmux.press("Escape")
    tmux.wait_for(
        lambda text: home_drawn(text) and not help_shown(text),
        STEP_TIMEOUT,
        "the home screen after closing help",
    )
    tmux.press("q")
    final = tmux.wait_for(lambda text: "EXIT=" in text, STEP_TIMEOUT, "dockyard's exit")
    assert "EXIT=0" in final, final
    assert "Traceback" not in final


@pytest.mark.slow
def test_outside_a_workspace_is_one_line_naming_init_and_demo(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(DOCKYARD)],
        cwd=tmp_path,
        env=clean_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "dockyard init" in lines[0] and "dockyard demo" in lines[0]
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def dockyard_json(workspace: Path, *args: str) -> object:
    import json

    result = subprocess.run(
        [str(DOCKYARD), *args, "--json"],
        cwd=workspace,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(result.stdout)


@pytest.mark.slow
def test_a_run_launched_from_the_tui_survives_the_terminal_dying(
    tmux: Tmux, demo_workspace: Path
) -> None:
    """Launch from the form, then kill the terminal (as a dropped SSH link does)."""
    tmux.start(f"{DOCKYARD}", cwd=demo_workspace)
    tmux.wait_for(home_drawn, START_TIMEOUT, "the home screen's five panes")
    # the demo queues one run per sample in the background: the form's run is the new one
    before = dockyard_json(demo_workspace, "run", "list")
    assert isinstance(before, list)
    known = {int(r["id"]) for r in before}
    tmux.press("n")
    tmux.wait_for(
        lambda text: "New run" in text and "picks a project" in text and "seed" in text,
        STEP_TIMEOUT,
        "the launch form with a project's parameters",
    )
    # the form preselects the highlighted run's project; wine is the last of the list
    tmux.press("End")
    tmux.wait_for(lambda text: "cultivar" in text, STEP_TIMEOUT, "wine's parameters")
    tmux.press("C-s")
    launched: list[int] = []

    def queued(_text: str) -> bool:
        runs = dockyard_json(demo_workspace, "run", "list")
        assert isinstance(runs, list)
        launched[:] = [int(r["id"]) for r in runs if int(r["id"]) not in known]
        return bool(launched)

    tmux.wait_for(queued, STEP_TIMEOUT, "the run queued from the form")
    tmux.kill()  # SIGHUP to dockyard, like an SSH disconnect
    try:
        deadline = time.monotonic() + 60
        status = ""
        run: dict[str, object] = {}
        while time.monotonic() < deadline:
            shown = dockyard_json(demo_workspace, "run", "show", str(launched[0]))
            assert isinstance(shown, dict)
            run = shown
            status = str(run["status"])
            if status in ("finished", "failed", "cancelled", "lost"):
                break
            time.sleep(0.5)
        assert status == "finished", run
        assert run["project"] == "wine" and run["dataset"] == "wine@1"
    finally:
        subprocess.run(
            [str(DOCKYARD), "agent", "stop"],
            cwd=demo_workspace,
            env=clean_env(),
            capture_output=True,
            timeout=30,
            check=False,
        )


# --- hostile data never reaches the terminal as control ---------------------------------------

#: OSC 0 (set the window title to "pwned") then "clear the screen"; and as Dockyard shows it.
EVIL = "\x1b]0;pwned\x07\x1b[2J"
EVIL_SHOWN = "␛]0;pwned␇␛[2J"

HOSTILE_TOML = """
[project]
name = "hostile"
description = "prints an escape sequence"
entry = "python train.py"
"""

# The escape sequence goes out on stdout (the run's log) and as a tag value.
HOSTILE_TRAIN = """
import json

EVIL = "\\x1b]0;pwned\\x07\\x1b[2J"
print("hello " + EVIL + " world", flush=True)
print("@dockyard " + json.dumps({"tag": "title", "value": EVIL}), flush=True)
print("@dockyard " + json.dumps({"metric": "loss", "value": 0.5, "step": 1}), flush=True)
"""


def dockyard_ok(cwd: Path, *args: str, timeout: float = 60) -> str:
    result = subprocess.run(
        [str(DOCKYARD), *args],
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result.stdout


@pytest.fixture
def hostile_workspace(tmp_path: Path) -> Iterator[Path]:
    """A workspace built with the real binary: a CSV whose header carries :data:`EVIL`,
    and a finished run whose script printed it to its log and set it as a tag."""
    import csv

    folder = tmp_path / "hostile"
    project = folder / "project"
    project.mkdir(parents=True)
    (project / "dockyard.toml").write_text(HOSTILE_TOML)
    (project / "train.py").write_text(HOSTILE_TRAIN)
    with (folder / "hostile.csv").open("w", newline="") as file:
        csv.writer(file).writerows([["a", EVIL], ["1", "2"], ["3", "4"]])
    dockyard_ok(folder, "init", ".")
    dockyard_ok(folder, "project", "add", "project")
    dockyard_ok(folder, "data", "add", "hostile", "hostile.csv", "-m", f"header {EVIL}")
    try:
        dockyard_ok(folder, "run", "start", "hostile", "--wait", timeout=120)
        run = dockyard_json(folder, "run", "show", "1")
        assert isinstance(run, dict) and run["tags"]["title"] == EVIL, run
        yield folder
    finally:
        subprocess.run(
            [str(DOCKYARD), "agent", "stop"],
            cwd=folder,
            env=clean_env(),
            capture_output=True,
            timeout=30,
            check=False,
        )


@pytest.mark.slow
def test_escape_sequences_in_data_never_reach_the_terminal(
    tmux: Tmux, hostile_workspace: Path
) -> None:
    """The dataset screen (CSV header), the run screen (tag) and its log (the script's
    output) show the sequence made visible; the pane's title and screen are untouched."""
    tmux.start(f"{DOCKYARD}; sleep 60", cwd=hostile_workspace, width=120, height=36)
    assert tmux.tmux("select-pane", "-t", tmux.session, "-T", "untouched").returncode == 0

    def title() -> str:
        return tmux.tmux("display", "-p", "-t", tmux.session, "#{pane_title}").stdout.strip()

    def settle(check: Callable[[str], bool]) -> None:
        # Wait for the screen, but check the title whatever came: a clear screen never
        # shows the text waited for, and the title is the first thing to assert.
        deadline = time.monotonic() + STEP_TIMEOUT
        while time.monotonic() < deadline and not check(tmux.screen()):
            time.sleep(0.1)
        assert title() == "untouched", tmux.screen()

    def intact(text: str, head: str) -> bool:
        # the screen's first line and the footer on the last are still drawn: not cleared
        # (the footer's keys depend on the screen and its width; "? Help" is on every one)
        lines = text.rstrip("\n").splitlines()
        return len(lines) > 2 and head in lines[0] and "? Help" in lines[-1]

    tmux.wait_for(home_drawn, START_TIMEOUT, "the home screen's five panes")

    # Each step waits for text that shows the hostile string was drawn, checks the title,
    # then checks the string was drawn made visible on a screen that was not cleared.
    tmux.press("1", "Enter")
    settle(lambda t: t.count("int64") == 2)  # the CSV header is a row of the profile
    tmux.wait_for(
        lambda t: EVIL_SHOWN in t and intact(t, "dataset hostile"), STEP_TIMEOUT, "the header"
    )
    tmux.press("s")
    settle(lambda t: "rows 1-2 of 2" in t)  # ... and the preview's column heading
    tmux.wait_for(
        lambda t: EVIL_SHOWN in t and intact(t, "dataset hostile"), STEP_TIMEOUT, "the heading"
    )

    tmux.press("2")  # back home (no esc: esc then a key reads as alt+key)
    tmux.wait_for(home_drawn, STEP_TIMEOUT, "the home screen")
    tmux.press("Enter")
    settle(lambda t: "hello" in t and "world" in t and "Tags" in t)  # the log line, the tag
    tmux.wait_for(
        lambda t: (
            f"hello {EVIL_SHOWN} world" in t
            and f"title       {EVIL_SHOWN}" in t
            and intact(t, "Run 1")
        ),
        STEP_TIMEOUT,
        "the log line and the tag, made visible, on a whole screen",
    )

    tmux.press("q")
    final = tmux.wait_for(lambda t: "Runs" not in t or "$" in t, STEP_TIMEOUT, "dockyard's exit")
    assert title() == "untouched", final
