"""Datasets: immutable, content-addressed versions of CSV/Parquet files and folders.

``register_dataset`` copies the bytes into the object store while hashing them (one
read), profiles the stored copy in one streaming pass, and writes the version row in one
transaction at the very end, so an error or ctrl+c leaves no object and no row. The
profile is stored with the version; browsing (``show``, ``list``, ``diff``) never reads
the data again. ``preview_page`` seeks to any page of a CSV through the row index built
while hashing, so paging does not depend on the file's size.

The user's guide is ``docs/datasets.md``; the JSON shapes documented there are the
``to_dict`` methods below and ``core.profiling``'s profile.

Importing this module imports neither pandas, numpy nor SQLAlchemy: they load inside the
functions that need them, so the TUI's first paint does not pay for them.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import secrets
import struct
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dockyard.core.errors import ConflictError, DockyardError, InputError, NotFoundError
from dockyard.core.parsing import INT64_MAX, parse_version, shown

if TYPE_CHECKING:
    from dockyard.core.profiling import TableSource
    from dockyard.core.workspace import Workspace
    from dockyard.store.queries import Reader

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
FORMATS = {".csv": "csv", ".tsv": "tsv", ".parquet": "parquet", ".pq": "parquet"}
FOLDER_SUFFIX = "-folder"
INDEX_MAGIC = b"DYROWS1\0"
INDEX_HEADER = struct.Struct("<8sqq")  # magic, rows between entries, data rows
OBJECTS_PREFIX = "objects"
HASH_ALONGSIDE = True  # hash in a thread while the profile pass runs

# pandas' default missing-value tokens, so a preview agrees with the profile.
NA_TOKENS = frozenset(
    {
        "",
        "#N/A",
        "#N/A N/A",
        "#NA",
        "-1.#IND",
        "-1.#QNAN",
        "-NaN",
        "-nan",
        "1.#IND",
        "1.#QNAN",
        "<NA>",
        "N/A",
        "NA",
        "NULL",
        "NaN",
        "None",
        "n/a",
        "nan",
        "null",
    }
)

ProgressCallback = Callable[["RegisterProgress"], None]


class RegistrationCancelled(DockyardError):
    """The registration was cancelled (TUI worker cancelled); nothing was stored."""


# ---------------------------------------------------------------------------- references


@dataclass(frozen=True)
class DatasetRef:
    """``name``, ``name@3`` or ``name@latest``; ``version`` None means the latest."""

    name: str
    version: int | None = None

    def __str__(self) -> str:
        return self.name if self.version is None else f"{self.name}@{self.version}"


def check_name(name: str) -> str:
    """``name`` if it is a valid dataset name (the same rule as project names)."""
    if not NAME_RE.match(name):
        raise InputError(
            f"{name!r} is not a valid dataset name; use lowercase letters, digits, - and _ "
            "(at most 64, starting with a letter or digit), e.g. `iris-train`"
        )
    return name


def parse_ref(text: str) -> DatasetRef:
    """Parse ``NAME[@VERSION]`` where VERSION is a positive number or ``latest``."""
    name, sep, version = text.strip().partition("@")
    check_name(name)
    if not sep or version == "latest":
        return DatasetRef(name)
    number = parse_version(version[1:] if version.startswith("v") else version, text)
    if number is None:
        raise InputError(
            f"{shown(version)} in {shown(text, 60)} is not a version; use NAME, NAME@N "
            "(N = 1, 2, ...) or NAME@latest"
        )
    return DatasetRef(name, number)


# ------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str


@dataclass(frozen=True)
class VersionInfo:
    """One registered version as the faces show it; ``profile`` is loaded on request."""

    id: int
    dataset_id: int
    dataset: str
    version: int
    content_hash: str
    hash_algo: str
    object_path: Path
    source_path: str
    file_format: str
    size_bytes: int
    n_rows: int
    n_cols: int
    columns: tuple[Column, ...]
    message: str
    author: str
    created_at: datetime
    profile: dict[str, Any] | None = field(default=None, repr=False)
    #: when it was archived (hidden from `data versions`, skipped by "latest"), None if not
    archived_at: datetime | None = None

    @property
    def ref(self) -> str:
        return f"{self.dataset}@{self.version}"

    @property
    def is_folder(self) -> bool:
        return self.file_format.endswith(FOLDER_SUFFIX)

    def to_dict(self, with_profile: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "dataset": self.dataset,
            "version": self.version,
            "ref": self.ref,
            "content_hash": self.content_hash,
            "hash_algo": self.hash_algo,
            "object_path": str(self.object_path),
            "source_path": self.source_path,
            "file_format": self.file_format,
            "size_bytes": self.size_bytes,
            "n_rows": self.n_rows,
            "n_cols": self.n_cols,
            "columns": [{"name": c.name, "dtype": c.dtype} for c in self.columns],
            "message": self.message,
            "author": self.author,
            "created_at": self.created_at.isoformat(),
            "archived_at": self.archived_at.isoformat() if self.archived_at else None,
        }
        if with_profile:
            out["profile"] = self.profile
        return out


@dataclass(frozen=True)
class DatasetInfo:
    """A dataset with its latest version (None only if every version was removed)."""

    id: int
    name: str
    description: str
    created_at: datetime
    updated_at: datetime
    n_versions: int
    latest: VersionInfo | None
    #: when it was archived (hidden from `data list`), None if not
    archived_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        latest = self.latest
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "versions": self.n_versions,
            "latest_version": latest.version if latest else None,
            "n_rows": latest.n_rows if latest else None,
            "n_cols": latest.n_cols if latest else None,
            "size_bytes": latest.size_bytes if latest else None,
            "content_hash": latest.content_hash if latest else None,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "archived_at": self.archived_at.isoformat() if self.archived_at else None,
        }


@dataclass(frozen=True)
class Registration:
    """What ``register_dataset`` did: a new version, or none because nothing changed."""

    version: VersionInfo
    created: bool

    def to_dict(self) -> dict[str, Any]:
        return {"created": self.created, **self.version.to_dict()}

    def summary(self) -> str:
        from dockyard.core.overview import human_size

        v = self.version
        if not self.created:
            archived = (
                f"; it is archived: `dockyard data restore {v.ref}` makes it current again"
                if v.archived_at is not None
                else ""
            )
            return (
                f"{v.dataset}: identical content is already version {v.version} "
                f"({v.content_hash[:12]}); no new version registered{archived}"
            )
        return (
            f"Registered {v.ref}: {v.n_rows:,} rows x {v.n_cols} columns, "
            f"{human_size(v.size_bytes)}, {v.hash_algo} {v.content_hash[:12]}"
        )


@dataclass(frozen=True)
class RegisterProgress:
    """Reported while registering: ``phase`` is ``hash`` (bytes read and copied) or
    ``profile`` (bytes parsed; ``rows`` so far)."""

    phase: str
    done: int
    total: int
    rows: int = 0


@dataclass(frozen=True)
class RunUse:
    """A run that used a dataset version (lineage)."""

    run_id: int
    project: str
    status: str
    created_at: datetime
    dataset: str
    version: int
    dataset_version_id: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "project": self.project,
            "status": self.status,
            "created_at": self.created_at.isoformat(),
            "dataset": self.dataset,
            "version": self.version,
            "dataset_version_id": self.dataset_version_id,
        }


# ------------------------------------------------------------------------ the source


@dataclass(frozen=True)
class _Source:
    """What the user pointed at: one file, or a folder of files of one format."""

    path: Path
    file_format: str  # csv | tsv | parquet
    folder: bool
    files: list[tuple[str, Path]]  # (relative POSIX path, absolute path)


def _format_of(path: Path) -> str | None:
    return FORMATS.get(path.suffix.lower())


def _unsupported(path: Path) -> InputError:
    suffix = path.suffix or "no extension"
    return InputError(
        f"{path}: {suffix} files are not supported; give a .csv, .tsv or .parquet file "
        "or a folder of them"
    )


def _plan_source(path: Path) -> _Source:
    if not path.exists():
        raise NotFoundError(f"{path}: no such file or folder; check the path")
    if path.is_file():
        fmt = _format_of(path)
        if fmt is None:
            raise _unsupported(path)
        return _Source(path, fmt, False, [(path.name, path)])
    if not path.is_dir():
        raise InputError(f"{path} is neither a file nor a folder; give a CSV or Parquet file")
    files: list[tuple[str, Path]] = []
    formats: set[str] = set()
    for item in sorted(path.rglob("*")):
        rel = item.relative_to(path)
        if any(part.startswith((".", "_")) for part in rel.parts) or not item.is_file():
            continue  # hidden files and markers such as Spark's _SUCCESS
        fmt = _format_of(item)
        if fmt is None:
            raise InputError(
                f"{path} holds {rel.as_posix()}, which is not CSV, TSV or Parquet; "
                "move it out of the folder or register the files one by one"
            )
        formats.add(fmt)
        files.append((rel.as_posix(), item))
    if not files:
        raise InputError(f"{path} holds no .csv, .tsv or .parquet file; nothing to register")
    if len(formats) > 1:
        raise InputError(
            f"{path} mixes {' and '.join(sorted(formats))} files; a folder dataset holds "
            "files of one format"
        )
    return _Source(path, formats.pop(), True, files)


# ----------------------------------------------------------------------- registration


@dataclass
class _StagedFile:
    """One file of the source: checked, then copied and hashed by the hash job."""

    rel: str
    source: Path
    signature: tuple[int, int, int]
    columns: list[str]
    chunk_rows: int
    scanner: Any = None  # core.profiling.CsvScanner for CSV/TSV
    source_types: dict[str, str] = field(default_factory=dict)
    staged: Any = None  # core.hashing.StagedObject, once the hash job has copied it

    @property
    def display(self) -> str:
        return str(self.source)

    @property
    def size(self) -> int:
        return self.signature[0]

    @property
    def digest(self) -> str:
        return str(self.staged.digest)

    def discard(self) -> None:
        if self.staged is not None:
            self.staged.discard()


class _Progress:
    """Turns per-file callbacks into ``RegisterProgress`` over all files (about one call
    per 8 MB hashed and one per chunk profiled)."""

    def __init__(self, callback: ProgressCallback | None, total: int) -> None:
        self.callback = callback
        self.total = total

    def hashing(self, done: int, _total: int) -> None:
        if self.callback is not None:
            self.callback(RegisterProgress("hash", done, self.total))

    def profiling(self, done: int, rows: int) -> None:
        if self.callback is not None:
            self.callback(RegisterProgress("profile", min(done, self.total), self.total, rows))


def register_dataset(
    workspace: Workspace,
    name: str,
    path: Path | str,
    message: str = "",
    *,
    author: str | None = None,
    progress: ProgressCallback | None = None,
    cancel: Callable[[], bool] | None = None,
) -> Registration:
    """Register ``path`` (a CSV/TSV/Parquet file or a folder of them) as dataset ``name``.

    Identical content (same digest) as an existing version of ``name`` creates nothing
    and returns that version with ``created=False``. Otherwise the new version is
    ``N + 1``. Bad input raises :class:`InputError` with nothing written; ``cancel``
    (polled between blocks) and KeyboardInterrupt leave nothing behind either.

    While this thread parses and profiles the source, a second one copies it into
    ``objects/tmp/`` (reflink or in-kernel copy), hashes and scans the copy, and looks the
    digest up; the source's size, time and inode must not change meanwhile. When a
    version of the same size exists (probably the same bytes again) the hash comes first,
    so an unchanged file is not profiled at all.
    """
    from dockyard.core import hashing, staging

    check_name(name)
    source = _plan_source(Path(path).expanduser())
    objects = workspace.check_objects(write=True)
    hashing.sweep_stale_tmp(objects)
    algo = hashing.hash_algorithm()
    tracker = _Progress(progress, sum(p.stat().st_size for _, p in source.files))
    staged: list[_StagedFile] = []
    created_paths: list[Path] = []
    tree_tmp: Path | None = None
    hasher: _HashJob | None = None
    try:
        for rel, file in source.files:
            staged.append(_stage_one(source, rel, file))
        _check_same_columns(source, staged)
        hasher = _HashJob(workspace, name, source, staged, algo, tracker, cancel)
        # A version of the same size is probably the same bytes again: hash first (fast)
        # rather than profile a file that will turn out to be registered already.
        hasher.probe_first = _has_version_of_size(workspace, name, tracker.total)
        if HASH_ALONGSIDE and not hasher.probe_first:
            hasher.alongside = True
            hasher.start()
        else:
            hasher.run()
        profile: dict[str, Any] | None = None
        columns_json: str | None = None
        try:
            hasher.should_stop_profiling()  # already known: same bytes, or an error
            profile = _profile(staged, source, tracker, hasher.should_stop_profiling)
        except _StopProfiling:
            pass
        except Exception:
            # The scan's error (not UTF-8, a short row) names the line better than the
            # parser's: let the hash job finish (it is the faster pass) and prefer it.
            hasher.wait()
            hasher.raise_error()
            raise
        hasher.wait()
        hasher.raise_error()
        digest, hash_algo = hasher.digest, hasher.hash_algo
        if hasher.existing is not None:
            return Registration(hasher.existing, created=False)
        if hasher.reused is not None:
            columns_json, profile = hasher.reused
        if profile is None:
            raise RegistrationCancelled("registration was cancelled; nothing was stored")
        _attach_files(profile, staged, source)
        if columns_json is None:
            columns_json = json.dumps(
                [{"name": c["name"], "dtype": c["dtype"]} for c in profile["columns"]]
            )

        # Everything is known and valid: move objects into place, then write the row.
        for f in staged:
            f.staged.check_source()  # refuse a source that changed at any time until now
        # From the first object in place until the row is committed, gc must wait: it
        # would take a just-renamed (or reused) object for garbage.
        with staging.object_lock(objects):
            for f in staged:
                final, created = f.staged.commit()
                if created:
                    created_paths.append(final)
                if f.scanner is not None:
                    index_path = _write_row_index(objects, f.digest, f.scanner)
                    if index_path is not None:
                        created_paths.append(index_path)
            if source.folder:
                links = [(f.rel, hashing.object_path(objects, f.digest)) for f in staged]
                tree_tmp, _ = hashing.stage_tree(objects, links, algo=algo)
                final_dir, created = hashing.commit_tree(objects, tree_tmp, digest)
                tree_tmp = None
                if created:
                    created_paths.append(final_dir)
            version = _insert_version(
                workspace,
                name=name,
                digest=digest,
                hash_algo=hash_algo,
                source=source,
                file_format=source.file_format + (FOLDER_SUFFIX if source.folder else ""),
                size=tracker.total,
                profile=profile,
                columns_json=columns_json,
                message=message,
                author=author if author is not None else _current_user(),
            )
        created_paths.clear()  # the row owns them now
        return version
    except hashing.HashingCancelled as exc:
        raise RegistrationCancelled(str(exc)) from None
    finally:
        if hasher is not None and hasher.is_alive():
            hasher.stop()
            hasher.wait()
        for f in staged:
            f.discard()
        if tree_tmp is not None:
            hashing.remove_object(tree_tmp)
        for created_path in created_paths:
            hashing.remove_object(created_path)


def _current_user() -> str:
    from dockyard.core.workspace import current_user

    return current_user()


class _StopProfiling(Exception):
    """The digest matched an existing version: the profile is not needed."""


class _HashJob(threading.Thread):
    """Hashes and scans the staged copies while the calling thread profiles them.

    When the digest is known it looks up the store: an identical version makes the
    profile unnecessary (``existing``), the same bytes under another name lend theirs
    (``reused``). Errors are kept and re-raised in the calling thread.
    """

    def __init__(
        self,
        workspace: Workspace,
        name: str,
        source: _Source,
        staged: list[_StagedFile],
        algo: str,
        tracker: _Progress,
        cancel: Callable[[], bool] | None,
    ) -> None:
        super().__init__(name="dockyard-hash", daemon=True)
        self.workspace = workspace
        self.dataset = name
        self.source = source
        self.staged = staged
        self.algo = algo
        self.tracker = tracker
        self.user_cancel = cancel
        self.stopping = threading.Event()
        self.done = threading.Event()
        self.error: BaseException | None = None
        self.digest = ""
        self.hash_algo = algo
        self.existing: VersionInfo | None = None
        self.reused: tuple[str, dict[str, Any]] | None = None
        self.alongside = False  # True: the profile pass runs at the same time
        self.probe_first = False  # True: hash the source before copying it

    def cancelled(self) -> bool:
        return self.stopping.is_set() or (self.user_cancel is not None and self.user_cancel())

    def stop(self) -> None:
        self.stopping.set()

    def wait(self) -> None:
        if self.ident is not None:  # started as a thread
            self.join()

    def run(self) -> None:
        """In this thread, or in a new one with ``start()``; errors are kept for
        :meth:`raise_error`."""
        self._run_guarded()

    def should_stop_profiling(self) -> bool:
        if self.user_cancel is not None and self.user_cancel():
            from dockyard.core.hashing import HashingCancelled

            raise HashingCancelled("registration was cancelled; nothing was stored")
        if self.done.is_set() and (
            self.error is not None or self.existing is not None or self.reused is not None
        ):
            raise _StopProfiling()
        return False

    def raise_error(self) -> None:
        if self.error is not None:
            raise self.error

    def _run_guarded(self) -> None:
        from dockyard.core.hashing import HashingCancelled

        try:
            self._run()
        except HashingCancelled as exc:
            if not self.stopping.is_set():  # stopped by us: the caller has its own error
                self.error = exc
        except BaseException as exc:  # handed to the calling thread
            self.error = exc
        finally:
            self.done.set()

    def _run(self) -> None:
        from dockyard.core import hashing

        if self.probe_first and self._probe():
            return
        base = 0
        for f in self.staged:

            def report(done: int, _total: int, _base: int = base) -> None:
                self.tracker.hashing(_base + done, self.tracker.total)

            objects = self.workspace.objects
            f.staged = hashing.stage_copy(objects, f.source, algo=self.algo, expected=f.signature)
            on_block = f.scanner.feed if f.scanner is not None else None
            f.staged.hash(
                on_block=on_block,
                progress=report,
                cancel=self.cancelled,
                all_cores=not self.alongside,  # one core: the other one profiles
            )
            f.staged.check_source()
            if f.scanner is not None:
                _check_scan(f)
            # flushed to disk here, while the other thread is still profiling
            hashing.fsync_path(f.staged.tmp_path)
            base += f.staged.size
        if self.source.folder:
            self.digest = hashing.tree_hash([(f.rel, f.digest) for f in self.staged], self.algo)
            self.hash_algo = f"{self.algo}-tree"
        else:
            self.digest = self.staged[0].digest
        self.existing = _version_with_hash(self.workspace, self.dataset, self.digest)
        if self.existing is None:
            columns_json, profile = _reuse_profile(self.workspace, self.digest)
            if columns_json is not None and profile is not None:
                self.reused = (columns_json, profile)

    def _probe(self) -> bool:
        """Hash the source as it is, without copying it: True if those bytes are a
        version of this dataset already (then nothing else is needed)."""
        from dockyard.core import hashing

        digests = []
        done = 0
        for f in self.staged:

            def report(now: int, _total: int, _base: int = done) -> None:
                self.tracker.hashing(_base + now, self.tracker.total)

            digests.append(
                hashing.hash_file(f.source, self.algo, progress=report, cancel=self.cancelled)
            )
            if hashing.source_signature(f.source) != f.signature:
                return False  # changing: the full path below will refuse it
            done += f.size
        if self.source.folder:
            entries = [(f.rel, d) for f, d in zip(self.staged, digests, strict=True)]
            digest, algo = hashing.tree_hash(entries, self.algo), f"{self.algo}-tree"
        else:
            digest, algo = digests[0], self.algo
        existing = _version_with_hash(self.workspace, self.dataset, digest)
        if existing is None:
            return False
        self.digest, self.hash_algo, self.existing = digest, algo, existing
        return True


def _check_scan(f: _StagedFile) -> None:
    """After the scan of a CSV: refuse a header-only file and short (ragged) rows."""
    from dockyard.core import profiling

    scanner = f.scanner
    scanner.finish()
    path = Path(f.display)
    if scanner.data_rows == 0:
        raise profiling.TableError(
            f"{path} has a header but no data rows; add rows or check the file"
        )
    if scanner.short_rows_possible(len(f.columns)):
        found = profiling.find_ragged_row(
            f.staged.tmp_path, scanner_delimiter(scanner), len(f.columns)
        )
        if found is not None:
            raise profiling.ragged_error(path, *found, len(f.columns))
        scanner.consistent = False  # the count was off for quoting reasons: no index


def scanner_delimiter(scanner: Any) -> str:
    return chr(scanner.delim)


def _stage_one(source: _Source, rel: str, file: Path) -> _StagedFile:
    """Check the start of ``file`` (header, format) and note its signature; the hash job
    copies and hashes it while the profile pass reads it."""
    from dockyard.core import hashing, profiling

    signature = hashing.source_signature(file)
    if signature[0] == 0:
        raise InputError(f"{file} is empty; give a file with a header row and data rows")
    if source.file_format == "parquet":
        _check_parquet_magic(file)
        schema = profiling.parquet_schema(file)
        names = [n for n, _ in schema]
        if len(names) > profiling.MAX_COLUMNS:
            raise profiling.too_many_columns(file, len(names))
        _check_duplicates(file, names)
        width = max(1, len(names))
        return _StagedFile(
            rel,
            file,
            signature,
            names,
            profiling.rows_per_chunk(8.0 * width, width),
            source_types=dict(schema),
        )
    delimiter = "\t" if source.file_format == "tsv" else ","
    header = profiling.sniff_csv(file, delimiter)
    return _StagedFile(
        rel,
        file,
        signature,
        header.columns,
        profiling.rows_per_chunk(header.avg_record_bytes, len(header.columns)),
        scanner=profiling.CsvScanner(file, delimiter),
    )


def _check_parquet_magic(file: Path) -> None:
    with open(file, "rb") as f:
        head = f.read(4)
        f.seek(max(0, file.stat().st_size - 4))
        tail = f.read(4)
    if head != b"PAR1" or tail != b"PAR1" or file.stat().st_size < 12:
        raise InputError(
            f"{file} is not a Parquet file (no PAR1 marker); check the file or its extension"
        )


def _check_duplicates(file: Path, names: Sequence[str]) -> None:
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise InputError(f"{file}: column {n!r} appears twice; rename one of them")
        seen.add(n)


def _check_same_columns(source: _Source, staged: list[_StagedFile]) -> None:
    first = staged[0]
    for f in staged[1:]:
        if f.columns != first.columns:
            raise InputError(
                f"{source.path}: {f.rel} has columns {', '.join(f.columns)} but {first.rel} "
                f"has {', '.join(first.columns)}; every file of a folder needs the same header"
            )


def _profile(
    staged: list[_StagedFile],
    source: _Source,
    tracker: _Progress,
    cancel: Callable[[], bool] | None,
) -> dict[str, Any]:
    from dockyard.core import profiling

    sources: list[TableSource] = [
        profiling.TableSource(
            path=f.source,
            display=f.display,
            file_format=source.file_format,
            columns=f.columns,
            chunk_rows=f.chunk_rows,
            source_types=f.source_types,
        )
        for f in staged
    ]
    # The seed comes from the first file's size and name, not the digest (not known yet):
    # the same file gives the same sample.
    seed = sum(f.size for f in staged) * 1_000_003 + len(staged)
    table = profiling.profile_table(sources, seed=seed, progress=tracker.profiling, cancel=cancel)
    if table.rows == 0:
        raise InputError(f"{source.path} has no data rows; add rows or check the file")
    out = table.to_json_dict()
    out["files"] = [{"rows": rows} for rows in table.rows_per_file]
    if source.file_format != "parquet":
        out["delimiter"] = "\t" if source.file_format == "tsv" else ","
    return out


def _attach_files(profile: dict[str, Any], staged: list[_StagedFile], source: _Source) -> None:
    """Record each stored file (path, digest, size, rows, whether its row index holds)."""
    files = []
    for f, entry in zip(staged, profile["files"], strict=True):
        rows = int(entry["rows"])
        item: dict[str, Any] = {
            "path": f.rel,
            "hash": f.digest,
            "size": f.size,
            "rows": rows,
        }
        if f.scanner is not None:
            f.scanner.consistent = f.scanner.consistent and f.scanner.data_rows == rows
            item["indexed"] = f.scanner.consistent
        files.append(item)
    profile["files"] = files


def _write_row_index(objects: Path, digest: str, scanner: Any) -> Path | None:
    """``objects/<digest>.rows``: the byte offset of every INDEX_EVERY-th data row."""
    from dockyard.core import hashing

    if not scanner.consistent:
        return None
    final = objects / f"{digest}.rows"
    if final.exists():
        from dockyard.core import staging

        staging.touch_object(final)  # reused: gc's grace period starts again
        return None
    offsets = scanner.row_index()
    tmp = hashing.tmp_path(objects, "rows")
    with open(tmp, "wb") as f:
        f.write(INDEX_HEADER.pack(INDEX_MAGIC, scanner.every, scanner.data_rows))
        f.write(offsets.astype("<i8").tobytes())
    os.replace(tmp, final)
    return final


def _has_version_of_size(workspace: Workspace, name: str, size: int) -> bool:
    from sqlalchemy import text

    query = text(
        "SELECT 1 FROM dataset_version v JOIN dataset d ON d.id = v.dataset_id "
        "WHERE d.name = :name AND v.size_bytes = :size LIMIT 1"
    )
    with _engine(workspace).connect() as conn:
        return conn.execute(query, {"name": name, "size": size}).first() is not None


def matching_version(workspace: Workspace, name: str, path: Path) -> VersionInfo | None:
    """The version of dataset ``name`` whose content is exactly what ``path`` holds now,
    or None (also when ``path`` is missing or not a dataset file).

    Sizes are compared first, so a file that no version has the size of is never read;
    a file already matched and unchanged since is not read again either (the per-user
    verification record of ``core.hashing``).
    """
    from dockyard.core import hashing

    try:
        source = _plan_source(path)
        size = sum(file.stat().st_size for _, file in source.files)
    except (InputError, OSError):
        return None
    # plain SQL through the reader: `run start` and `project add` ask this, and they must
    # not import SQLAlchemy (decision 21)
    rows = _reader(workspace).fetch_all(
        VERSION_SQL.format(profile="")
        + " WHERE dataset_id = (SELECT id FROM dataset WHERE name = :name)"
        " AND size_bytes = :size ORDER BY version DESC",
        {"name": name, "size": size},
    )
    candidates = [r for r in rows if str(r["file_format"]).endswith(FOLDER_SUFFIX) == source.folder]
    by_algo: dict[str, list[Any]] = {}
    for row in candidates:
        by_algo.setdefault(str(row["hash_algo"]), []).append(row)
    for algo, same_algo in by_algo.items():
        known = [str(row["content_hash"]) for row in same_algo]
        try:
            if source.folder:
                file_algo = hashing.file_algorithm(algo)
                entries = [(rel, hashing.hash_file(f, file_algo)) for rel, f in source.files]
                digest = hashing.tree_hash(entries, file_algo)
            else:
                digest = hashing.hash_file_cached(source.files[0][1], algo, known)
        except OSError:  # removed or made unreadable meanwhile: it matches nothing
            return None
        for row in same_algo:
            if row["content_hash"] == digest:
                return _version_from_row(row, name, workspace)
    return None


@functools.cache
def _tables() -> tuple[Any, Any]:
    """SQLAlchemy Core handles on ``dataset`` and ``dataset_version``.

    ``store.models`` defines the tables (and the migrations follow it); registration uses
    these light handles instead, so that ``data add`` does not pay for importing the ORM
    (about 0.2 s). ``tests/test_datasets.py`` checks they name real columns.
    """
    from sqlalchemy import BigInteger, DateTime, Integer, String, column, table

    dataset = table(
        "dataset",
        column("id", Integer),
        column("name", String),
        column("description", String),
        column("created_at", DateTime),
        column("updated_at", DateTime),
        column("max_deleted_version", Integer),
    )
    version = table(
        "dataset_version",
        column("id", Integer),
        column("dataset_id", Integer),
        column("version", Integer),
        column("content_hash", String),
        column("hash_algo", String),
        column("sha256", String),
        column("object_path", String),
        column("source_path", String),
        column("file_format", String),
        column("size_bytes", BigInteger),  # 64 bits on PostgreSQL too (migration 0010)
        column("n_rows", BigInteger),
        column("n_cols", Integer),
        column("columns_json", String),
        column("profile_json", String),
        column("message", String),
        column("author", String),
        column("created_at", DateTime),
        column("archived_at", DateTime),
        column("archived_by", String),
    )
    return dataset, version


def _version_columns(version: Any) -> list[Any]:
    return [c for c in version.c if c.name != "profile_json"]


def _version_with_hash(workspace: Workspace, name: str, digest: str) -> VersionInfo | None:
    from sqlalchemy import select

    dataset, version = _tables()
    query = (
        select(*_version_columns(version))
        .select_from(version.join(dataset, dataset.c.id == version.c.dataset_id))
        .where(dataset.c.name == name, version.c.content_hash == digest)
    )
    with _engine(workspace).connect() as conn:
        row = conn.execute(query).first()
    return None if row is None else _version_info(row, name, workspace)


def _reuse_profile(workspace: Workspace, digest: str) -> tuple[str | None, dict[str, Any] | None]:
    """The same bytes were profiled before (maybe under another name): reuse that profile."""
    from sqlalchemy import select

    from dockyard.core.profiling import PROFILE_FORMAT

    _, version = _tables()
    query = (
        select(version.c.columns_json, version.c.profile_json)
        .where(version.c.content_hash == digest)
        .limit(1)
    )
    with _engine(workspace).connect() as conn:
        row = conn.execute(query).first()
    if row is None:
        return None, None
    profile = json.loads(row.profile_json)
    if profile.get("format") != PROFILE_FORMAT:
        return None, None
    if not all((workspace.objects / f["hash"]).exists() for f in profile.get("files", [])):
        return None, None
    return str(row.columns_json), profile


def _insert_version(
    workspace: Workspace,
    *,
    name: str,
    digest: str,
    hash_algo: str,
    source: _Source,
    file_format: str,
    size: int,
    profile: dict[str, Any],
    columns_json: str,
    message: str,
    author: str,
) -> Registration:
    """Insert the version (and the dataset, the first time) in one transaction; a
    concurrent writer taking the same number makes us retry."""
    from datetime import UTC

    from sqlalchemy import func, insert, select, update
    from sqlalchemy.exc import IntegrityError

    dataset, version = _tables()
    profile_json = json.dumps(profile, allow_nan=False, default=_json_default)
    engine = _engine(workspace)
    for _attempt in range(5):
        now = datetime.now(UTC)
        try:
            with engine.begin() as conn:
                by_name = select(dataset.c.id).where(dataset.c.name == name)
                dataset_id = conn.execute(by_name).scalar()
                if dataset_id is None:
                    conn.execute(
                        insert(dataset).values(
                            name=name, description="", created_at=now, updated_at=now
                        )
                    )
                    dataset_id = conn.execute(by_name).scalar_one()
                same = conn.execute(
                    select(*_version_columns(version)).where(
                        version.c.dataset_id == dataset_id, version.c.content_hash == digest
                    )
                ).first()
                if same is not None:  # registered meanwhile by another process
                    return Registration(_version_info(same, name, workspace), created=False)
                latest = conn.execute(
                    select(func.max(version.c.version)).where(version.c.dataset_id == dataset_id)
                ).scalar()
                deleted = conn.execute(
                    select(dataset.c.max_deleted_version).where(dataset.c.id == dataset_id)
                ).scalar()
                # never a number a deleted version had: "iris@3" in a record means one file
                number = max(int(latest or 0), int(deleted or 0)) + 1
                conn.execute(
                    insert(version).values(
                        dataset_id=dataset_id,
                        version=number,
                        content_hash=digest,
                        hash_algo=hash_algo,
                        sha256=None,
                        object_path=f"{OBJECTS_PREFIX}/{digest}",
                        source_path=str(source.path.resolve()),
                        file_format=file_format,
                        size_bytes=size,
                        n_rows=int(profile["rows"]),
                        n_cols=len(profile["columns"]),
                        columns_json=columns_json,
                        profile_json=profile_json,
                        message=message,
                        author=author,
                        created_at=now,
                    )
                )
                conn.execute(
                    update(dataset).where(dataset.c.id == dataset_id).values(updated_at=now)
                )
                row = conn.execute(
                    select(*_version_columns(version)).where(
                        version.c.dataset_id == dataset_id, version.c.version == number
                    )
                ).one()
                return Registration(_version_info(row, name, workspace), created=True)
        except IntegrityError:
            continue
    raise ConflictError(
        f"dataset {name!r} is being changed by another process; try `dockyard data add` again"
    )


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    return str(value)


# ----------------------------------------------------------------------------- browsing


def _id(value: int | None) -> int:
    assert value is not None, "rows read from the store have ids"
    return value


def _engine(workspace: Workspace) -> Any:
    from dockyard.core.workspace import engine_for

    return engine_for(workspace)


def _version_info(
    row: Any, dataset_name: str, workspace: Workspace | None = None, with_profile: bool = False
) -> VersionInfo:
    object_path = Path(row.object_path)
    if workspace is not None:
        object_path = workspace.object_file(row.object_path)
    columns = tuple(Column(c["name"], c["dtype"]) for c in json.loads(row.columns_json))
    return VersionInfo(
        id=row.id,
        dataset_id=row.dataset_id,
        dataset=dataset_name,
        version=row.version,
        content_hash=row.content_hash,
        hash_algo=row.hash_algo,
        object_path=object_path,
        source_path=row.source_path,
        file_format=row.file_format,
        size_bytes=row.size_bytes,
        n_rows=row.n_rows,
        n_cols=row.n_cols,
        columns=columns,
        message=row.message,
        author=row.author,
        created_at=row.created_at,
        profile=json.loads(row.profile_json) if with_profile else None,
        archived_at=getattr(row, "archived_at", None),
    )


def _dataset_id(reader: Reader, name: str) -> int:
    """The id of dataset ``name``; NotFoundError lists (some of) the known names."""
    row = reader.fetch_one("SELECT id FROM dataset WHERE name = :name", {"name": name})
    if row is None:
        known = reader.fetch_all("SELECT name FROM dataset ORDER BY name LIMIT 10")
        listing = ", ".join(str(r["name"]) for r in known) or "none yet"
        raise NotFoundError(
            f"no dataset named {name!r} (registered: {listing}); "
            "add one with `dockyard data add NAME PATH`"
        )
    return int(row["id"])


def _reader(workspace: Workspace) -> Reader:
    from dockyard.core.workspace import reader_for

    return reader_for(workspace)


def _version_from_row(
    row: Mapping[str, Any], dataset_name: str, workspace: Workspace, with_profile: bool = False
) -> VersionInfo:
    """A :class:`VersionInfo` from a row of ``VERSION_SQL`` (``profile_json`` if asked)."""
    from types import SimpleNamespace

    from dockyard.store.queries import as_utc

    fields = {k: row[k] for k in ("id", *VERSION_FIELDS)}
    fields["created_at"] = as_utc(row["created_at"])
    fields["archived_at"] = as_utc(row["archived_at"])
    if with_profile:
        fields["profile_json"] = row["profile_json"]
    return _version_info(SimpleNamespace(**fields), dataset_name, workspace, with_profile)


def list_datasets(
    workspace: Workspace,
    *,
    limit: int | None = None,
    offset: int = 0,
    name: str | None = None,
    archived: str = "hide",
) -> list[DatasetInfo]:
    """Datasets with their latest version, most recently changed first, in one query
    (``limit``/``offset`` page it; profiles are not loaded). Archived datasets and
    versions are hidden (``archived="hide"``), alone (``"only"``) or included
    (``"include"``); a dataset asked for by ``name`` is found whatever its state."""
    from types import SimpleNamespace

    from dockyard.core.workspace import reader_for
    from dockyard.store.queries import archived_clause, as_utc

    if name is not None:
        archived = "include"
    shown = archived_clause("d.archived_at", archived)
    versions = archived_clause("archived_at", "hide" if archived == "hide" else "include")
    params = {"name": name, "limit": INT64_MAX if limit is None else limit, "offset": offset}
    out = []
    sql = DATASETS_SQL.format(archived=shown, version_archived=versions)
    for row in reader_for(workspace).fetch_all(sql, params):
        version = None
        if row["version_id"] is not None:
            fields = {k: row[k] for k in VERSION_FIELDS} | {"id": row["version_id"]}
            fields["created_at"] = as_utc(row["created_at"])
            version = _version_info(SimpleNamespace(**fields), row["d_name"], workspace)
        created, updated = as_utc(row["d_created_at"]), as_utc(row["d_updated_at"])
        assert created is not None and updated is not None  # NOT NULL columns
        out.append(
            DatasetInfo(
                id=int(row["d_id"]),
                name=row["d_name"],
                description=row["d_description"],
                created_at=created,
                updated_at=updated,
                n_versions=int(row["n"] or 0),
                latest=version,
                archived_at=as_utc(row["d_archived_at"]),
            )
        )
    return out


#: The version columns ``_version_info`` reads (all but the profile, which lists skip).
VERSION_FIELDS = (
    "dataset_id", "version", "content_hash", "hash_algo", "object_path", "source_path",
    "file_format", "size_bytes", "n_rows", "n_cols", "columns_json", "message", "author",
)  # fmt: skip

# Plain SQL through ``reader_for``: `data list` must not import SQLAlchemy (decision 21).
# {archived} and {version_archived}: store.queries.archived_clause (archived versions are
# neither counted nor "latest" unless asked for).
DATASETS_SQL = f"""
SELECT d.id AS d_id, d.name AS d_name, d.description AS d_description,
       d.created_at AS d_created_at, d.updated_at AS d_updated_at, s.n AS n,
       d.archived_at AS d_archived_at,
       v.id AS version_id, {", ".join(f"v.{c} AS {c}" for c in VERSION_FIELDS)},
       v.created_at AS created_at, v.archived_at AS archived_at
