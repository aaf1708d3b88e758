"""``dockyard data …`` as a real process: output, --json shapes, one-line errors, ctrl+c."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dockyard.core.datasets import RegisterProgress

ROOT = Path(__file__).resolve().parents[1]


def env() -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
    out["PYTHONPATH"] = str(ROOT / ".pkg")
    out["DOCKYARD_USER"] = "tester"
    return out


def dockyard(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dockyard.tui", *args],
        cwd=cwd,
        env=env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("dockyard: error: ") and "Traceback" not in result.stderr
    return lines[0]


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    assert dockyard("init", cwd=tmp_path).returncode == 0
    return tmp_path


def stored_files(root: Path) -> list[Path]:
    return [p for p in (root / ".dockyard" / "objects").rglob("*") if p.is_file()]


CSV1 = "x,y,label\n1,2.5,a\n2,3.5,b\n3,,a\n"
CSV2 = CSV1 + "4,9.5,c\n"


def test_add_list_versions_show_head_export_diff(ws: Path) -> None:
    (ws / "d.csv").write_text(CSV1)
    added = dockyard("data", "add", "demo", "d.csv", "-m", "first", "--json", cwd=ws)
    assert added.returncode == 0, added.stderr
    assert added.stderr == ""  # no progress bar when not a terminal
    v1 = json.loads(added.stdout)
    assert v1["created"] is True and v1["version"] == 1 and v1["author"] == "tester"
    assert set(v1) >= {"content_hash", "hash_algo", "n_rows", "n_cols", "columns", "object_path"}

    same = dockyard("data", "add", "demo", "d.csv", cwd=ws)
    assert same.returncode == 0 and "identical content is already version 1" in same.stdout

    (ws / "d.csv").write_text(CSV2)
    plain = dockyard("data", "add", "demo", "d.csv", "-m", "more", cwd=ws)
    assert plain.returncode == 0 and plain.stdout.startswith("Registered demo@2: 4 rows x 3")

    listed = json.loads(dockyard("data", "list", "--json", cwd=ws).stdout)
    assert listed[0]["name"] == "demo" and listed[0]["latest_version"] == 2
    assert listed[0]["versions"] == 2 and listed[0]["n_rows"] == 4
    assert "demo" in dockyard("data", "list", cwd=ws).stdout

    versions = json.loads(dockyard("data", "versions", "demo", "--json", cwd=ws).stdout)
    assert [v["version"] for v in versions] == [2, 1]
    assert "more" in dockyard("data", "versions", "demo", cwd=ws).stdout

    shown = json.loads(dockyard("data", "show", "demo@1", "--json", cwd=ws).stdout)
    assert shown["profile"]["rows"] == 3
    label = shown["profile"]["columns"][2]
    assert label["top"] == [["a", 2], ["b", 1]]
    text = dockyard("data", "show", "demo", cwd=ws).stdout
    assert "demo@2" in text and "missing" in text.lower() and "a (2)" in text

    rows = json.loads(dockyard("data", "head", "demo@1", "-n", "2", "--json", cwd=ws).stdout)
    assert rows == [{"x": 1, "y": 2.5, "label": "a"}, {"x": 2, "y": 3.5, "label": "b"}]
    assert "label" in dockyard("data", "head", "demo", cwd=ws).stdout

    out = dockyard("data", "export", "demo@1", "v1.csv", cwd=ws)
    assert out.returncode == 0 and (ws / "v1.csv").read_text() == CSV1

    diff = json.loads(dockyard("data", "diff", "demo@1", "demo@2", "--json", cwd=ws).stdout)
    assert diff["rows_change"] == 1 and diff["added"] == [] and len(diff["columns"]) == 3
    assert "rows: 3 -> 4 (+1)" in dockyard("data", "diff", "demo@1", "demo@2", cwd=ws).stdout

    assert json.loads(dockyard("data", "lineage", "demo", "--json", cwd=ws).stdout) == []


def test_help_has_examples(ws: Path) -> None:
    for command in ("add", "list", "show", "versions", "head", "export", "diff", "lineage"):
        result = dockyard("data", command, "--help", cwd=ws)
        assert result.returncode == 0 and "dockyard data" in result.stdout, command


BAD = [
    ("missing path", None, None, "no such file"),
    ("empty file", "e.csv", b"", "is empty"),
    ("header only", "h.csv", b"a,b\n", "header but no data rows"),
    ("ragged rows", "r.csv", b"a,b\n1,2\n3\n", "line 3 has 1 field"),
    ("not utf-8", "l.csv", "a\ncaf\u00e9\n".encode("latin-1"), "not UTF-8"),
    ("binary garbage", "g.csv", bytes(range(256)) * 4, "binary data"),
    ("duplicate columns", "d.csv", b"a,a\n1,2\n", "appears twice"),
    ("unsupported extension", "x.json", b"{}", ".json files are not supported"),
]


@pytest.mark.parametrize(("case", "name", "content", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_exits_2_with_one_line_and_nothing_stored(
    ws: Path, case: str, name: str | None, content: bytes | None, message: str
) -> None:
    path = name or "absent.csv"
    if content is not None:
        (ws / path).write_bytes(content)
    result = dockyard("data", "add", "bad", path, cwd=ws)
    assert result.returncode == 2
    assert message in one_line_error(result)
    assert stored_files(ws) == []
    assert json.loads(dockyard("data", "list", "--json", cwd=ws).stdout) == []


def test_bad_names_and_versions_exit_2(ws: Path) -> None:
    (ws / "d.csv").write_text(CSV1)
    bad_name = dockyard("data", "add", "Bad Name", "d.csv", cwd=ws)
    assert bad_name.returncode == 2 and "not a valid dataset name" in one_line_error(bad_name)
    assert dockyard("data", "add", "demo", "d.csv", cwd=ws).returncode == 0
    for args, message in (
        (("show", "demo@5"), "has no version 5"),
        (("head", "demo@x"), "is not a version"),
        (("export", "demo@9", "out.csv"), "has no version 9"),
        (("diff", "demo@1", "demo@3"), "has no version 3"),
        (("versions", "nope"), "no dataset named 'nope'"),
    ):
        result = dockyard("data", *args, cwd=ws)
        assert result.returncode == 2, args
        assert message in one_line_error(result)


@pytest.mark.slow
def test_ctrl_c_during_add_leaves_nothing(ws: Path) -> None:
    big = ws / "big.csv"
    with open(big, "w") as f:
        f.write(",".join(f"c{i}" for i in range(20)) + "\n")
        row = ",".join(str(i * 1.5) for i in range(20)) + "\n"
        f.write(row * 2_000_000)
    proc = subprocess.Popen(
        [sys.executable, "-m", "dockyard.tui", "data", "add", "big", "big.csv"],
        cwd=ws,
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    tmp = ws / ".dockyard" / "objects" / "tmp"
    size = big.stat().st_size

    def copied() -> bool:
        # The staged copy is complete: the registration is past its copy, in the hashing
        # and profiling that take most of its time, with a temporary object to clean up.
        for part in tmp.glob("*.part"):
            with contextlib.suppress(FileNotFoundError):  # renamed or removed meanwhile
                if part.stat().st_size == size:
                    return True
        return False

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None and not copied():
        time.sleep(0.002)
    assert proc.poll() is None, "finished before it could be interrupted"
    assert copied(), "no staged copy appeared"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (proc.returncode, out, err)
    assert err.strip() == "dockyard: error: interrupted"
    assert stored_files(ws) == []
    assert json.loads(dockyard("data", "list", "--json", cwd=ws).stdout) == []


@pytest.mark.slow
def test_temporary_files_of_a_killed_add_go_at_the_next_command(ws: Path) -> None:
    big = ws / "big.csv"
    with open(big, "w") as f:
        f.write(",".join(f"c{i}" for i in range(20)) + "\n")
        row = ",".join(str(i * 1.5) for i in range(20)) + "\n"
        f.write(row * 2_000_000)
    proc = subprocess.Popen(
        [sys.executable, "-m", "dockyard.tui", "data", "add", "big", "big.csv"],
        cwd=ws,
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    tmp = ws / ".dockyard" / "objects" / "tmp"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (tmp.is_dir() and any(tmp.iterdir())):
        time.sleep(0.002)
    time.sleep(0.2)  # halfway: the copy is staged, the profile pass is running
    assert proc.poll() is None, "finished before it could be killed"
    proc.kill()  # SIGKILL: no handler runs, the staged copy stays
    proc.wait(timeout=30)
    left = list(tmp.iterdir())
    assert left and all(p.name.startswith("dy-") for p in left)
    assert sum(p.stat().st_size for p in left if p.is_file()) > 0
    # any command (here one that only reads) removes what the dead process left
    listed = dockyard("data", "list", "--json", cwd=ws)
    assert listed.returncode == 0 and json.loads(listed.stdout) == []
    assert list(tmp.iterdir()) == []
    assert stored_files(ws) == []


class _Terminal(io.StringIO):
    """A stderr that says it is a terminal, so that Rich draws into it."""

    def isatty(self) -> bool:
        return True


def test_progress_bar_draws_both_phases(monkeypatch: pytest.MonkeyPatch) -> None:
    from dockyard.tui.cli.data import _progress_bar
    from dockyard.tui.sparkline import sparkline

    monkeypatch.setenv("COLUMNS", "120")
    drawn = _Terminal()
    monkeypatch.setattr(sys, "stderr", drawn)
    with _progress_bar(True, "file.csv") as update:
        update(RegisterProgress("hash", 50, 100))
        update(RegisterProgress("profile", 10, 100, rows=1000))
        update(RegisterProgress("hash", 100, 100))
    raw = drawn.getvalue()
    # The last frame, drawn when the bar stops, shows both phases where they ended ...
    last = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", raw).split("\r")[-2].splitlines()
    assert len(last) == 2, last
    assert last[0].startswith("hashing  file.csv") and "100/100 bytes" in last[0]
    assert last[1].startswith("profiling file.csv") and "10/100 bytes" in last[1]
    assert "1,000 rows" in last[1] and "rows" not in last[0]
    # ... then the bar is transient: both lines are erased and the cursor comes back.
    assert raw.endswith("\x1b[1A\x1b[2K\x1b[1A\x1b[2K") and "\x1b[?25h" in raw

    quiet_out = _Terminal()
    monkeypatch.setattr(sys, "stderr", quiet_out)
    with _progress_bar(False, "file.csv") as quiet:
        assert quiet is None
    assert quiet_out.getvalue() == ""
    assert sparkline([0, 1, 2, 4]) == "▁▃▅█"
    assert len(sparkline(list(range(100)), width=12)) == 12


def test_head_past_the_last_row_or_of_no_rows_is_one_line(ws: Path) -> None:
    (ws / "d.csv").write_text(CSV1)
    assert dockyard("data", "add", "demo", "d.csv", cwd=ws).returncode == 0
    last = dockyard("data", "head", "demo", "--offset", "2", "--json", cwd=ws)
    assert json.loads(last.stdout) == [{"x": 3, "y": None, "label": "a"}]
    for args in (("--offset", "3"), ("--offset", "3", "--json"), ("--offset", "10000")):
        result = dockyard("data", "head", "demo", *args, cwd=ws)
        assert result.returncode == 2, args
        assert "demo@1 has 3 rows" in one_line_error(result)
    for rows in ("0", "-1", "100001"):
        result = dockyard("data", "head", "demo", "-n", rows, cwd=ws)
        assert result.returncode == 2, rows
        assert "'-n'" in one_line_error(result)


def test_a_table_without_rows_prints_its_header(capsys: pytest.CaptureFixture[str]) -> None:
    from dockyard.tui.cli.kit import print_table

    print_table(["id", "name"], [])
    assert capsys.readouterr().out == "ID  NAME\n"


def _export(ws: Path, *args: str, umask: int = 0o022) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dockyard.tui", "data", "export", *args],
        cwd=ws,
        env=env(),
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=lambda: os.umask(umask),
    )


def test_export_never_replaces_a_special_file(ws: Path) -> None:
    import stat

    (ws / "d.csv").write_text(CSV1)
    assert dockyard("data", "add", "demo", "d.csv", cwd=ws).returncode == 0
    # a FIFO stands in for /dev/full: any non-regular file, and no root needed to make one
    fifo = ws / "pipe"
    os.mkfifo(fifo)
    (ws / "real.csv").write_text("keep")
    os.symlink(ws / "real.csv", ws / "link.csv")
    (ws / "folder").mkdir()
    (ws / "folder" / "demo-v1.csv").mkdir()  # a folder where the file would go
    for target, kind in (
        ("pipe", "a named pipe"),
        ("link.csv", "a symbolic link"),
        ("folder", "a folder"),
    ):
        for force in ((), ("--force",)):
            result = _export(ws, "demo@1", target, *force)
            assert result.returncode == 2, (target, force, result.stderr)
            line = one_line_error(result)
            assert f"is {kind}" in line and "even with --force" in line
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    assert (ws / "link.csv").is_symlink() and (ws / "real.csv").read_text() == "keep"
    assert [p.name for p in ws.iterdir() if p.name.endswith(".part")] == []
    # a regular file is still replaced with --force, and refused without it
    (ws / "old.csv").write_text("old")
    assert _export(ws, "demo@1", "old.csv").returncode == 2
    assert _export(ws, "demo@1", "old.csv", "--force").returncode == 0
    assert (ws / "old.csv").read_text() == CSV1


def test_export_respects_the_umask(ws: Path) -> None:
    (ws / "d.csv").write_text(CSV1)
    (ws / "tree").mkdir()
    (ws / "tree" / "a.csv").write_text(CSV1)
    (ws / "tree" / "sub").mkdir()
    (ws / "tree" / "sub" / "b.csv").write_text(CSV2)
    assert dockyard("data", "add", "demo", "d.csv", cwd=ws).returncode == 0
    assert dockyard("data", "add", "tree", "tree", cwd=ws).returncode == 0
    for umask in (0o077, 0o002):
        out = ws / f"demo-{umask:o}.csv"
        assert _export(ws, "demo@1", str(out), umask=umask).returncode == 0
        assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # not the objects' 0o444
        folder = ws / f"tree-{umask:o}"
        result = _export(ws, "tree@1", str(folder), umask=umask)
        assert result.returncode == 0, result.stderr
        assert (folder / "sub" / "b.csv").read_text() == CSV2
        assert (folder / "sub" / "b.csv").stat().st_mode & 0o777 == 0o666 & ~umask
        assert (folder / "sub").stat().st_mode & 0o777 == 0o777 & ~umask


def test_export_to_a_path_ending_in_a_slash_makes_that_folder(ws: Path) -> None:
    (ws / "d.csv").write_text(CSV1)
    assert dockyard("data", "add", "demo", "d.csv", cwd=ws).returncode == 0
    result = _export(ws, "demo@1", "out/")
    assert result.returncode == 0, result.stderr
    assert (ws / "out").is_dir() and (ws / "out" / "demo-v1.csv").read_text() == CSV1
    # a missing parent is refused in one line, and the folder is not half-made
    result = _export(ws, "demo@1", "no/such/")
    assert result.returncode == 2 and "no such folder" in one_line_error(result)
    assert not (ws / "no").exists()
    # an existing file named like the folder is refused, not replaced, even with --force
    (ws / "plain").write_text("keep")
    for force in ((), ("--force",)):
        result = _export(ws, "demo@1", "plain/", *force)
        assert result.returncode == 2 and "not a folder" in one_line_error(result)
    assert (ws / "plain").read_text() == "keep"


def test_sizes_and_times_have_one_spelling(ws: Path) -> None:
    (ws / "d.csv").write_text("x\n" + "123456789\n" * 200)  # 2,002 bytes
    added = dockyard("data", "add", "demo", "d.csv", cwd=ws)
    assert "2.0 kB" in added.stdout, added.stdout  # as the TUI spells it, never "KB"
    run = subprocess.run(
        [sys.executable, "-m", "dockyard.tui", "data", "show", "demo"],
        cwd=ws,
        env={**env(), "TZ": "Asia/Kolkata"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    line = next(x for x in run.stdout.splitlines() if x.startswith("registered "))
    # to the second, in local time, the zone named
    assert re.match(r"registered \d{4}-\d\d-\d\d \d\d:\d\d:\d\d IST by tester$", line), line
    assert "2.0 kB" in run.stdout


def test_head_shows_full_precision_and_a_visible_missing_marker(ws: Path) -> None:
    (ws / "p.csv").write_text("x,y,name\n0.123456789,1234567.5,a\n,2.0,\n")
    assert dockyard("data", "add", "p", "p.csv", cwd=ws).returncode == 0
    lines = dockyard("data", "head", "p", cwd=ws).stdout.splitlines()
    assert lines[1].split() == ["0.123456789", "1234567.5", "a"]  # not 0.123457 / 1.23457e+06
    assert lines[2].split() == ["∅", "2.0", "∅"]  # missing is a mark, not a blank


PENGUINS = "Sample Number,Study,Species,Date Egg,Year,Comments\n" + "".join(
    f"{i},PAL0708,{('Adelie', 'Gentoo')[i % 2]},2007-11-{10 + i:02d},{2007 + i % 3},"
    f"note number {i} about this bird\n"
    for i in range(1, 9)
)


def test_show_tells_dates_constants_categories_and_years(ws: Path) -> None:
    """Issue 10: the profile of `data show` names what each column holds."""
    (ws / "p.csv").write_text(PENGUINS)
    assert dockyard("data", "add", "pen", "p.csv", cwd=ws).returncode == 0
    lines = dockyard("data", "show", "pen", cwd=ws).stdout.splitlines()
    row = {line.split("  ")[0]: line for line in lines if "  " in line}
    assert "date" in row["Date Egg"] and "2007-11-11" in row["Date Egg"]
    assert "2007-11-18" in row["Date Egg"]
    assert "constant" in row["Study"] and "category" in row["Species"]
    assert "text" in row["Comments"].split()
    assert "year" in row["Year"] and "2,007" not in row["Year"] and "2007" in row["Year"]
    assert "id" in row["Sample Number"].split()


def test_diff_names_categories_that_appeared_disappeared_and_moved(ws: Path) -> None:
    (ws / "a.csv").write_text("n,kind\n" + "".join(f"{i},{k}\n" for i, k in enumerate("aaab")))
    (ws / "b.csv").write_text("n,kind\n" + "".join(f"{i},{k}\n" for i, k in enumerate("abbc")))
    assert dockyard("data", "add", "k", "a.csv", cwd=ws).returncode == 0
    assert dockyard("data", "add", "k", "b.csv", cwd=ws).returncode == 0
    out = dockyard("data", "diff", "k@1", "k@2", cwd=ws).stdout
    assert "kind: new: c · moved: a -50.0 pts, b +25.0 pts" in out.splitlines()
    diff = json.loads(dockyard("data", "diff", "k@1", "k@2", "--json", cwd=ws).stdout)
    drift = next(c["drift"] for c in diff["columns"] if c["name"] == "kind")
    assert drift["appeared"] == ["c"] and drift["disappeared"] == []
    assert drift["moved"][0] == {"value": "a", "share_change": -0.5}
