"""Datasets core: versions, bad input, interruption, previews, folders, lineage, export."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlmodel import Session, select

from dockyard.core import datasets, profiling, staging
from dockyard.core.dataset_diff import diff_versions
from dockyard.core.datasets import (
    DatasetRef,
    RegistrationCancelled,
    export_version,
    get_version,
    head,
    list_datasets,
    list_versions,
    parse_ref,
    preview_page,
    register_dataset,
    runs_using,
    version_path,
)
from dockyard.core.errors import InputError, NotFoundError
from dockyard.core.hashing import ObjectCorruptError
from dockyard.core.workspace import Workspace, engine_for, init_workspace
from dockyard.store.models import Dataset, DatasetVersion, Project, Run

pytestmark = pytest.mark.both_stores

#: tests about reading files (their store writes are those the other tests make on both)
FILES_ONLY = pytest.mark.sqlite_only("about reading the file; the store part is the same")


@pytest.fixture
def ws(tmp_path: Path, store_backend: str, request: pytest.FixtureRequest) -> Workspace:
    if store_backend == "pg":
        return init_workspace(tmp_path / "root", db=request.getfixturevalue("pg_url"))
    return init_workspace(tmp_path / "root")


def leftovers(ws: Workspace) -> list[Path]:
    """Every file in the object store, temporary ones included (not the store's lock)."""
    lock = ws.objects / staging.OBJECT_LOCK_NAME
    return sorted(p for p in ws.objects.rglob("*") if p.is_file() and p != lock)


def counts(ws: Workspace) -> tuple[int, int]:
    with Session(engine_for(ws)) as session:
        return (
            len(session.exec(select(Dataset)).all()),
            len(session.exec(select(DatasetVersion)).all()),
        )


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


IRIS = "sepal,petal,species\n5.1,1.4,setosa\n4.9,1.4,setosa\n6.3,6.0,virginica\n"


# ------------------------------------------------------------------------- versions


def test_register_then_same_content_then_new_content(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKYARD_USER", "alice")
    src = write(tmp_path / "iris.csv", IRIS)
    before = time.time()
    first = register_dataset(ws, "iris", src, "first cut")
    v1 = first.version
    assert first.created and v1.version == 1 and v1.ref == "iris@1"
    assert v1.message == "first cut" and v1.author == "alice"
    assert v1.created_at.timestamp() >= before - 2
    assert v1.hash_algo == "blake3" and len(v1.content_hash) == 64
    assert v1.n_rows == 3 and v1.n_cols == 3 and v1.file_format == "csv"
    assert v1.object_path == ws.objects / v1.content_hash
    assert v1.object_path.read_text() == IRIS

    again = register_dataset(ws, "iris", src, "no change")
    assert not again.created and again.version.version == 1
    assert "identical content is already version 1" in again.summary()
    assert counts(ws) == (1, 1)

    write(src, IRIS + "7.7,6.9,virginica\n")
    second = register_dataset(ws, "iris", src, "one more row", author="bob")
    assert second.created and second.version.version == 2 and second.version.author == "bob"
    assert [v.version for v in list_versions(ws, "iris")] == [2, 1]
    [info] = list_datasets(ws)
    assert info.name == "iris" and info.n_versions == 2 and info.latest is not None
    assert info.latest.version == 2 and info.latest.n_rows == 4


def test_stored_version_survives_the_source_changing_or_going(
    ws: Workspace, tmp_path: Path
) -> None:
    src = write(tmp_path / "iris.csv", IRIS)
    v1 = register_dataset(ws, "iris", src).version
    with open(src, "a") as f:
        f.write("1,1,changed\n")
    src.unlink()
    _, columns, rows = head(ws, "iris@1")
    assert columns == ["sepal", "petal", "species"]
    assert rows[0] == (5.1, 1.4, "setosa") and len(rows) == 3
    assert version_path(ws, v1.id) == v1.object_path


def test_the_same_bytes_under_another_name_reuse_object_and_profile(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = write(tmp_path / "iris.csv", IRIS)
    a = register_dataset(ws, "iris", src).version
    monkeypatch.setattr(profiling, "profile_table", lambda *a, **k: pytest.fail("profiled twice"))
    # the profile pass and the hash run together; reuse is decided once the hash is known
    monkeypatch.setattr(datasets, "_profile", _wait_for_reuse)
    b = register_dataset(ws, "iris-copy", src).version
    assert b.version == 1 and b.content_hash == a.content_hash
    assert get_version(ws, "iris-copy").profile == get_version(ws, "iris").profile
    assert len([p for p in leftovers(ws) if p.suffix != ".rows"]) == 1


def _wait_for_reuse(staged: Any, source: Any, tracker: Any, cancel: Any) -> dict[str, Any]:
    # stand-in for a long profile: stops as soon as the hash job says so (cancel raises)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        cancel()
        time.sleep(0.005)
    pytest.fail("the profile pass was never told to stop once the hash matched a version")


def test_browsing_never_recomputes_the_profile(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = write(tmp_path / "iris.csv", IRIS)
    register_dataset(ws, "iris", src)
    write(src, IRIS.replace("setosa", "bristle"))
    register_dataset(ws, "iris", src)

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("profile recomputed")

    monkeypatch.setattr(profiling, "profile_table", refuse)
    monkeypatch.setattr(pd, "read_csv", refuse)
    shown = get_version(ws, "iris@latest")
    assert shown.profile is not None and shown.profile["rows"] == 3
    species = shown.profile["columns"][2]
    assert species["top"] == [["bristle", 2], ["virginica", 1]]
    assert list_datasets(ws)[0].latest is not None
    diff = diff_versions(ws, "iris@1", "iris@2")
    assert [c.name for c in diff.columns if c.drift and c.drift.severity == "major"] == ["species"]
    head(ws, "iris", 2)


def test_importing_datasets_loads_no_heavy_library() -> None:
    code = (
        "import sys, core.datasets, core.dataset_diff\n"
        "heavy = {'pandas', 'numpy', 'pyarrow', 'sqlalchemy', 'blake3'} & set(sys.modules)\n"
        "print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    # dataset_diff imports core.drift, which needs numpy; pandas and the rest stay out
    assert out.stdout.strip() in ("[]", "['numpy']")
    only = subprocess.run(
        [sys.executable, "-c", code.replace(", core.dataset_diff", "")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert only.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("iris", DatasetRef("iris")),
        ("iris@3", DatasetRef("iris", 3)),
        ("iris@v3", DatasetRef("iris", 3)),
        ("iris@latest", DatasetRef("iris")),
        ("my_data-2@12", DatasetRef("my_data-2", 12)),
    ],
)
def test_parse_ref(text: str, expected: DatasetRef) -> None:
    assert parse_ref(text) == expected


@pytest.mark.parametrize("text", ["iris@", "iris@0", "iris@x", "iris@-1", "Iris@1", "@1"])
def test_parse_ref_refuses_bad_versions_and_names(text: str) -> None:
    with pytest.raises(InputError):
        parse_ref(text)


# ------------------------------------------------------------------------ bad input

TOO_WIDE = ",".join(f"c{i}" for i in range(20_001)) + "\n" + "1," * 20_000 + "1\n"

# Each case: a file to write (or None: nothing) and the expected message fragment.
BAD_FILES: list[tuple[str, str, str | bytes | None, str]] = [
    ("missing path", "nope.csv", None, "no such file or folder"),
    ("empty file", "empty.csv", b"", "is empty"),
    ("header only", "header.csv", "a,b,c\n", "header but no data rows"),
    ("short row", "short.csv", "a,b,c\n1,2,3\n4,5\n6,7,8\n", "line 3 has 2 fields"),
    ("long row", "long.csv", "a,b\n" + "1,2\n" * 3 + "3,4,5\n", "line 5 has 3 fields"),
    ("not utf-8", "latin.csv", "a,b\n1,café\n".encode("latin-1"), "not UTF-8"),
    ("binary with a csv name", "garbage.csv", b"\x89PNG\r\n\x1a\n\x00" + bytes(256), "binary data"),
    ("duplicate columns", "dup.csv", "id,x,id\n1,2,3\n", "'id' appears twice"),
    ("unsupported extension", "data.xlsx", b"PK\x03\x04", ".xlsx files are not supported"),
    ("parquet that is not", "fake.parquet", "a,b\n1,2\n", "not a Parquet file"),
    ("too many columns", "wide.csv", TOO_WIDE, "has 20,001 columns; Dockyard registers at most"),
]  # fmt: skip


@FILES_ONLY
@pytest.mark.parametrize(
    ("case", "name", "content", "message"), BAD_FILES, ids=[c[0] for c in BAD_FILES]
)
def test_bad_input_is_refused_with_nothing_written(
    ws: Workspace, tmp_path: Path, case: str, name: str, content: str | bytes | None, message: str
) -> None:
    path = tmp_path / name
    if content is not None:
        write(path, content)
    with pytest.raises(InputError, match=message) as info:
        register_dataset(ws, "bad", path)
    assert info.value.exit_code == 2
    assert "\n" not in str(info.value)
    assert counts(ws) == (0, 0)
    assert leftovers(ws) == []


@pytest.mark.slow
@pytest.mark.sqlite_only("its cost is profiling 20,000 columns, the same on either store")
def test_a_one_row_file_of_20000_columns_registers(ws: Workspace, tmp_path: Path) -> None:
    # the widest table accepted; registration used to grow with the square of the columns
    width = 20_000
    values = [str(i) if i % 3 else f"v{i % 7}" for i in range(width)]
    src = write(
        tmp_path / "wide.csv",
        ",".join(f"c{i}" for i in range(width)) + "\n" + ",".join(values) + "\n",
    )
    v = register_dataset(ws, "wide", src).version
    assert (v.n_rows, v.n_cols) == (1, width)
    profile = get_version(ws, "wide").profile
    assert profile is not None
    columns = profile["columns"]
    assert [c["name"] for c in columns] == [f"c{i}" for i in range(width)]
    assert columns[19_999]["min"] == 19_999 and columns[19_999]["quantiles"][50] == 19_999
    assert columns[19_998]["top"] == [["v6", 1]]
    _, rows = preview_page(ws, v.id, 0, 5)
    assert rows == [tuple(int(x) if i % 3 else x for i, x in enumerate(values))]
    assert [p.name for p in (ws.objects / "tmp").iterdir()] == []


@FILES_ONLY
def test_non_utf8_deep_in_a_large_file_is_found(ws: Workspace, tmp_path: Path) -> None:
    body = "".join(f"{i},x{i}\n" for i in range(300_000)).encode()
    path = write(tmp_path / "deep.csv", b"a,b\n" + body + b"1,caf\xe9\n")
    with pytest.raises(InputError, match="byte 0xe9 on line 300002"):
        register_dataset(ws, "deep", path)
    assert counts(ws) == (0, 0) and leftovers(ws) == []


def test_a_name_that_does_not_fit_is_refused(ws: Workspace, tmp_path: Path) -> None:
    src = write(tmp_path / "iris.csv", IRIS)
    for bad in ("Iris", "my data", "../x", "-x", "a" * 65, "é"):
        with pytest.raises(InputError, match="not a valid dataset name"):
            register_dataset(ws, bad, src)
    assert counts(ws) == (0, 0) and leftovers(ws) == []


def test_a_version_that_does_not_exist(ws: Workspace, tmp_path: Path) -> None:
    register_dataset(ws, "iris", write(tmp_path / "iris.csv", IRIS))
    with pytest.raises(NotFoundError, match=r"has no version 7 \(versions: 1\)"):
        get_version(ws, "iris@7")
    with pytest.raises(NotFoundError, match="no dataset named 'wine'"):
        get_version(ws, "wine@1")


@FILES_ONLY
def test_a_file_appended_to_while_hashed_is_refused(ws: Workspace, tmp_path: Path) -> None:
    src = write(tmp_path / "grow.csv", "a,b\n" + "1,2\n" * 200_000)

    def append_while_hashing(event: datasets.RegisterProgress) -> None:
        if event.phase == "hash":
            with open(src, "a") as f:
                f.write("3,4\n")

    with pytest.raises(InputError, match="changed while it was being read"):
        register_dataset(ws, "grow", src, progress=append_while_hashing)
    assert counts(ws) == (0, 0) and leftovers(ws) == []


@FILES_ONLY
def test_a_writer_thread_appending_during_registration_is_refused(
    ws: Workspace, tmp_path: Path
) -> None:
    src = write(tmp_path / "live.csv", "a,b\n" + "1,2\n" * 400_000)
    appended = threading.Event()

    def writer() -> None:
        with open(src, "a") as f:
            f.write("5,6\n")
        appended.set()

    def on_progress(event: datasets.RegisterProgress) -> None:
        if not appended.is_set():  # another thread writes while the registration reads
            threading.Thread(target=writer).start()
            appended.wait(10)

    with pytest.raises(InputError, match="changed while"):
        register_dataset(ws, "live", src, progress=on_progress)
    assert counts(ws) == (0, 0) and leftovers(ws) == []


@pytest.mark.parametrize("phase", ["hash", "profile"])
def test_ctrl_c_leaves_no_object_and_no_row(ws: Workspace, tmp_path: Path, phase: str) -> None:
    src = write(tmp_path / "big.csv", "a,b\n" + "1,2\n" * 300_000)

    def interrupt(event: datasets.RegisterProgress) -> None:
        if event.phase == phase:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        register_dataset(ws, "big", src, progress=interrupt)
    assert counts(ws) == (0, 0) and leftovers(ws) == []


def test_interrupt_after_objects_are_in_place_removes_them(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail_insert(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(datasets, "_insert_version", fail_insert)
    with pytest.raises(KeyboardInterrupt):
        register_dataset(ws, "iris", write(tmp_path / "iris.csv", IRIS))
    assert counts(ws) == (0, 0) and leftovers(ws) == []


def test_cancel_from_the_tui_leaves_nothing(ws: Workspace, tmp_path: Path) -> None:
    src = write(tmp_path / "big.csv", "a,b\n" + "1,2\n" * 100_000)
    with pytest.raises(RegistrationCancelled):
        register_dataset(ws, "big", src, cancel=lambda: True)
    assert counts(ws) == (0, 0) and leftovers(ws) == []


# ------------------------------------------------------------------------ previews


def make_frame(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "id": np.arange(n),
            "x": np.round(rng.normal(size=n), 6),
            "label": rng.choice(["a", "b, with comma", 'q "quoted"', "multi\nline"], n),
            "maybe": np.where(rng.random(n) < 0.2, np.nan, rng.integers(0, 9, n)),
        }
    )


def expected_rows(frame: pd.DataFrame, offset: int, limit: int) -> list[tuple[Any, ...]]:
    out = []
    for row in frame.iloc[offset : offset + limit].itertuples(index=False):
        out.append(tuple(None if isinstance(v, float) and np.isnan(v) else v for v in row))
    return out


@FILES_ONLY
def test_preview_pages_through_a_csv_with_quotes_and_newlines(
    ws: Workspace, tmp_path: Path
) -> None:
    frame = make_frame(25_000)
    src = tmp_path / "q.csv"
    frame.to_csv(src, index=False)
    v = register_dataset(ws, "q", src).version
    profile = get_version(ws, "q").profile
    assert profile is not None and profile["files"][0]["indexed"] is True
    assert (ws.objects / f"{v.content_hash}.rows").exists()
    for offset, limit in ((0, 5), (999, 3), (1000, 1), (12_345, 50), (24_990, 50), (30_000, 5)):
        # its speed (< 0.2 s a page) is measured by bench/datasets.py, not on a busy CI box
        columns, rows = preview_page(ws, v.id, offset, limit)
        assert columns == ["id", "x", "label", "maybe"]
        want = expected_rows(frame, offset, limit)
        got = [(r[0], r[1], r[2], None if r[3] is None else int(r[3])) for r in rows]
        assert got == [(a, b, c, None if d is None else int(d)) for a, b, c, d in want]


@FILES_ONLY
def test_a_csv_preview_loads_neither_pandas_nor_numpy(ws: Workspace, tmp_path: Path) -> None:
    v = register_dataset(ws, "iris", write(tmp_path / "iris.csv", IRIS)).version
    code = (
        "import json, sys\n"
        "from dockyard.core.workspace import engine_for, find_workspace\n"
        "from dockyard.core.datasets import preview_page\n"
        f"ws = find_workspace(home={str(ws.home)!r})\n"
        "engine_for(ws)  # the TUI has its store open\n"
        f"columns, rows = preview_page(ws, {v.id}, 1, 2)\n"
        "heavy = sorted({'pandas', 'numpy', 'pyarrow'} & set(sys.modules))\n"
        "print(json.dumps({'rows': rows, 'heavy': heavy}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    assert result["rows"] == [[4.9, 1.4, "setosa"], [6.3, 6.0, "virginica"]]
    assert result["heavy"] == []  # the first page's time is bench/datasets.py's to measure


@FILES_ONLY
def test_preview_without_a_usable_index_still_reads_the_right_rows(
    ws: Workspace, tmp_path: Path
) -> None:
    # a quote inside an unquoted field defeats the quote-parity scan: no index is kept
    lines = [f'{i},5"{i}\n' for i in range(50)]
    src = write(tmp_path / "inch.csv", "id,size\n" + "".join(lines))
    v = register_dataset(ws, "inch", src).version
    assert get_version(ws, "inch").profile["files"][0]["indexed"] is False  # type: ignore[index]
    _, rows = preview_page(ws, v.id, 10, 2)
    assert rows == [(10, '5"10'), (11, '5"11')]


@FILES_ONLY
def test_parquet_file_with_row_groups(ws: Workspace, tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    import pyarrow as pa

    frame = make_frame(5000).assign(when=pd.date_range("2026-01-01", periods=5000, freq="h"))
    src = tmp_path / "d.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), src, row_group_size=1000)
    v = register_dataset(ws, "pq", src, "parquet").version
    assert v.file_format == "parquet" and v.n_rows == 5000 and v.n_cols == 5
    profile = get_version(ws, "pq").profile
    assert profile is not None
    cols = {c["name"]: c for c in profile["columns"]}
    assert cols["id"]["dtype"] == "int64" and cols["id"]["source_type"] == "int64"
    assert cols["x"]["mean"] == pytest.approx(frame["x"].mean())
    assert cols["when"]["kind"] == "datetime" and cols["when"]["min"].startswith("2026-01-01")
    _, rows = preview_page(ws, v.id, 1995, 10)
    assert [r[0] for r in rows] == list(range(1995, 2005))


def test_a_folder_is_one_dataset(ws: Workspace, tmp_path: Path) -> None:
    folder = tmp_path / "parts"
    frames = [
        make_frame(1500, seed=i).assign(id=lambda f, i=i: f["id"] + 1500 * i) for i in range(3)
    ]
    for i, f in enumerate(frames):
        (folder / "sub").mkdir(parents=True, exist_ok=True)
        f.to_csv(folder / ("sub" if i == 2 else "") / f"part{i}.csv", index=False)
    write(folder / ".DS_Store", b"\x00junk")
    write(folder / "_SUCCESS", "")
    v = register_dataset(ws, "parts", folder).version
    assert v.file_format == "csv-folder" and v.hash_algo == "blake3-tree"
    assert v.n_rows == 4500 and v.object_path.is_dir()
    assert sorted(p.name for p in v.object_path.rglob("*.csv")) == [
        "part0.csv",
        "part1.csv",
        "part2.csv",
    ]
    whole = pd.concat(frames, ignore_index=True)
    _, rows = preview_page(ws, v.id, 1495, 10)  # across the first file boundary
    assert [r[0] for r in rows] == whole["id"].iloc[1495:1505].tolist()
    assert register_dataset(ws, "parts", folder).created is False
    # renaming a file changes the dataset's hash
    (folder / "part1.csv").rename(folder / "part1b.csv")
    renamed = register_dataset(ws, "parts", folder)
    assert renamed.created and renamed.version.content_hash != v.content_hash
    export = export_version(ws, "parts@1", tmp_path / "out")
    assert sorted(p.name for p in export.rglob("*.csv")) == ["part0.csv", "part1.csv", "part2.csv"]


def test_a_folder_with_different_headers_or_formats_is_refused(
    ws: Workspace, tmp_path: Path
) -> None:
    folder = tmp_path / "mixed"
    write(folder / "a.csv", "x,y\n1,2\n")
    write(folder / "b.csv", "x,z\n1,2\n")
    with pytest.raises(InputError, match="every file of a folder needs the same header"):
        register_dataset(ws, "mixed", folder)
    write(folder / "b.csv", "x,y\n3,4\n")
    write(folder / "c.tsv", "x\ty\n5\t6\n")
    with pytest.raises(InputError, match="mixes csv and tsv"):
        register_dataset(ws, "mixed", folder)
    (folder / "c.tsv").unlink()
    write(folder / "notes.txt", "hello")
    with pytest.raises(InputError, match=r"notes\.txt, which is not CSV"):
        register_dataset(ws, "mixed", folder)
    assert counts(ws) == (0, 0) and leftovers(ws) == []


@FILES_ONLY
def test_tsv_files(ws: Workspace, tmp_path: Path) -> None:
    v = register_dataset(ws, "t", write(tmp_path / "t.tsv", "a\tb\n1\tx, y\n2\tz\n")).version
    assert v.file_format == "tsv"
    assert preview_page(ws, v.id, 0, 5)[1] == [(1, "x, y"), (2, "z")]


# --------------------------------------------------------------- export, lineage, diff


def test_export_verifies_and_never_overwrites_silently(ws: Workspace, tmp_path: Path) -> None:
    v = register_dataset(ws, "iris", write(tmp_path / "iris.csv", IRIS)).version
    out = export_version(ws, "iris@1", tmp_path)
    assert out == tmp_path / "iris-v1.csv" and out.read_text() == IRIS
    with pytest.raises(InputError, match="already exists"):
        export_version(ws, "iris@1", out)
    assert export_version(ws, "iris@1", out, force=True) == out
    v.object_path.chmod(0o644)
    data = IRIS.encode()
    middle = len(data) // 2  # one byte flipped, same size: caught by the hash alone
    v.object_path.write_bytes(data[:middle] + bytes([data[middle] ^ 1]) + data[middle + 1 :])
    with pytest.raises(ObjectCorruptError, match="no longer matches"):
        export_version(ws, "iris@1", tmp_path / "fresh.csv")
    assert not (tmp_path / "fresh.csv").exists()
    v.object_path.write_text(IRIS.replace("5.1", "9.9"))
    with pytest.raises(ObjectCorruptError):
        export_version(ws, "iris@1", tmp_path / "fresh.csv")
    assert not (tmp_path / "fresh.csv").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]
    with pytest.raises(ObjectCorruptError):
        version_path(ws, v.id)


def test_runs_using_a_version(ws: Workspace, tmp_path: Path) -> None:
    src = write(tmp_path / "iris.csv", IRIS)
    v1 = register_dataset(ws, "iris", src).version
    write(src, IRIS + "1,1,x\n")
    v2 = register_dataset(ws, "iris", src).version
    with Session(engine_for(ws)) as session:
        project = Project(name="p", path="/p", entry="python t.py", spec_json="{}", spec_hash="h")
        session.add(project)
        session.flush()
        assert project.id is not None
        for version_id in (v1.id, v2.id, v2.id, None):
            session.add(Run(project_id=project.id, dataset_version_id=version_id))
        session.commit()
    assert len(runs_using(ws, "iris")) == 3
    uses = runs_using(ws, "iris", 2)
    assert [u.version for u in uses] == [2, 2] and uses[0].project == "p"
    assert uses[0].to_dict()["dataset_version_id"] == v2.id
    assert runs_using(ws, "iris", 1)[0].dataset_version_id == v1.id


@FILES_ONLY
def test_diff_reports_columns_rows_and_drift(ws: Workspace, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 5000
    a = pd.DataFrame(
        {
            "x": rng.normal(0, 1, n),
            "y": rng.normal(0, 1, n),
            "c": rng.choice(["p", "q"], n),
            "gone": 1,
        }
    )
    b = pd.DataFrame(
        {
            "x": rng.normal(0, 1, n + 100),
            "y": rng.normal(2, 1, n + 100),
            "c": rng.choice(["p", "q", "r"], n + 100, p=[0.2, 0.2, 0.6]),
            "new": 0.5,
        }
    ).assign(x=lambda f: f["x"].round(3).astype(str) + "u")
    src = tmp_path / "d.csv"
    a.to_csv(src, index=False)
    register_dataset(ws, "d", src)
    b.to_csv(src, index=False)
    register_dataset(ws, "d", src)
    diff = diff_versions(ws, "d@1", "d@2")
    assert diff.rows_change == 100 and not diff.identical
    assert [c.name for c in diff.with_status("added")] == ["new"]
    assert [c.name for c in diff.with_status("removed")] == ["gone"]
    [retyped] = diff.with_status("retyped")
    assert (retyped.name, retyped.dtype_a, retyped.dtype_b) == ("x", "float64", "string")
    by_name = {c.name: c for c in diff.columns}
    assert by_name["y"].drift is not None and by_name["y"].drift.severity == "major"
    assert by_name["c"].drift is not None and by_name["c"].drift.kind == "categorical"
    assert by_name["c"].drift.severity == "major"
    data = diff.to_dict()
    assert data["added"] == ["new"] and data["rows_change"] == 100
    same = diff_versions(ws, "d@2", "d@2")
    assert same.identical and all(
        c.drift is None or c.drift.severity == "none" for c in same.columns
    )


def test_list_pages_and_get_dataset(ws: Workspace, tmp_path: Path) -> None:
    for i in range(5):
        register_dataset(ws, f"d{i}", write(tmp_path / f"d{i}.csv", f"a\n{i}\n"))
    names = [d.name for d in list_datasets(ws)]
    assert names == ["d4", "d3", "d2", "d1", "d0"]  # most recently changed first
    assert [d.name for d in list_datasets(ws, limit=2, offset=1)] == ["d3", "d2"]
    info = datasets.get_dataset(ws, "d2")
    assert info.latest is not None and info.latest.n_rows == 1 and info.n_versions == 1
    assert info.to_dict()["latest_version"] == 1
    with pytest.raises(NotFoundError, match=r"no dataset named 'zz' \(registered: d0, d1"):
        datasets.get_dataset(ws, "zz")


def test_same_size_new_bytes_is_a_new_version(ws: Workspace, tmp_path: Path) -> None:
    src = write(tmp_path / "iris.csv", IRIS)
    v1 = register_dataset(ws, "iris", src).version
    stored = leftovers(ws)
    assert register_dataset(ws, "iris", src).created is False
    assert leftovers(ws) == stored  # identical bytes: nothing copied, nothing added
    write(src, IRIS.replace("5.1", "5.2"))  # same size, other bytes
    v2 = register_dataset(ws, "iris", src).version
    assert v2.version == 2 and v2.content_hash != v1.content_hash
    assert v2.size_bytes == v1.size_bytes
    assert head(ws, "iris@2", 1)[2] == [(5.2, 1.4, "setosa")]


def test_core_handles_match_the_store_tables() -> None:
    dataset, version = datasets._tables()
    assert {c.name for c in dataset.c} <= set(Dataset.__table__.columns.keys())  # type: ignore[attr-defined]
    assert {c.name for c in version.c} == set(DatasetVersion.__table__.columns.keys())  # type: ignore[attr-defined]


def test_registering_imports_no_orm(ws: Workspace, tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("a,b\n1,2\n")
    code = (
        "import sys, pathlib\n"
        "from dockyard.core.workspace import find_workspace\n"
        "from dockyard.core.datasets import register_dataset\n"
        f"ws = find_workspace(home={str(ws.home)!r})\n"
        f"result = register_dataset(ws, 'd', pathlib.Path({str(tmp_path / 'd.csv')!r}))\n"
        "assert result.created and result.version.version == 1\n"
        "print(sorted({'sqlmodel', 'dockyard.store.models', 'textual'} & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