FROM dataset AS d
LEFT JOIN (
    SELECT dataset_id, MAX(version) AS latest, COUNT(*) AS n
    FROM dataset_version WHERE {{version_archived}} GROUP BY dataset_id
) AS s ON s.dataset_id = d.id
LEFT JOIN dataset_version AS v ON v.dataset_id = d.id AND v.version = s.latest
WHERE (CAST(:name AS VARCHAR) IS NULL OR d.name = :name) AND {{archived}}
ORDER BY d.updated_at DESC, d.name
LIMIT :limit OFFSET :offset
"""


def get_dataset(workspace: Workspace, name: str) -> DatasetInfo:
    """One dataset with its latest version; NotFoundError names the known ones."""
    check_name(name)
    found = list_datasets(workspace, name=name)
    if found:
        return found[0]
    _dataset_id(_reader(workspace), name)  # raises, listing the known names
    raise NotFoundError(f"no dataset named {name!r}")  # pragma: no cover


# A version's columns (``profile_json`` only where asked: it can be large).
VERSION_SQL = (
    f"SELECT id, {', '.join(VERSION_FIELDS)}, created_at, archived_at{{profile}}"
    " FROM dataset_version"
)


def list_versions(workspace: Workspace, name: str, *, archived: str = "hide") -> list[VersionInfo]:
    """The versions of ``name``, newest first (without profiles); archived ones hidden,
    alone (``archived="only"``) or included (``"include"``)."""
    from dockyard.store.queries import archived_clause

    check_name(name)
    reader = _reader(workspace)
    dataset_id = _dataset_id(reader, name)
    where = archived_clause("archived_at", archived)
    rows = reader.fetch_all(
        VERSION_SQL.format(profile="") + f" WHERE dataset_id = :d AND {where}"
        " ORDER BY version DESC",
        {"d": dataset_id},
    )
    return [_version_from_row(r, name, workspace) for r in rows]


def get_version(
    workspace: Workspace, ref: str | DatasetRef, *, with_profile: bool = True
) -> VersionInfo:
    """The version ``ref`` names (``name``, ``name@3``, ``name@latest``), with its profile."""
    parsed = parse_ref(ref) if isinstance(ref, str) else ref
    reader = _reader(workspace)
    dataset_id = _dataset_id(reader, parsed.name)
    select = VERSION_SQL.format(profile=", profile_json" if with_profile else "")
    if parsed.version is None:
        # "latest" never means an archived version: archiving an accidental version is
        # how a user makes the one before it current again
        sql = (
            select + " WHERE dataset_id = :d AND archived_at IS NULL ORDER BY version DESC LIMIT 1"
        )
    else:
        sql = select + " WHERE dataset_id = :d AND version = :v"
    row = reader.fetch_one(sql, {"d": dataset_id, "v": parsed.version})
    if row is None:
        versions = reader.fetch_all(
            "SELECT version FROM dataset_version WHERE dataset_id = :d ORDER BY version",
            {"d": dataset_id},
        )
        have = _ranges([int(r["version"]) for r in versions]) or "none"
        raise NotFoundError(
            f"dataset {parsed.name!r} has no version {parsed.version} (versions: {have}); "
            f"see `dockyard data versions {parsed.name}`"
        )
    return _version_from_row(row, parsed.name, workspace, with_profile=with_profile)


def _ranges(numbers: Sequence[int]) -> str:
    if not numbers:
        return ""
    parts = []
    start = prev = numbers[0]
    for n in [*numbers[1:], None]:
        if n is not None and n == prev + 1:
            prev = n
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if n is not None:
            start = prev = n
    return ", ".join(parts)


def get_version_by_id(
    workspace: Workspace, version_id: int, *, with_profile: bool = False
) -> VersionInfo:
    """The version with row id ``version_id`` (what a run records)."""
    select = VERSION_SQL.format(profile=", profile_json" if with_profile else "")
    reader = _reader(workspace)
    row = reader.fetch_one(select + " WHERE id = :id", {"id": version_id})
    if row is None:
        raise NotFoundError(f"no dataset version with id {version_id}")
    dataset = reader.fetch_one("SELECT name FROM dataset WHERE id = :id", {"id": row["dataset_id"]})
    name = str(dataset["name"]) if dataset is not None else "?"
    return _version_from_row(row, name, workspace, with_profile=with_profile)


def version_path(workspace: Workspace, version_id: int, *, verify: bool = True) -> Path:
    """The immutable stored file (or folder) of a version, for a training process.

    With ``verify`` the bytes are re-hashed first and a mismatch raises
    ``core.hashing.ObjectCorruptError``.
    """
    info = get_version_by_id(workspace, version_id)
    if not info.object_path.exists():
        workspace.check_objects()  # an unmounted shared store says so, not "file missing"
    if verify:
        verify_version(info)
    return info.object_path


def verify_version(info: VersionInfo) -> None:
    """Re-hash the stored object and compare with the recorded digest."""
    from dockyard.core import hashing

    if info.is_folder:
        hashing.verify_tree(info.object_path, info.content_hash, info.hash_algo)
    else:
        hashing.verify_file(
            info.object_path, info.content_hash, info.hash_algo, size=info.size_bytes
        )


def object_problem(info: VersionInfo) -> str | None:
    """Why the version's stored object is not the registered data, or None if it is.

    Previews and profiles call this beside reading, so what they show never silently
    comes from bytes that were altered after registration. A file is re-hashed unless
    this user verified the same file state before (``core.hashing.verified_before``), so
    repeated previews of a large version cost one hash.
    """
    from dockyard.core import hashing

    try:
        if info.is_folder:
            hashing.verify_tree(info.object_path, info.content_hash, info.hash_algo)
        else:
            hashing.verify_file(
                info.object_path, info.content_hash, info.hash_algo, size=info.size_bytes,
                cached=True,
            )  # fmt: skip
    except hashing.ObjectCorruptError as exc:
        return f"{info.ref}: {exc}"
    return None


RUNS_USING_SQL = """
SELECT r.id AS run_id, p.name AS project, r.status AS status, r.created_at AS created_at,
       dv.version AS version, r.dataset_version_id AS dataset_version_id
