"""``dockyard gc``: remove the objects in ``objects/`` that no row of the store names.

An object is kept when any row refers to it: a run's artifact (models included), a
dataset version (its file or folder, the files of a folder, their row indexes), a
deployment's manifest, a run's code record (its snapshot's manifest, the files that
manifest names, the diff of a dirty tree: ``core.code.referenced_objects``; an unreadable
manifest stops gc rather than losing its files), and any other table's ``object_path``,
``sha256``, ``content_hash`` or ``object_hash`` column (so a table added later that follows
those names is respected without a change here). Everything else is garbage, with two
exceptions that keep gc from racing a writer:

* the object lock (``core.staging.object_lock``): every writer holds it shared from the
  moment its object lands in ``objects/`` (or is found there and reused) until the row
  naming it is committed; gc holds it exclusive from reading the references to the last
  removal, so an object is never judged between a writer's rename and its commit;
* the grace period: an object changed (written, or touched on reuse) less than
  ``GRACE_SECONDS`` ago is left alone, for a writer whose row lands later than its lock
  (a tracking batch retried after a busy store).

``objects/tmp/`` (staging files being written) is never looked at: its own sweep
(``core.staging.sweep``) removes what dead processes left there.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dockyard.core import staging
from dockyard.core.errors import ConflictError, DockyardError
from dockyard.core.workspace import Workspace, reader_for

#: Objects younger than this are kept whatever refers to them (seconds).
GRACE_SECONDS = 3600.0
#: How long gc waits for writers holding the object lock before giving up (seconds).
LOCK_TIMEOUT = 30.0
#: Column names that hold an object's name (a digest) or its path, in any table.
REFERENCE_COLUMNS = ("object_path", "sha256", "content_hash", "object_hash")
#: The suffix of a CSV version's row index, stored beside its object (``<digest>.rows``).
ROW_INDEX_SUFFIX = ".rows"


@dataclass(frozen=True)
class Garbage:
    """One unreferenced object: its name under ``objects/`` and the bytes it holds."""

    name: str
    size: int
    is_dir: bool


@dataclass
class GcReport:
    """What gc found (and, unless a dry run, removed)."""

    dry_run: bool
    garbage: list[Garbage] = field(default_factory=list)
    #: bytes removing the garbage frees (a file linked from a folder object counted once)
    reclaimable: int = 0
    #: unreferenced objects left alone because they are younger than the grace period
    young: int = 0
    #: objects some row refers to
    kept: int = 0
    removed: int = 0
    freed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "garbage": [{"name": g.name, "size": g.size, "dir": g.is_dir} for g in self.garbage],
            "count": len(self.garbage),
            "bytes": self.reclaimable,
            "young": self.young,
            "kept": self.kept,
            "removed": self.removed,
            "freed": self.freed,
        }


def collect_garbage(
    workspace: Workspace,
    *,
    dry_run: bool = False,
    grace: float = GRACE_SECONDS,
    lock_timeout: float = LOCK_TIMEOUT,
    confirm: Callable[[GcReport], bool] | None = None,
    now: Callable[[], float] = time.time,
) -> GcReport:
    """Find the objects nothing refers to and, unless ``dry_run``, remove them.

    ``confirm`` is shown the report before anything is removed (the command line prints
    what would be freed and may ask); returning False stops there. A real run holds the
    object lock exclusive throughout and raises ConflictError when writers keep it longer
    than ``lock_timeout``. A removal is an audit event (``gc.collect``).
    """
    objects = workspace.check_objects(write=not dry_run)
    if dry_run:
        return _scan(workspace, dry_run=True, grace=grace, now=now)
    try:
        with staging.object_lock(objects, exclusive=True, timeout=lock_timeout):
            report = _scan(workspace, dry_run=False, grace=grace, now=now)
            if not report.garbage or (confirm is not None and not confirm(report)):
                return report
            cutoff = now() - grace
            for item in report.garbage:
                path = objects / item.name
                try:
                    # judged old a moment ago; still, never remove what changed since
                    if path.lstat().st_mtime >= cutoff:
                        report.young += 1
                        continue
                except FileNotFoundError:
                    continue
                staging.remove_tree(path)
                report.removed += 1
                report.freed += item.size
    except staging.ObjectLockBusy:
        raise ConflictError(
            f"registrations or runs kept writing objects for {lock_timeout:g} s; "
            "nothing was removed, run `dockyard gc` again"
        ) from None
    if report.removed:
        _record(workspace, report)
    return report


def _record(workspace: Workspace, report: GcReport) -> None:
    from sqlmodel import Session

    from dockyard.core.audit import append_event
    from dockyard.core.workspace import acting_user, engine_for

    with Session(engine_for(workspace)) as session:
        append_event(
            session,
            acting_user(workspace),
            "gc.collect",
            "objects",
            "objects",
            {"removed": report.removed, "bytes": report.freed},
        )
        session.commit()


# ------------------------------------------------------------------------------- scanning


def _scan(
    workspace: Workspace, *, dry_run: bool, grace: float, now: Callable[[], float]
) -> GcReport:
    report = GcReport(dry_run=dry_run)
    objects = workspace.objects
    try:
        entries = sorted(os.scandir(objects), key=lambda e: e.name)
    except FileNotFoundError:
        return report
    # The references are read after the listing: an object that lands after the listing
    # is not judged at all, and one listed before its row commits is either young or
    # (holding the lock, as a real run does) already named by its committed row.
    referenced = referenced_names(workspace)
    cutoff = now() - grace
    inodes: set[tuple[int, int]] = set()
    for entry in entries:
        name = entry.name
        if name == staging.TMP_DIRNAME or name.startswith("."):
            continue
        if name in referenced or name.removesuffix(ROW_INDEX_SUFFIX) in referenced:
            report.kept += 1
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue
        if st.st_mtime >= cutoff:
            report.young += 1
            continue
        is_dir = entry.is_dir(follow_symlinks=False)
        size = _size(Path(entry.path), inodes) if is_dir else _file_size(st, inodes)
        report.garbage.append(Garbage(name, size, is_dir))
        report.reclaimable += size
    return report


def _file_size(st: os.stat_result, seen: set[tuple[int, int]]) -> int:
    key = (st.st_dev, st.st_ino)
    if key in seen:
        return 0
    seen.add(key)
    return st.st_size


def _size(folder: Path, seen: set[tuple[int, int]]) -> int:
    """The bytes of a folder object's files, each inode once (they are hard links to the
    file objects, which may be garbage too)."""
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += _file_size(os.lstat(os.path.join(root, name)), seen)
            except OSError:
                continue
    return total


def referenced_names(workspace: Workspace) -> set[str]:
    """The names under ``objects/`` that some row of the store refers to."""
    reader = reader_for(workspace)
    names: set[str] = set()
    for table, column in _reference_columns(reader):
        sql = f'SELECT "{column}" FROM "{table}" WHERE "{column}" IS NOT NULL'
        names.update(_object_name(value) for (value,) in reader.iter_rows(sql))
    # A folder version's files and every file's row index are named inside its profile.
    for digest in _profile_file_hashes(reader):
        names.add(digest)
    for (manifest,) in reader.iter_rows("SELECT manifest_json FROM deployment"):
        names.update(_manifest_hashes(manifest))
    # A run's code record names its snapshot's manifest, and the manifest names the files.
    names.update(_code_objects(reader, workspace.objects))
    names.discard("")
    return names


def _code_objects(reader: Any, objects: Path) -> Iterator[str]:
    from dockyard.core.code import referenced_objects

    for (text,) in reader.iter_rows("SELECT code_json FROM run WHERE code_json IS NOT NULL"):
        try:
            record = json.loads(text or "{}")
        except ValueError:
            raise DockyardError(
                "a run's code record is not valid JSON; gc cannot tell its files from garbage"
            ) from None
        if isinstance(record, dict):
            yield from referenced_objects(record, objects, strict=True)


def _object_name(value: Any) -> str:
    """``objects/<digest>`` or an absolute path → ``<digest>``; a bare digest as it is."""
    text = str(value)
    return text.rsplit("/", 1)[-1] if "/" in text else text


def _reference_columns(reader: Any) -> Iterator[tuple[str, str]]:
    """(table, column) of every column of the store named like an object reference."""
    from dockyard.store.queries import SqliteReader

    if isinstance(reader, SqliteReader):
        tables = [
            str(r["name"])
            for r in reader.fetch_all(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        for table in tables:
            for column in reader.fetch_all(f'PRAGMA table_info("{table}")'):
                if str(column["name"]) in REFERENCE_COLUMNS:
                    yield table, str(column["name"])
        return
    rows = reader.fetch_all(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema()"
    )
    for row in rows:
        if str(row["column_name"]) in REFERENCE_COLUMNS:
            yield str(row["table_name"]), str(row["column_name"])


def _profile_file_hashes(reader: Any) -> Iterable[str]:
    from dockyard.store.queries import SqliteReader

    if isinstance(reader, SqliteReader):
        # SQLite's JSON functions walk each profile in C; no profile is parsed in Python
        sql = (
            "SELECT json_extract(f.value, '$.hash') FROM dataset_version AS v,"
            " json_each(v.profile_json, '$.files') AS f"
            " WHERE json_valid(v.profile_json)"
        )
        return (str(value) for (value,) in reader.iter_rows(sql) if value)
    return _profile_hashes_in_python(reader)


def _profile_hashes_in_python(reader: Any) -> Iterator[str]:
    for (text,) in reader.iter_rows("SELECT profile_json FROM dataset_version"):
        try:
            files = json.loads(text or "{}").get("files") or []
        except (ValueError, AttributeError):
            continue
        for item in files:
            if isinstance(item, dict) and item.get("hash"):
                yield str(item["hash"])


def _manifest_hashes(text: Any) -> Iterator[str]:
    try:
        manifest = json.loads(text or "{}")
    except ValueError:
        return
    if isinstance(manifest, dict):
        for key in REFERENCE_COLUMNS:
            value = manifest.get(key)
            if isinstance(value, str) and value:
                yield _object_name(value)
