"""Time to interactive: ``dockyard`` on 100,000 runs against a bare Textual app, side by side.

    python bench/startup.py [--runs 100000] [--repeat 7] [--json-out FILE]

Each sample starts the program for real in a pseudo-terminal (``TERM=xterm-256color``,
120x40 by default), reads what it writes, and notes when

* ``first output``: the first byte arrives (interpreter up, imports done, driver started);
* ``first paint``: the screen's frame is drawn (a header or pane title is on screen);
* ``data shown``: content read from the data is on screen (a table cell; dockyard's run
  total in the Runs pane title);
* ``all shown``: every area has its data (dockyard: the Monitoring pane, loaded last,
  shows its count; the bare app: same as ``data shown``);
* ``interactive``: after ``all shown``, a ``?`` is typed and the help screen's text
  arrives. This is the number the target is about: the screen is drawn *and* a key is
  answered.

The two programs alternate (bare, dockyard, bare, ...) after one unrecorded warm-up each,
so that both see the same machine load and warm file caches. The store is made by
``bench/seed.py`` in a temporary folder unless ``--store`` names one already seeded.
The target (issue 2): dockyard's median within 2.5x the bare app's.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import platform
import re
import select
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
TARGET_RATIO = 2.5
PHASES = ("first_output", "first_paint", "data_shown", "all_shown", "interactive")
SUMMARIZED = (*PHASES, "cpu_interactive")

# Escape sequences, removed so that markers are looked for in the text a user would see.
# Cursor moves become newlines: they separate what was written on different lines.
_CURSOR_MOVE = re.compile(rb"\x1b\[[0-9;]*[Hf]")
_ESCAPES = re.compile(
    rb"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC (window title, clipboard, ...)
    rb"|\x1b[P_^][^\x1b]*\x1b\\"  # DCS / APC / PM
    rb"|\x1b\[[0-?]*[ -/]*[@-~]"  # CSI
    rb"|\x1b[()][0-9A-Za-z]"  # charset selection
    rb"|\x1b[@-Z\\-_=>78]"  # two-byte sequences
)


def screen_text(raw: bytes) -> str:
    """What ``raw`` terminal output says, without its escape sequences."""
    return _ESCAPES.sub(b"", _CURSOR_MOVE.sub(b"\n", raw)).decode("utf-8", "replace")


@dataclass(frozen=True)
class Target:
    """A program to start and the texts (regular expressions) that tell how far its
    startup has come; ``data_markers`` are waited for in order."""

    name: str
    argv: list[str]
    cwd: Path
    paint_marker: str
    data_markers: tuple[str, ...]
    help_marker: str
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class Sample:
    """Seconds from launch to each phase of one start; None where it never came."""

    first_output: float | None = None
    first_paint: float | None = None
    data_shown: float | None = None
    all_shown: float | None = None
    interactive: float | None = None
    # CPU seconds (user + system, all threads) the program had used when it answered the
    # key: much less sensitive than wall time to other work on a busy machine.
    cpu_interactive: float | None = None
    exit_code: int | None = None
    error: str = ""


class Timeout(Exception):
    pass


def _set_size(fd: int, columns: int, lines: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))


def _child_env(extra: dict[str, str]) -> dict[str, str]:
    # PYTHONPATH too: a checkout run with `PYTHONPATH=.pkg` finds `dockyard` only through it
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "USER", "LOGNAME", "TMPDIR", "PYTHONPATH")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.setdefault("LANG", "C.UTF-8")
    env["TERM"] = "xterm-256color"
    return env | extra


class Terminal:
    """One program in a pseudo-terminal, its output collected as it arrives."""

    def __init__(self, target: Target, size: tuple[int, int]) -> None:
        self.target = target
        master, slave = os.openpty()
        _set_size(slave, *size)
        self.master = master
        self.raw = bytearray()
        self.started = time.perf_counter()
        self.first_byte: float | None = None
        self.process = subprocess.Popen(
            target.argv,
            cwd=target.cwd,
            env=_child_env(target.env),
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,  # its own session, with the pty as controlling terminal
            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
            close_fds=True,
        )
        os.close(slave)

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def pump(self, timeout: float) -> bool:
        """Read what is there (waiting at most ``timeout``); False once the pty closed."""
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return True
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # EIO: every process holding the slave side has gone
            return False
        if not chunk:
            return False
        if self.first_byte is None:
            self.first_byte = self.elapsed()
        self.raw += chunk
        return True

    def wait_for(self, marker: str, deadline: float, since: int = 0) -> float:
        """Seconds from launch until ``marker`` (a regular expression) is on screen, in the
        output after ``since``."""
        pattern = re.compile(marker)
        while True:
            if pattern.search(screen_text(bytes(self.raw[since:]))):
                return self.elapsed()
            if self.elapsed() > deadline:
                raise Timeout(f"{marker!r} did not appear within {deadline:.0f} s")
            if not self.pump(0.05) or self.process.poll() is not None:
                self.pump(0)
                if pattern.search(screen_text(bytes(self.raw[since:]))):
                    return self.elapsed()
                raise Timeout(f"the program ended before {marker!r} appeared")

    def send(self, keys: bytes) -> int:
        """Type ``keys``; returns where the answer starts in the output."""
        mark = len(self.raw)
        os.write(self.master, keys)
        return mark

    def quit(self) -> int | None:
        """Close the help screen, press ``q``, and reap the process however it goes."""
        with contextlib.suppress(OSError):
            self.send(b"\x1b")
            self._drain(0.4)  # a lone escape is resolved by Textual after a short delay
            self.send(b"q")
        for keys in (b"", b"\x11"):  # then ctrl+q, Textual's own quit
            if keys:
                with contextlib.suppress(OSError):
                    self.send(keys)
            end = time.perf_counter() + 5
            while time.perf_counter() < end and self.process.poll() is None:
                self._drain(0.05)
            if self.process.poll() is not None:
                break
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        code = self.process.wait()
        self._drain(0)
        os.close(self.master)
        return code

    def _drain(self, seconds: float) -> None:
        end = time.perf_counter() + seconds
        while self.pump(max(0.0, min(0.05, end - time.perf_counter()))):
            if time.perf_counter() >= end:
                break

    def tail(self, lines: int = 12) -> str:
        text = screen_text(bytes(self.raw))
        shown = [line.rstrip() for line in text.splitlines() if line.strip()]
        return "\n".join(shown[-lines:])


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of ``pid`` so far (every thread, live or ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # the command name may hold spaces
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def measure(target: Target, size: tuple[int, int], timeout: float) -> Sample:
    """Start ``target`` once and time its phases."""
    sample = Sample()
    term = Terminal(target, size)
    try:
        sample.first_paint = term.wait_for(target.paint_marker, timeout)
        for index, marker in enumerate(target.data_markers):
            shown = term.wait_for(marker, timeout)
            if index == 0:
                sample.data_shown = shown
            sample.all_shown = shown
        mark = term.send(b"?")
        sample.interactive = term.wait_for(target.help_marker, timeout, since=mark)
        sample.cpu_interactive = cpu_seconds(term.process.pid)
    except Timeout as exc:
        sample.error = f"{exc}; last screen text:\n{term.tail()}"
    finally:
        sample.first_output = term.first_byte
        sample.exit_code = term.quit()
    if not sample.error and sample.exit_code != 0:
        sample.error = f"exited with status {sample.exit_code}:\n{term.tail()}"
    return sample


def summarize(samples: Sequence[Sample]) -> dict[str, dict[str, float]]:
    """Median, min and max of every phase over the samples that reached it."""
    out: dict[str, dict[str, float]] = {}
    for phase in SUMMARIZED:
        values = [v for s in samples if (v := getattr(s, phase)) is not None]
        if values:
            out[phase] = {
                "median": statistics.median(values),
                "min": min(values),
                "max": max(values),
                "n": len(values),
            }
    return out


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        from importlib.metadata import version

        textual = version("textual")
    except Exception:
        textual = "unknown"
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "textual": textual,
        "platform": platform.platform(),
        "load_average": list(os.getloadavg()),
    }


def code_version() -> dict[str, Any]:
    """The commit measured, and the app's files that differed from it (work in progress)."""

    def git(*args: str) -> str:
        try:
            done = subprocess.run(
                ["git", *args], cwd=HERE.parent, capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.SubprocessError):
            return ""
        return done.stdout.rstrip() if done.returncode == 0 else ""

    changed = git("status", "--porcelain", "--", "core", "store", "tui")
    return {
        "commit": git("rev-parse", "--short", "HEAD") or "unknown",
        "uncommitted": [line[3:] for line in changed.splitlines()],
    }