FROM run AS r
JOIN dataset_version AS dv ON dv.id = r.dataset_version_id
JOIN project AS p ON p.id = r.project_id
WHERE dv.dataset_id = :d AND (CAST(:v AS INTEGER) IS NULL OR dv.version = :v)
ORDER BY r.created_at DESC, r.id DESC
LIMIT :limit
"""


def runs_using(
    workspace: Workspace, dataset_name: str, version: int | None = None, *, limit: int = 1000
) -> list[RunUse]:
    """Runs whose ``dataset_version_id`` is a version of ``dataset_name`` (one version if
    given), newest first."""
    from dockyard.store.queries import as_utc

    check_name(dataset_name)
    reader = _reader(workspace)
    dataset_id = _dataset_id(reader, dataset_name)
    out = []
    for row in reader.fetch_all(RUNS_USING_SQL, {"d": dataset_id, "v": version, "limit": limit}):
        created = as_utc(row["created_at"])
        assert created is not None  # a NOT NULL column
        out.append(
            RunUse(
                run_id=int(row["run_id"]),
                project=row["project"],
                status=row["status"],
                created_at=created,
                dataset=dataset_name,
                version=int(row["version"]),
                dataset_version_id=int(row["dataset_version_id"]),
            )
        )
    return out


# ------------------------------------------------------------------------------ preview

_LAYOUTS: OrderedDict[tuple[str, int], _Layout] = OrderedDict()
_LAYOUT_CACHE = 64
_LAYOUTS_LOCK = threading.Lock()


@dataclass(frozen=True)
class _Layout:
    """How to find rows in a version's stored files (versions are immutable: cacheable)."""

    file_format: str
    columns: list[str]
    dtypes: list[str]
    delimiter: str
    files: list[dict[str, Any]]  # path, hash, size, rows, indexed
    objects: Path


