"""Content hashing and the object store: digests, atomic staging, change detection."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import blake3
import pytest

from dockyard.core import hashing, staging
from dockyard.core.hashing import (
    HashingCancelled,
    ObjectCorruptError,
    SourceChangedError,
    hash_file,
    stage_file,
    tree_hash,
    verify_file,
    verify_tree,
)


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def test_hash_file_is_blake3_of_the_bytes(tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    assert hashing.hash_algorithm() == "blake3"
    assert hash_file(path) == blake3.blake3(data).hexdigest()
    assert hash_file(path, block_size=4096) == blake3.blake3(data).hexdigest()
    assert hash_file(path, "sha256") == hashlib.sha256(data).hexdigest()


def test_hash_file_reports_progress_and_cancels(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 100_000)
    seen: list[tuple[int, int]] = []
    hash_file(path, progress=lambda d, t: seen.append((d, t)), block_size=30_000)
    assert seen[-1] == (100_000, 100_000) and len(seen) == 4
    with pytest.raises(HashingCancelled):
        hash_file(path, cancel=lambda: True)


def test_tree_hash_depends_on_names_and_contents_not_order() -> None:
    entries = [("a.csv", "11"), ("sub/b.csv", "22")]
    assert tree_hash(entries) == tree_hash(list(reversed(entries)))
    assert tree_hash(entries) != tree_hash([("a2.csv", "11"), ("sub/b.csv", "22")])
    assert tree_hash(entries) != tree_hash([("a.csv", "12"), ("sub/b.csv", "22")])
    assert tree_hash(entries) != tree_hash(entries[:1])


def test_stage_and_commit_is_atomic_and_read_only(tmp_path: Path) -> None:
    objects = tmp_path / "objects"
    source = tmp_path / "data.csv"
    source.write_bytes(b"a,b\n1,2\n")
    staged = stage_file(objects, source)
    assert staged.tmp_path.parent == objects / "tmp" and staged.tmp_path.exists()
    assert not (objects / staged.digest).exists()  # invisible until committed
    final, created = staged.commit()
    assert created and final == objects / staged.digest
    assert final.read_bytes() == b"a,b\n1,2\n"
    assert not os.access(final, os.W_OK) or os.geteuid() == 0
    assert final.stat().st_mode & 0o222 == 0
    assert files_under(objects / "tmp") == []
    # editing the source never changes the stored object (no hard link to user files)
    source.write_bytes(b"a,b\n9,9\n")
    assert final.read_bytes() == b"a,b\n1,2\n"
    assert final.stat().st_ino != source.stat().st_ino


def test_committing_the_same_bytes_twice_keeps_one_object(tmp_path: Path) -> None:
    objects = tmp_path / "objects"
    source = tmp_path / "data.csv"
    source.write_bytes(b"x\n1\n")
    first, created_first = stage_file(objects, source).commit()
    second, created_second = stage_file(objects, source).commit()
    assert first == second and created_first and not created_second
    assert files_under(objects) == [first]


def test_a_file_appended_to_while_hashed_is_refused(tmp_path: Path) -> None:
    objects = tmp_path / "objects"
    source = tmp_path / "growing.csv"
    source.write_bytes(b"a,b\n" + b"1,2\n" * 50_000)

    def append_once(done: int, total: int) -> None:
        if done <= 65_536:
            with open(source, "ab") as f:
                f.write(b"3,4\n")

    with pytest.raises(SourceChangedError, match="changed while it was being read"):
        stage_file(objects, source, progress=append_once, block_size=65_536)
    assert files_under(objects) == []


def test_a_file_rewritten_with_the_same_size_is_refused(tmp_path: Path) -> None:
    objects = tmp_path / "objects"
    source = tmp_path / "f.csv"
    source.write_bytes(b"a\n1\n" * 1000)

    def rewrite(done: int, total: int) -> None:
        time.sleep(0.01)
        source.write_bytes(b"a\n2\n" * 1000)  # same size, new mtime/inode contents

    with pytest.raises(SourceChangedError):
        stage_file(objects, source, progress=rewrite)
    assert files_under(objects) == []


def test_interrupt_while_hashing_leaves_nothing(tmp_path: Path) -> None:
    objects = tmp_path / "objects"
    source = tmp_path / "f.csv"
    source.write_bytes(b"a\n1\n" * 100_000)

    def interrupt(done: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        stage_file(objects, source, progress=interrupt, block_size=1024)
    assert files_under(objects) == []


def test_copy_falls_back_when_the_kernel_copy_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object) -> int:
        raise OSError(38, "not implemented")

    monkeypatch.setattr(os, "copy_file_range", refuse, raising=False)
    monkeypatch.setattr(hashing, "_try_reflink", lambda src, dst: False)
    source = tmp_path / "f.csv"
    data = os.urandom(20_000_000)
    source.write_bytes(data)
    staged = stage_file(tmp_path / "objects", source)
    assert staged.method == "copy"
    assert staged.tmp_path.read_bytes() == data
    assert staged.digest == blake3.blake3(data).hexdigest()


def test_verify_detects_a_modified_object(tmp_path: Path) -> None:
    objects = tmp_path / "objects"
    source = tmp_path / "f.csv"
    source.write_bytes(b"a\n1\n")
    staged = stage_file(objects, source)
    final, _ = staged.commit()
    verify_file(final, staged.digest, "blake3", size=4)
    final.chmod(0o644)
    final.write_bytes(b"a\n2\n")
    with pytest.raises(ObjectCorruptError, match="no longer matches"):
        verify_file(final, staged.digest, "blake3")
    final.unlink()
    with pytest.raises(ObjectCorruptError, match="missing"):
        verify_file(final, staged.digest, "blake3")


def test_tree_staging_links_objects_and_verifies(tmp_path: Path) -> None:
    objects = tmp_path / "objects"
    stored = []
    for name, body in (("a.csv", b"x\n1\n"), ("sub/b.csv", b"x\n2\n")):
        src = tmp_path / name.replace("/", "_")
        src.write_bytes(body)
        staged = stage_file(objects, src)
        staged.commit()
        stored.append((name, objects / staged.digest))
    folder, digest = hashing.stage_tree(objects, stored)
    final, created = hashing.commit_tree(objects, folder, digest)
    assert created and (final / "sub" / "b.csv").read_bytes() == b"x\n2\n"
    verify_tree(final, digest, "blake3-tree")
    again, created_again = hashing.commit_tree(
        objects, hashing.stage_tree(objects, stored)[0], digest
    )
    assert again == final and not created_again
    assert files_under(objects / "tmp") == []


def test_sweep_removes_only_old_temporary_files(tmp_path: Path) -> None:
    objects = tmp_path / "objects"
    tmp = hashing.tmp_dir(objects)
    old, fresh = tmp / "old.part", tmp / "fresh.part"
    old.write_bytes(b"x")
    fresh.write_bytes(b"y")
    past = time.time() - 2 * hashing.STALE_TMP_SECONDS
    os.utime(old, (past, past))
    hashing.sweep_stale_tmp(objects)
    assert not old.exists() and fresh.exists()


def test_staged_names_carry_their_owner_and_the_sweep_removes_only_orphans(
    tmp_path: Path,
) -> None:
    objects = tmp_path / "objects"
    assert staging.sweep(objects) == 0  # no objects/tmp yet: nothing to list
    source = tmp_path / "data.csv"
    source.write_bytes(b"a\n1\n")
    mine = hashing.stage_copy(objects, source).tmp_path
    assert mine.name.startswith(staging.owner_tag() + "-")
    assert staging.owner_alive(mine.name) is True
    # a process that has exited: its fresh file goes at once, not after 24 hours
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead_pid = int(child.stdout)
    tag = f"dy-{staging.host_tag()}"
    dead = mine.parent / f"{tag}-{dead_pid}-0-abcdef.part"
    # our own pid with another start time: the pid was reused, the owner is gone
    reused = mine.parent / f"{tag}-{os.getpid()}-{staging.process_start(os.getpid()) + 1}-ab.dir"
    reused.mkdir()
    (reused / "f").write_bytes(b"x")
    other_host = mine.parent / f"dy-00000000-{dead_pid}-0-abcdef.part"
    for path in (dead, other_host):
        path.write_bytes(b"x" * 100)
    assert staging.sweep(objects) == 2
    assert sorted(p.name for p in (objects / "tmp").iterdir()) == sorted(
        [mine.name, other_host.name]
    )
    past = time.time() - 2 * staging.STALE_SECONDS
    os.utime(other_host, (past, past))  # another host: only the age rule can remove it
    staging.sweep(objects)
    assert [p.name for p in (objects / "tmp").iterdir()] == [mine.name]


def test_the_sweep_never_follows_links_and_looks_at_a_bounded_number(tmp_path: Path) -> None:
    objects = tmp_path / "objects"
    tmp = hashing.tmp_dir(objects)
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "keep.txt").write_text("mine")
    dead = f"dy-{staging.host_tag()}-{2**22 + 7}-0"  # above the usual pid_max: no process
    (tmp / f"{dead}-link.part").symlink_to(outside)
    folder = tmp / f"{dead}-tree.dir"
    folder.mkdir()
    (folder / "inner").symlink_to(outside / "keep.txt")
    assert staging.sweep(objects) == 2
    assert list(tmp.iterdir()) == [] and (outside / "keep.txt").read_text() == "mine"
    for i in range(10):
        (tmp / f"{dead}-{i}.part").write_bytes(b"")
    assert staging.sweep(objects, limit=3) == 3
    assert len(list(tmp.iterdir())) == 7
    assert staging.sweep(objects) == 7


def test_hash_file_cached_remembers_only_a_match_and_forgets_it_on_change(
    tmp_path: Path,
) -> None:
    path = tmp_path / "declared.csv"
    path.write_bytes(b"x,y\n1,2\n")
    digest = hashing.hash_file(path, "blake3")
    other = hashing.hash_bytes(b"something else", "blake3")
    assert hashing.hash_file_cached(path, "blake3", [other]) == digest
    assert not hashing.verified_before(path, digest, "blake3")  # not among the known ones
    assert hashing.hash_file_cached(path, "blake3", [other, digest]) == digest
    assert hashing.verified_before(path, digest, "blake3")
    path.write_bytes(b"x,y\n1,34\n")  # changed: the record no longer holds
    assert not hashing.verified_before(path, digest, "blake3")
    assert hashing.hash_file_cached(path, "blake3", [digest]) != digest