def dockyard_binary() -> Path:
    return Path(sys.executable).parent / "dockyard"


def make_targets(store: Path, args: argparse.Namespace) -> tuple[Target, Target]:
    bare = Target(
        name="bare",
        argv=[sys.executable, str(HERE / "bare_app.py")],
        cwd=HERE,
        paint_marker="Bare app",
        data_markers=("bench-row-001",),
        help_marker="Bare app help",
    )
    dockyard = Target(
        name="dockyard",
        argv=[str(dockyard_binary()), "--home", str(store)],
        cwd=store,
        paint_marker=args.paint_marker,
        data_markers=(
            args.data_marker or re.escape(f"Runs ({args.runs:,})"),
            args.all_marker,
        ),
        help_marker=args.help_marker,
        env={"DOCKYARD_USER": "bench"},
    )
    return bare, dockyard


def print_report(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"Time to interactive, {result['runs']:,} runs, {result['size']}")
    table.add_column("phase")
    table.add_column("bare: median (min-max)", justify="right")
    table.add_column("dockyard: median (min-max)", justify="right")
    table.add_column("ratio", justify="right")
    summary = result["summary"]
    for phase in SUMMARIZED:
        row = [phase.replace("_", " ").replace("cpu ", "CPU to ")]
        medians = []
        for name in ("bare", "dockyard"):
            stats = summary[name].get(phase)
            if stats is None:
                row.append("-")
                continue
            medians.append(stats["median"])
            row.append(f"{stats['median']:.3f} s ({stats['min']:.3f}-{stats['max']:.3f})")
        row.append(f"{medians[1] / medians[0]:.2f}x" if len(medians) == 2 else "-")
        table.add_row(*row, style="bold" if phase == "interactive" else None)
    console.print(table)
    ratio = result["ratio"]
    if ratio is None:
        console.print("[red]no complete sample: see the errors above[/]")
        return
    verdict = "[green]meets[/]" if ratio <= TARGET_RATIO else "[red]misses[/]"
    console.print(
        f"dockyard is interactive in {ratio:.2f}x the bare app's time (medians): {verdict} "
        f"the {TARGET_RATIO}x target. {result['repeat']} runs each; ratio of the fastest "
        f"runs {result['ratio_of_minimums']:.2f}x, of CPU used {result['ratio_cpu'] or 0:.2f}x; "
        f"load average before {result['machine']['load_average'][0]:.2f}, "
        f"after {result['load_average_after'][0]:.2f}."
    )