def _layout(workspace: Workspace, version_id: int) -> _Layout:
    key = (workspace.db_url, version_id)
    with _LAYOUTS_LOCK:  # TUI workers page from several threads
        cached = _LAYOUTS.get(key)
        if cached is not None:
            _LAYOUTS.move_to_end(key)
            return cached
    # a plain query through the reader: the first page must not wait for SQLAlchemy
    row = _reader(workspace).fetch_one(
        "SELECT object_path, file_format, columns_json, profile_json "
        "FROM dataset_version WHERE id = :id",
        {"id": version_id},
    )
    if row is None:
        raise NotFoundError(f"no dataset version with id {version_id}")
    object_path, file_format = row["object_path"], row["file_format"]
    columns_json, profile_json = row["columns_json"], row["profile_json"]
    columns = json.loads(columns_json)
    profile = json.loads(profile_json)
    stored = workspace.object_file(object_path)
    layout = _Layout(
        file_format=str(file_format).removesuffix(FOLDER_SUFFIX),
        columns=[c["name"] for c in columns],
        dtypes=[c["dtype"] for c in columns],
        delimiter=str(profile.get("delimiter", ",")),
        files=list(profile.get("files", [])),
        objects=stored.parent,
    )
    with _LAYOUTS_LOCK:
        _LAYOUTS[key] = layout
        while len(_LAYOUTS) > _LAYOUT_CACHE:
            _LAYOUTS.popitem(last=False)
    return layout


def preview_page(
    workspace: Workspace, version_id: int, offset: int, limit: int
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Rows ``offset`` to ``offset + limit`` of a version, read without loading the file.

    CSV: the row index stored at registration gives the byte offset of every 1,000th row,
    so a page reads at most about 2,000 rows wherever it is. Parquet: only the row groups
    that hold the page are read. Values are typed by the column's dtype (int, float, bool,
    str) and missing values are None.
    """
    if offset < 0 or limit < 0:
        raise InputError("offset and limit must be zero or more")
    layout = _layout(workspace, version_id)
    rows: list[tuple[Any, ...]] = []
    start = 0
    for entry in layout.files:
        n = int(entry["rows"])
        lo, hi = max(offset, start), min(offset + limit, start + n)
        if lo < hi:
            path = layout.objects / str(entry["hash"])
            if layout.file_format == "parquet":
                rows.extend(_parquet_rows(path, lo - start, hi - lo))
            else:
                raw = _csv_rows(layout, entry, path, lo - start, hi - lo)
                rows.extend(_typed(r, layout.dtypes) for r in raw)
        start += n
        if start >= offset + limit:
            break
    return list(layout.columns), rows


def head(
    workspace: Workspace, ref: str | DatasetRef, n: int = 10, offset: int = 0
) -> tuple[VersionInfo, list[str], list[tuple[Any, ...]]]:
    """``n`` rows of a version from row ``offset`` (0 is the first).

    An offset past the last row is refused, naming the row count: an empty page would
    look like an empty dataset.
    """
    info = get_version(workspace, ref, with_profile=False)
    if offset and offset >= info.n_rows:
        raise InputError(
            f"{info.ref} has {info.n_rows:,} rows; an offset must be below {info.n_rows} "
            f"(0 is the first row), not {shown(offset)}"
        )
    try:
        columns, rows = preview_page(workspace, info.id, offset, n)
    except FileNotFoundError as exc:
        raise DockyardError(
            f"{info.ref}: its stored object {exc.filename} is missing; "
            "register the data again with dockyard data add"
        ) from None
    return info, columns, rows


def _csv_rows(
    layout: _Layout, entry: dict[str, Any], path: Path, offset: int, count: int
) -> Iterator[list[str]]:
    import csv
    import io

    index_path = layout.objects / f"{entry['hash']}.rows"
    span = _index_span(index_path, offset, count) if entry.get("indexed") else None
    if span is None:
        yield from _csv_rows_scan(path, layout.delimiter, offset, count)
        return
    begin, end, skip = span
    with open(path, "rb") as f:
        f.seek(begin)
        data = f.read((end - begin) if end >= 0 else -1)
    reader = csv.reader(io.StringIO(data.decode("utf-8"), newline=""), delimiter=layout.delimiter)
    taken = 0
    for row in reader:
        if not row:
            continue
        if skip:
            skip -= 1
            continue
        yield row
        taken += 1
        if taken == count:
            return


def _index_span(index_path: Path, offset: int, count: int) -> tuple[int, int, int] | None:
    """(begin byte, end byte or -1, rows to skip) for rows ``offset`` .. ``offset+count``."""
    try:
        with open(index_path, "rb") as f:
            magic, every, total = INDEX_HEADER.unpack(f.read(INDEX_HEADER.size))
            if magic != INDEX_MAGIC or every <= 0:
                return None
            first = offset // every
            last = (offset + count + every - 1) // every  # entry at or after the page end
            f.seek(INDEX_HEADER.size + 8 * first)
            begin = struct.unpack("<q", f.read(8))[0]
            end = -1
            if last * every < total:
                f.seek(INDEX_HEADER.size + 8 * last)
                raw = f.read(8)
                if len(raw) == 8:
                    end = struct.unpack("<q", raw)[0]
            return begin, end, offset - first * every
    except (OSError, struct.error):
        return None


def _csv_rows_scan(path: Path, delimiter: str, offset: int, count: int) -> Iterator[list[str]]:
    """Without an index: read from the start (only for files whose quoting defeated it)."""
    import csv

    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f, delimiter=delimiter)
        seen = -1  # the header
        for row in reader:
            if not row:
                continue
            seen += 1
            if seen <= offset:
                continue
            yield row
            if seen >= offset + count:
                return


def _parquet_rows(path: Path, offset: int, count: int) -> list[tuple[Any, ...]]:
    from dockyard.core.profiling import import_parquet

    pq = import_parquet(path)
    parquet = pq.ParquetFile(path)
    meta = parquet.metadata
    out: list[tuple[Any, ...]] = []
    start = 0
    for group in range(meta.num_row_groups):
        n = meta.row_group(group).num_rows
        lo, hi = max(offset, start), min(offset + count, start + n)
        if lo < hi:
            table = parquet.read_row_group(group).slice(lo - start, hi - lo)
            columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
            out.extend(zip(*columns, strict=True))
        start += n
        if start >= offset + count:
            break
    return out


def _typed(row: list[str], dtypes: list[str]) -> tuple[Any, ...]:
    na = NA_TOKENS
    out: list[Any] = []
    for value, dtype in zip(row, dtypes, strict=False):
        if value in na:
            out.append(None)
        elif dtype == "int64":
            out.append(_convert(int, value))
        elif dtype == "float64":
            out.append(_convert(float, value))
        elif dtype == "bool":
            word = value.strip().lower()
            out.append(word == "true" if word in ("true", "false") else value)
        else:
            out.append(value)
    out.extend([None] * (len(dtypes) - len(out)))
    return tuple(out)


def _convert(kind: Callable[[str], Any], value: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        return value


# ------------------------------------------------------------------------------- export


def export_version(
    workspace: Workspace, ref: str | DatasetRef, dest: Path | str, *, force: bool = False
) -> Path:
    """Copy a version's stored bytes to ``dest``, verifying its digest on the way.

    ``dest`` may be an existing folder (the file is written inside it as
    ``NAME-vN.EXT``). A ``dest`` string ending in ``/`` always names a folder: it is
    created if missing (its parent must exist), and refused if it is a file. An existing
    file is replaced only with ``force``; anything else that exists (a device, a pipe, a
    socket, a symbolic link) is refused even then, since the rename would replace it with
    a regular file. The copy is written under a temporary name in the target's folder and
    renamed, so a failed export leaves nothing, and it is created with the user's umask
    like any file they write.
    """
    info = get_version(workspace, ref, with_profile=False)
    target = Path(dest).expanduser()
    # Path() drops a trailing slash, so the caller's intent is read from the string
    made = _export_folder_named(target, info.is_folder) if _names_folder(dest) else None
    try:
        return _export_to(info, target, force=force)
    except BaseException:
        if made is not None:
            with contextlib.suppress(OSError):
                made.rmdir()
        raise


def _names_folder(dest: Path | str) -> bool:
    return isinstance(dest, str) and dest.endswith(("/", os.sep))


def _export_folder_named(target: Path, is_folder: bool) -> Path | None:
    """Make the folder a ``DIR/`` export target names; return it if this call created it."""
    if target.exists() or target.is_symlink():
        if not target.is_dir():
            raise InputError(
                f"{target} is not a folder; a path ending in / names a folder, "
                "so it is not replaced even with --force"
            )
        return None
    if is_folder:
        return None  # a folder version is written as DIR itself
    if not target.parent.is_dir():
        raise NotFoundError(f"{target.parent}: no such folder; create it first")
    target.mkdir()
    return target


def _export_to(info: VersionInfo, target: Path, *, force: bool) -> Path:
    import shutil

    from dockyard.core import hashing

    ext = "." + info.file_format.removesuffix(FOLDER_SUFFIX)
    if target.is_dir() and (not info.is_folder or any(target.iterdir())):
        suffix = "" if info.is_folder else ext
        target = target / f"{info.dataset}-v{info.version}{suffix}"
    _check_export_target(target, folder=info.is_folder)
    empty_dir = target.is_dir() and not any(target.iterdir())
    if target.exists() and not empty_dir and not force:
        raise InputError(
            f"{target} already exists; choose another path or pass --force to replace it"
        )
    if not target.parent.is_dir():
        raise NotFoundError(f"{target.parent}: no such folder; create it first")
    tmp = target.parent / f".{target.name}.{secrets.token_hex(4)}.part"
    try:
        if info.is_folder:
            hashing.verify_tree(info.object_path, info.content_hash, info.hash_algo)
            _copy_tree_plain(info.object_path, tmp)
            if target.exists():
                shutil.rmtree(target) if target.is_dir() else target.unlink()
            os.replace(tmp, target)
        else:
            # created by open(..., "xb"): mode 0o666 less the umask, as `cp` would
            digest = _copy_hashing(info.object_path, tmp, info.hash_algo)
            if digest != info.content_hash:
                raise hashing.ObjectCorruptError(
                    f"object {info.object_path} no longer matches its {info.hash_algo} digest "
                    f"{info.content_hash[:12]}; it was modified outside Dockyard "
                    "(restore it from a backup)"
                )
            os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            if tmp.is_dir():
                shutil.rmtree(tmp)
            else:
                tmp.unlink()
        raise
    return target


def _check_export_target(target: Path, *, folder: bool) -> None:
    """Refuse an export target that exists and is neither a regular file nor a folder.

    ``lstat``, not ``stat``: a symbolic link is judged as itself, since the rename would
    replace the link, not what it points to.
    """
    import stat

    try:
        mode = target.lstat().st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise InputError(f"{target}: {exc.strerror}; export to another path") from None
    if stat.S_ISREG(mode) or (stat.S_ISDIR(mode) and folder):
        return
    kind = (
        "a symbolic link" if stat.S_ISLNK(mode)
        else "a folder" if stat.S_ISDIR(mode)
        else "a named pipe" if stat.S_ISFIFO(mode)
        else "a socket" if stat.S_ISSOCK(mode)
        else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
        else "not a regular file"
    )  # fmt: skip
    raise InputError(
        f"{target} is {kind}; an export writes only a new path or over a regular file "
        "(even with --force)"
    )


def _copy_tree_plain(src: Path, dst: Path) -> None:
    """Copy a folder object's files, without their read-only modes: the user's umask sets
    the copy's permissions (``shutil.copytree`` would copy the objects' 0o444)."""
    import shutil

    dst.mkdir()
    for folder, dirs, files in os.walk(src):
        out = dst / Path(folder).relative_to(src)
        for name in dirs:
            (out / name).mkdir()
        for name in files:
            shutil.copyfile(Path(folder) / name, out / name)


def _copy_hashing(src: Path, dst: Path, algo: str) -> str:
    from dockyard.core.hashing import BLOCK_SIZE, new_hasher

    hasher = new_hasher(algo)
    with open(src, "rb") as fin, open(dst, "xb") as fout:
        while block := fin.read(BLOCK_SIZE):
            hasher.update(block)
            fout.write(block)
    return hasher.hexdigest()