def run_bench(args: argparse.Namespace) -> dict[str, Any]:
    columns, lines = (int(n) for n in args.size.lower().split("x"))
    size = (columns, lines)
    temp: Path | None = None
    if args.store:
        store = Path(args.store).resolve()
    else:
        from seed import seed_workspace

        temp = Path(tempfile.mkdtemp(prefix="dockyard-bench-"))
        print(f"seeding {args.runs:,} runs in {temp} ...", flush=True)
        report = seed_workspace(temp, runs=args.runs, metrics_per_run=args.metrics_per_run)
        print(report.summary(), flush=True)
        store = temp
    try:
        targets = make_targets(store, args)
        info = machine()
        samples: dict[str, list[Sample]] = {t.name: [] for t in targets}
        errors: list[str] = []
        for round_ in range(-args.warmup, args.repeat):
            for target in targets:
                sample = measure(target, size, args.timeout)
                label = "warm-up" if round_ < 0 else f"{round_ + 1}/{args.repeat}"
                shown = "-" if sample.interactive is None else f"{sample.interactive:.3f} s"
                print(f"  {target.name:<9} {label:<7} interactive {shown}", flush=True)
                if sample.error:
                    errors.append(f"{target.name}: {sample.error}")
                    print(f"    error: {sample.error}", file=sys.stderr, flush=True)
                if round_ >= 0:
                    samples[target.name].append(sample)
    finally:
        if temp is not None and not args.keep_store:
            shutil.rmtree(temp, ignore_errors=True)
    summary = {name: summarize(values) for name, values in samples.items()}
    bare_i = summary["bare"].get("interactive", {}).get("median")
    dock_i = summary["dockyard"].get("interactive", {}).get("median")
    ratio = dock_i / bare_i if bare_i and dock_i else None
    bare_min = summary["bare"].get("interactive", {}).get("min")
    dock_min = summary["dockyard"].get("interactive", {}).get("min")
    bare_cpu = summary["bare"].get("cpu_interactive", {}).get("median")
    dock_cpu = summary["dockyard"].get("cpu_interactive", {}).get("median")
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": info,
        "code": code_version(),
        "runs": args.runs,
        "size": f"{columns}x{lines}",
        "repeat": args.repeat,
        "warmup": args.warmup,
        "target_ratio": TARGET_RATIO,
        "ratio": ratio,
        "ratio_of_minimums": dock_min / bare_min if bare_min and dock_min else None,
        "ratio_cpu": dock_cpu / bare_cpu if bare_cpu and dock_cpu else None,
        "meets_target": ratio is not None and ratio <= TARGET_RATIO,
        "summary": summary,
        "samples": {name: [asdict(s) for s in values] for name, values in samples.items()},
        "errors": errors,
        "load_average_after": list(os.getloadavg()),
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Time to interactive of dockyard on a large store vs a bare Textual app.",
        epilog="example: python bench/startup.py --runs 100000 --repeat 7",
    )
    parser.add_argument("--runs", type=int, default=100_000, help="runs in the store (100000)")
    parser.add_argument("--metrics-per-run", type=int, default=4, help="metric points per run")
    parser.add_argument("--repeat", type=int, default=7, help="recorded starts of each (7)")
    parser.add_argument("--warmup", type=int, default=1, help="unrecorded starts of each (1)")
    parser.add_argument("--size", default="120x40", help="terminal COLUMNSxLINES (120x40)")
    parser.add_argument(
        "--timeout", type=float, default=30.0, help="seconds from launch before giving up (30)"
    )
    parser.add_argument(
        "--json-out",
        type=Path,
        default=RESULTS / "startup.json",
        help="where to write the results (bench/results/startup.json)",
    )
    parser.add_argument("--store", help="an already seeded workspace to use instead")
    parser.add_argument("--keep-store", action="store_true", help="keep the seeded temp store")
    # The markers are regular expressions matched against the text on screen; the
    # defaults follow the home screen's pane titles ("2 Runs (loading)", "2 Runs (100,000)")
    # and the help screen's title ("Help: home").
    parser.add_argument("--paint-marker", default=r"2 Runs \(", help="dockyard: the frame is drawn")
    parser.add_argument(
        "--data-marker", help="dockyard: data is shown (default: the run total in its title)"
    )
    parser.add_argument(
        "--all-marker",
        default=r"5 Monitoring \(\d",
        help="dockyard: the last pane has its data",
    )
    parser.add_argument("--help-marker", default="Help: home", help="dockyard: `?` was answered")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if not dockyard_binary().exists():
        print(f"startup: error: {dockyard_binary()} not found; run `make install`", file=sys.stderr)
        return 2
    result = run_bench(args)
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps(result, indent=2) + "\n")
    print_report(result)
    print(f"results written to {args.json_out}")
    return 0 if result["ratio"] is not None and not result["errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
