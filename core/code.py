"""Which code a run ran: the project folder's own git state, or a snapshot of its files.

Captured by the run's supervisor just before the training process starts
(:func:`capture_code`), stored as the run's ``code_json`` record, read back by
``dockyard run code`` / ``run diff`` and the run screen.

* When the project folder's files are tracked by a git repository (``git ls-files`` of the
  folder is not empty, and the entry script is among them), the record names that
  repository's commit and whether the folder is dirty. A dirty folder also keeps the
  diff against the commit (``git diff HEAD``, plus new files, at most
  :data:`MAX_DIFF_BYTES`) and the current bytes of every changed or new file, so the
  exact code can be shown even when the working tree has moved on.
* Otherwise (no repository, or a repository that ignores the folder, as the demo's
  workspace is), the record is a content-addressed snapshot of the project's source files:
  each file stored once in ``objects/<digest>``, and a manifest (path, digest, size of
  every file) stored the same way, so identical snapshots share every object.

What a snapshot leaves out: whatever the project's own ``.gitignore`` files ignore
(matched by git itself when it is installed), the folders in :data:`SKIP_DIRS`, data and
model files (:data:`DATA_SUFFIXES`), the project's declared dataset files, symbolic links,
files over :data:`MAX_FILE_BYTES`, and whatever exceeds :data:`MAX_TOTAL_BYTES` or
:data:`MAX_FILES` (source files first). The record counts what was left out and why.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import os
import shlex
import stat
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from dockyard.core import hashing
from dockyard.core.errors import DockyardError, NotFoundError
from dockyard.core.overview import human_size
from dockyard.core.workspace import Workspace

#: A file larger than this is left out of a snapshot (and of a dirty tree's changed files).
MAX_FILE_BYTES = 1_000_000
#: A snapshot stores at most this many bytes; files past it are left out, source first.
MAX_TOTAL_BYTES = 10_000_000
#: A snapshot stores at most this many files.
MAX_FILES = 5000
#: A dirty tree's diff is cut (at a line end) past this size, and marked truncated.
MAX_DIFF_BYTES = 1_000_000
#: How many left-out paths a record names (the counts cover all of them).
LEFT_OUT_NAMED = 20

#: Folders never part of the code: environments, caches, outputs and data.
SKIP_DIRS = frozenset(
    {
        ".git", ".hg", ".svn", ".dockyard", ".venv", "venv", "__pycache__", ".mypy_cache",
        ".pytest_cache", ".ruff_cache", ".tox", ".nox", ".ipynb_checkpoints", "node_modules",
        "outputs", "output", "data", "datasets", "mlruns", "wandb", "logs", "build", "dist",
    }
)  # fmt: skip
#: Data and model files, whatever folder they are in.
DATA_SUFFIXES = frozenset(
    {
        ".csv", ".tsv", ".parquet", ".feather", ".arrow", ".orc", ".avro", ".jsonl", ".npy",
        ".npz", ".pkl", ".pickle", ".joblib", ".skops", ".h5", ".hdf5", ".pt", ".pth", ".ckpt",
        ".onnx", ".safetensors", ".bin", ".db", ".sqlite", ".zip", ".gz", ".bz2", ".xz",
        ".zst", ".tar", ".7z", ".log", ".pyc",
    }
)  # fmt: skip
#: Kept first when a snapshot reaches its caps.
SOURCE_SUFFIXES = frozenset(
    {
        ".py", ".pyi", ".toml", ".cfg", ".ini", ".yaml", ".yml", ".json", ".txt", ".md", ".sh",
        ".r", ".R", ".jl", ".sql", ".ipynb", ".c", ".h", ".cpp", ".rs", ".go", ".java", ".js",
        ".ts",
    }
)  # fmt: skip
MANIFEST_FORMAT = "dockyard-code-v1"
_GIT_TIMEOUT = 20


@dataclass(frozen=True)
class CodeFile:
    """One file of a run's code. ``algo`` is the hash's algorithm: the store's (``blake3``
    or ``sha256``) for stored bytes, ``git-sha1`` for a blob of the run's commit.
    ``status`` is ``""`` for a file as committed or snapshotted, ``modified``/``added``/
    ``deleted`` for a dirty tree's changes."""

    path: str
    hash: str
    algo: str
    size: int
    status: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "hash": self.hash,
            "algo": self.algo,
            "size": self.size,
            "status": self.status,
        }


@dataclass(frozen=True)
class CodeView:
    """A run's code record and the files it names."""

    run_id: int
    record: dict[str, Any]
    files: list[CodeFile]

    def to_dict(self) -> dict[str, Any]:
        return {
            "run": self.run_id,
            **self.record,
            "files": [f.to_dict() for f in self.files if f.status != "deleted"],
            "deleted": [f.path for f in self.files if f.status == "deleted"],
        }


# --- capture ----------------------------------------------------------------------------


def capture_code(
    workspace: Workspace, folder: Path, entry: str, data_paths: Iterable[str] = ()
) -> dict[str, Any]:
    """The code record of a run about to start in ``folder`` with command ``entry``.

    Never raises for a problem of the project's files or of git: a record that could not
    be made says why (``{"kind": "none", "error": ...}``), and the run goes on.
    """
    folder = folder.resolve()
    try:
        record = _git_record(workspace, folder, entry)
        if record is None:
            record = _snapshot_record(workspace, folder, data_paths)
    except (OSError, DockyardError, UnicodeError, subprocess.SubprocessError) as exc:
        # a git that fails half-way, a full disk: the run goes on, and says why
        return {"kind": "none", "error": f"the code was not recorded: {exc}"}
    return record


def summary(record: Mapping[str, Any]) -> str:
    """One short line for a face: ``git 1a2b3c4d5e6f (dirty)`` or ``snapshot, 4 files``."""
    kind = record.get("kind")
    if kind == "git":
        return f"git {str(record.get('commit', ''))[:12]}" + (
            " (dirty)" if record.get("dirty") else ""
        )
    if kind == "snapshot":
        files = int(record.get("files", 0))
        text = f"snapshot, {files} file{'s' if files != 1 else ''}"
        left = int(record.get("left_out", {}).get("count", 0))
        return text + (f" ({left} left out)" if left else "")
    if kind == "none":
        return "not recorded"
    return "-"  # a run from before code records, or not started yet


def entry_script(folder: Path, entry: str) -> str | None:
    """The project-relative path of the file the entry command runs, if it names one:
    the first argument that is a file of the folder, or the module of ``-m``."""
    try:
        argv = shlex.split(entry)
    except ValueError:
        return None
    folder = folder.resolve()
    for index, arg in enumerate(argv):
        if arg == "-m" and index + 1 < len(argv):
            base = Path(*argv[index + 1].split("."))
            for candidate in (base.with_suffix(".py"), base / "__main__.py"):
                if (folder / candidate).is_file():
                    return candidate.as_posix()
            return None
        if arg.startswith("-") or os.path.isabs(arg):
            continue
        path = folder / arg
        if path.is_file() and path.resolve().is_relative_to(folder):
            return path.resolve().relative_to(folder).as_posix()
    return None


def _git(folder: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    # GIT_* variables of the user's shell (GIT_DIR, GIT_INDEX_FILE) must not point these
    # questions at another repository
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    # `git diff` refreshes the index's stat cache; it must not write the user's index
    env["GIT_OPTIONAL_LOCKS"] = "0"
    return subprocess.run(
        ["git", "-C", str(folder), *args],
        capture_output=True, timeout=_GIT_TIMEOUT, check=check, env=env,
    )  # fmt: skip


def _z(output: bytes) -> list[str]:
    return [p for p in output.decode("utf-8", "surrogateescape").split("\0") if p]


def _git_record(workspace: Workspace, folder: Path, entry: str) -> dict[str, Any] | None:
    """The record of a project whose files a git repository tracks, else None."""
    try:
        top = _git(folder, "rev-parse", "--show-toplevel", "--show-prefix").stdout
        root, prefix = [*top.decode("utf-8", "surrogateescape").split("\n"), ""][:2]
        tracked = set(_z(_git(folder, "ls-files", "-z", "--", ".").stdout))
    except (OSError, subprocess.SubprocessError):
        return None  # no git, not a work tree, or one git refuses to read (ownership)
    script = entry_script(folder, entry)
    if not tracked or (script is not None and script not in tracked):
        # "inside a work tree" is not enough: the demo's workspace lies in an ignoring one
        return None
    head = _git(folder, "rev-parse", "-q", "--verify", "HEAD^{commit}", check=False)
    if head.returncode != 0:
        return None  # files added but never committed: no commit holds the code
    commit = head.stdout.decode().strip()
    changes = _z(
        _git(folder, "diff", "--name-status", "--no-renames", "--relative", "-z", "HEAD",
             "--", ".").stdout
    )  # fmt: skip
    changed = dict(zip(changes[1::2], changes[0::2], strict=False))  # path -> M/A/D/T
    untracked = _z(
        _git(folder, "ls-files", "--others", "--exclude-standard", "-z", "--", ".").stdout
    )
    left = _LeftOut()
    # new files in outputs/ or data files the repository does not ignore are not code
    added = _select(folder, sorted(untracked), (), left)
    record: dict[str, Any] = {
        "kind": "git",
        "commit": commit,
        "dirty": bool(changed or added),
        "repo": root,
        "prefix": prefix,
    }
    if not record["dirty"]:
        return record
    store = _ObjectWriter(workspace.check_objects(write=True))
    algo = store.algo
    entries: list[list[Any]] = []
    for path, status in sorted(changed.items()):
        if status == "D":
            entries.append([path, None, 0])
        elif (stored := _store_file(store, folder, path, left)) is not None:
            entries.append([path, *stored])
    new_files = []
    for path in added:
        if (stored := _store_file(store, folder, path, left)) is not None:
            entries.append([path, *stored])
            new_files.append(path)
    diff = _git(folder, "diff", "--binary", "--no-renames", "--relative", "HEAD", "--", ".").stdout
    diff += b"".join(_new_file_patch(folder, path) for path in new_files)
    truncated = len(diff) > MAX_DIFF_BYTES
    if truncated:
        cut = diff.rfind(b"\n", 0, MAX_DIFF_BYTES) + 1
        diff = diff[: cut or MAX_DIFF_BYTES]
    record["diff"] = {
        "hash": store.put(diff),
        "algo": algo,
        "size": len(diff),
        "truncated": truncated,
    }
    record["changes"] = _store_manifest(store, entries)
    record["algo"] = algo
    record["left_out"] = left.to_dict()
    return record


def _new_file_patch(folder: Path, path: str) -> bytes:
    """A git-style patch creating ``path`` (git's diff does not show untracked files)."""
    data = (folder / path).read_bytes()
    head = f"diff --git a/{path} b/{path}\nnew file mode 100644\n--- /dev/null\n+++ b/{path}\n"
    try:
        lines = data.decode("utf-8").splitlines(keepends=True)
    except UnicodeDecodeError:
        return f"diff --git a/{path} b/{path}\nnew file mode 100644\nBinary files differ\n".encode()
    body = "".join(
        difflib.unified_diff([], [line if line.endswith("\n") else line + "\n" for line in lines])
    )
    # difflib's own ---/+++ lines are replaced by git's
    return (head + body.split("\n", 2)[2] if body else head).encode()


def _snapshot_record(
    workspace: Workspace, folder: Path, data_paths: Iterable[str]
) -> dict[str, Any]:
    """Store the project's source files and their manifest; the record of that snapshot."""
    listed, ignore = _list_files(folder)
    left = _LeftOut()
    chosen = _select(folder, listed, data_paths, left)
    store = _ObjectWriter(workspace.check_objects(write=True))
    entries: list[list[Any]] = []
    total = 0
    for path in chosen:
        stored = _store_file(store, folder, path, left)
        if stored is not None:
            entries.append([path, *stored])
            total += stored[1]
    return {
        "kind": "snapshot",
        "manifest": _store_manifest(store, entries),
        "algo": store.algo,
        "files": len(entries),
        "bytes": total,
        "ignore": ignore,
        "left_out": left.to_dict(),
    }


def _list_files(folder: Path) -> tuple[list[str], str]:
    """Every file of ``folder`` (relative POSIX paths) that its own ``.gitignore`` files
    and :data:`SKIP_DIRS` keep, and how ignoring was done.

    git matches ``.gitignore`` exactly as a user expects; it is asked with an empty
    repository of its own, so that a repository around the folder (which may ignore the
    whole folder, as the demo's does) has no say.
    """
    excludes = [arg for name in sorted(SKIP_DIRS) for arg in ("-x", f"{name}/")]
    try:
        with tempfile.TemporaryDirectory(prefix="dockyard-git-") as tmp:
            env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
            subprocess.run(
                ["git", "init", "-q", "--bare", "--template=", tmp],
                capture_output=True, timeout=_GIT_TIMEOUT, check=True, env=env,
            )  # fmt: skip
            listed = subprocess.run(
                ["git", f"--git-dir={tmp}", f"--work-tree={folder}", "-c", "core.excludesFile=",
                 "ls-files", "--others", "--exclude-per-directory=.gitignore", "-z", *excludes],
                capture_output=True, timeout=_GIT_TIMEOUT, check=True, env=env, cwd=folder,
            ).stdout  # fmt: skip
        return sorted(_z(listed)), ".gitignore"
    except (OSError, subprocess.SubprocessError):
        pass
    files = []
    for top, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        base = Path(top).relative_to(folder)
        files += [(base / name).as_posix() for name in names]
    return sorted(files), "defaults only (git not found)"


@dataclass
class _LeftOut:
    """What a snapshot did not store, counted by reason."""

    reasons: dict[str, int] = field(default_factory=dict)
    paths: list[str] = field(default_factory=list)
    count: int = 0
    size: int = 0

    def add(self, path: str, reason: str, size: int = 0) -> None:
        self.count += 1
        self.size += size
        self.reasons[reason] = self.reasons.get(reason, 0) + 1
        if len(self.paths) < LEFT_OUT_NAMED:
            self.paths.append(f"{path} ({reason})")

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "bytes": self.size,
            "reasons": dict(sorted(self.reasons.items())),
            "paths": self.paths,
        }


def _select(
    folder: Path, paths: Sequence[str], data_paths: Iterable[str], left: _LeftOut
) -> list[str]:
    """The files worth storing, within the caps: source files first, then by path."""
    datasets = set()
    for given in data_paths:
        with contextlib.suppress(OSError, ValueError):
            datasets.add((folder / given).resolve().relative_to(folder).as_posix())
    base = str(folder)
    candidates: list[tuple[int, str, int]] = []
    # plain strings and one lstat a file: pathlib costs more than the hashing here
    for path in paths:
        parent, _slash, name = path.rpartition("/")
        if parent and not SKIP_DIRS.isdisjoint(parent.split("/")):
            left.add(path, "skipped folder")
            continue
        try:
            st = os.lstat(f"{base}/{path}")
        except OSError:
            continue  # gone since it was listed
        suffix = os.path.splitext(name)[1]
        if not stat.S_ISREG(st.st_mode):
            left.add(path, "not a regular file")
        elif path in datasets:
            left.add(path, "dataset", st.st_size)
        elif suffix.lower() in DATA_SUFFIXES:
            left.add(path, "data or model file", st.st_size)
        elif st.st_size > MAX_FILE_BYTES:
            left.add(path, f"over {human_size(MAX_FILE_BYTES)}", st.st_size)
        else:
            rank = 0 if suffix in SOURCE_SUFFIXES or name == "Makefile" else 1
            candidates.append((rank, path, st.st_size))
    chosen: list[str] = []
    total = 0
    for _rank, path, size in sorted(candidates):
        if len(chosen) >= MAX_FILES:
            left.add(path, f"over {MAX_FILES:,} files", size)
        elif total + size > MAX_TOTAL_BYTES:
            left.add(path, f"over the {human_size(MAX_TOTAL_BYTES)} total", size)
        else:
            chosen.append(path)
            total += size
    return sorted(chosen)


def _store_file(
    store: _ObjectWriter, folder: Path, path: str, left: _LeftOut
) -> tuple[str, int] | None:
    """(digest, size) of the bytes of ``folder/path`` as read now, stored as an object."""
    chunks = []
    size = 0
    try:
        fd = os.open(f"{folder}/{path}", os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        try:
            # read to the end, however the file grew since it was listed, up to the cap
            while size <= MAX_FILE_BYTES and (chunk := os.read(fd, MAX_FILE_BYTES + 1 - size)):
                chunks.append(chunk)
                size += len(chunk)
        finally:
            os.close(fd)
    except OSError:
        return None  # removed, replaced by a link or unreadable since it was listed
    if size > MAX_FILE_BYTES:
        left.add(path, f"over {human_size(MAX_FILE_BYTES)}", size)
        return None
    data = b"".join(chunks)
    return store.put(data), size


class _ObjectWriter:
    """Stores byte strings as ``objects/<digest>``, each once."""

    def __init__(self, objects: Path) -> None:
        self.objects = str(objects)
        self.algo = hashing.hash_algorithm()
        self._tmp = ""
        self._count = 0

    def put(self, data: bytes) -> str:
        """Store ``data`` unless an object holds it already; its digest."""
        # one thread: for a small file, BLAKE3's thread pool costs ten times the hash
        hasher = hashing.new_hasher(self.algo, all_cores=False)
        hasher.update(data)
        digest = hasher.hexdigest()
        final = f"{self.objects}/{digest}"
        if os.path.exists(final):
            return digest
        # complete under a temporary name that carries this process (swept if it dies),
        # then renamed: an object is never seen half-written. A rename over the same
        # object written by another run at that moment replaces equal bytes with equal ones.
        if not self._tmp:
            self._tmp = str(hashing.tmp_path(Path(self.objects), "code"))
        self._count += 1
        tmp = f"{self._tmp}.{self._count}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
            os.rename(tmp, final)
        except BaseException:
            hashing.remove_object(Path(tmp))
            raise
        return digest


def _store_manifest(store: _ObjectWriter, entries: list[list[Any]]) -> str:
    """The manifest of ``entries`` ([path, digest or None for deleted, size]), stored."""
    document = {"format": MANIFEST_FORMAT, "algo": store.algo, "files": sorted(entries)}
    return store.put(json.dumps(document, sort_keys=True, separators=(",", ":")).encode())


def referenced_objects(
    record: Mapping[str, Any], objects: Path, *, strict: bool = False
) -> set[str]:
    """Every object digest a code record keeps alive (manifests, their files, the diff),
    for a clean-up that must not remove them.

    A manifest that cannot be read hides the files it names; with ``strict`` that raises
    (``DockyardError``) instead of being skipped, for a caller that would otherwise
    remove those files (``dockyard gc``)."""
    digests: set[str] = set()
    for key in ("manifest", "changes"):
        digest = record.get(key)
        if not isinstance(digest, str):
            continue
        digests.add(digest)
        try:
            manifest = json.loads(hashing.object_path(objects, digest).read_bytes())
            digests.update(entry[1] for entry in manifest["files"] if entry[1])
        except (OSError, ValueError, KeyError, TypeError, IndexError) as error:
            if strict:
                raise DockyardError(
                    f"code manifest {digest} cannot be read ({type(error).__name__}); "
                    "the files it names cannot be told from garbage"
                ) from None
    diff = record.get("diff")
    if isinstance(diff, dict) and isinstance(diff.get("hash"), str):
        digests.add(diff["hash"])
    return digests


# --- reading ----------------------------------------------------------------------------


def _read_object(objects: Path, digest: str, algo: str) -> bytes:
    """An object's bytes, checked against its digest (a run's code is evidence)."""
    path = hashing.object_path(objects, digest)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise hashing.ObjectCorruptError(
            f"object {path} is missing; the store was damaged (restore .dockyard/objects)"
        ) from exc
    hasher = hashing.new_hasher(algo, all_cores=False)
    hasher.update(data)
    if hasher.hexdigest() != digest:
        raise hashing.ObjectCorruptError(
            f"object {path} no longer matches its {algo} digest {digest[:12]}; "
            "it was modified outside Dockyard (restore it from a backup)"
        )
    return data


def _manifest(objects: Path, digest: str, algo: str) -> list[list[Any]]:
    document = json.loads(_read_object(objects, digest, algo))
    files: list[list[Any]] = document["files"]
    return files


def run_code(workspace: Workspace, run_id: int) -> CodeView:
    """The code a run ran: its record and every file, with hashes.

    Raises NotFoundError for an unknown run, DockyardError when the code cannot be read
    (a run from before code records, a repository that no longer has the commit).
    """
    from dockyard.core.runs import get_run

    info = get_run(workspace, run_id)
    return CodeView(run_id, info.code, _files(workspace, run_id, info.code))


def _files(workspace: Workspace, run_id: int, record: Mapping[str, Any]) -> list[CodeFile]:
    kind = record.get("kind")
    if kind == "snapshot":
        algo = str(record["algo"])
        return [
            CodeFile(path, digest, algo, size)
            for path, digest, size in _manifest(workspace.objects, record["manifest"], algo)
        ]
    if kind == "git":
        files = {f.path: f for f in _git_tree(record)}
        if record.get("changes"):
            algo = str(record["algo"])
            for path, digest, size in _manifest(workspace.objects, record["changes"], algo):
                if digest is None:
                    files[path] = CodeFile(path, "", algo, 0, "deleted")
                else:
                    status = "modified" if path in files else "added"
                    files[path] = CodeFile(path, digest, algo, size, status)
        return [files[path] for path in sorted(files)]
    if kind == "none":
        raise DockyardError(f"run {run_id}: {record.get('error', 'the code was not recorded')}")
    raise DockyardError(
        f"run {run_id} has no code record (it has not started, or it ran before Dockyard "
        "recorded code)"
    )


def _git_show(record: Mapping[str, Any], *args: str) -> bytes:
    repo = Path(str(record.get("repo", "")))
    commit = str(record.get("commit", ""))
    try:
        return _git(repo, *args).stdout
    except OSError as exc:
        raise DockyardError(f"cannot read the run's commit {commit[:12]}: {exc}") from exc
    except subprocess.CalledProcessError as exc:
        raise DockyardError(
            f"the repository {repo} no longer holds the run's commit {commit[:12]} "
            "(fetch it, or restore the repository)"
        ) from exc
    except subprocess.SubprocessError as exc:
        raise DockyardError(f"cannot read the run's commit {commit[:12]}: {exc}") from exc


def _git_tree(record: Mapping[str, Any]) -> list[CodeFile]:
    prefix = str(record.get("prefix", ""))
    out = _git_show(record, "ls-tree", "-r", "-l", "-z", "--full-tree", str(record["commit"]),
                    "--", prefix or ".")  # fmt: skip
    files = []
    for line in _z(out):
        meta, _tab, path = line.partition("\t")
        _mode, kind, blob, size = meta.split()
        if kind == "blob" and path.startswith(prefix):
            files.append(CodeFile(path[len(prefix) :], blob, "git-sha1", int(size)))
    return files


def code_file(workspace: Workspace, run_id: int, path: str) -> tuple[CodeFile, bytes]:
    """One file of a run's code, exactly as it was when the run started."""
    view = run_code(workspace, run_id)
    return _file_bytes(workspace, view, path)


def _file_bytes(workspace: Workspace, view: CodeView, path: str) -> tuple[CodeFile, bytes]:
    wanted = PurePosixPath(path.replace(os.sep, "/")).as_posix().removeprefix("./")
    match = next((f for f in view.files if f.path == wanted and f.status != "deleted"), None)
    if match is None:
        raise NotFoundError(
            f"run {view.run_id}'s code has no file {path!r}; "
            f"see `dockyard run code {view.run_id}` for its files"
        )
    return match, _content(workspace, view.record, match)


def _content(workspace: Workspace, record: Mapping[str, Any], item: CodeFile) -> bytes:
    if item.algo == "git-sha1":
        return _git_show(record, "cat-file", "blob", item.hash)
    return _read_object(workspace.objects, item.hash, item.algo)


def code_diff_text(workspace: Workspace, run_id: int) -> bytes | None:
    """A dirty git run's stored diff against its commit, or None."""
    from dockyard.core.runs import get_run

    diff = get_run(workspace, run_id).code.get("diff")
    if not isinstance(diff, dict):
        return None
    return _read_object(workspace.objects, diff["hash"], diff["algo"])


# --- comparing two runs -----------------------------------------------------------------


@dataclass(frozen=True)
class RunDiff:
    """What differs between two runs; ``to_dict`` is the ``--json`` shape."""

    a: int
    b: int
    projects: tuple[str, str]
    params: dict[str, tuple[str | None, str | None]]
    data: dict[str, tuple[str | None, str | None]]
    code: dict[str, Any]
    packages: dict[str, tuple[str | None, str | None]]
    packages_same: int

    def to_dict(self) -> dict[str, Any]:
        def pairs(values: Mapping[str, tuple[str | None, str | None]]) -> dict[str, Any]:
            return {k: {"a": a, "b": b} for k, (a, b) in values.items()}

        return {
            "a": self.a,
            "b": self.b,
            "projects": {"a": self.projects[0], "b": self.projects[1]},
            "params": pairs(self.params),
            "data": pairs(self.data),
            "code": self.code,
            "packages": pairs(self.packages),
            "packages_same": self.packages_same,
        }


def _changed(
    a: Mapping[str, Any], b: Mapping[str, Any]
) -> dict[str, tuple[str | None, str | None]]:
    return {
        key: (a.get(key), b.get(key)) for key in sorted(set(a) | set(b)) if a.get(key) != b.get(key)
    }


def diff_runs(workspace: Workspace, a: int, b: int) -> RunDiff:
    """Params, dataset versions, code and installed packages that differ between runs."""
    from dockyard.core.runs import get_run

    run_a, run_b = get_run(workspace, a), get_run(workspace, b)

    def data(info: Any) -> dict[str, Any]:
        values: dict[str, Any] = {"dataset": info.dataset, "dataset hash": info.dataset_hash}
        for name, path in sorted(info.env.get("data_paths", {}).items()):
            values[f"file of {name}"] = Path(str(path)).name
        return values

    def packages(info: Any) -> dict[str, Any]:
        found = dict(info.env.get("packages", {}))
        if info.env.get("python"):
            found["python"] = info.env["python"]
        return found

    packs_a, packs_b = packages(run_a), packages(run_b)
    changed_packages = _changed(packs_a, packs_b)
    return RunDiff(
        a=a,
        b=b,
        projects=(run_a.project, run_b.project),
        params=_changed(run_a.params, run_b.params),
        data=_changed(data(run_a), data(run_b)),
        code=_code_diff(workspace, a, run_a.code, b, run_b.code),
        packages=changed_packages,
        packages_same=len(set(packs_a) & set(packs_b))
        - sum(1 for key in changed_packages if key in packs_a and key in packs_b),
    )


def _code_diff(
    workspace: Workspace, a: int, record_a: Mapping[str, Any], b: int, record_b: Mapping[str, Any]
) -> dict[str, Any]:
    result: dict[str, Any] = {
        "a": summary(record_a),
        "b": summary(record_b),
        "added": [],
        "removed": [],
        "changed": [],
        "same": 0,
    }
    try:
        view_a = CodeView(a, dict(record_a), _files(workspace, a, record_a))
        view_b = CodeView(b, dict(record_b), _files(workspace, b, record_b))
    except DockyardError as exc:
        result["error"] = str(exc)
        return result
    files_a = {f.path: f for f in view_a.files if f.status != "deleted"}
    files_b = {f.path: f for f in view_b.files if f.status != "deleted"}
    result["added"] = sorted(set(files_b) - set(files_a))
    result["removed"] = sorted(set(files_a) - set(files_b))
    for path in sorted(set(files_a) & set(files_b)):
        fa, fb = files_a[path], files_b[path]
        if (fa.algo, fa.hash) == (fb.algo, fb.hash):
            result["same"] += 1
            continue
        try:
            old, new = _content(workspace, record_a, fa), _content(workspace, record_b, fb)
        except DockyardError as exc:
            result["changed"].append({"path": path, "diff": None, "note": str(exc)})
            continue
        if old == new:  # the same bytes under two kinds of hash (a git blob, a snapshot)
            result["same"] += 1
            continue
        result["changed"].append({"path": path, **_unified(path, a, old, b, new)})
    return result


def _unified(path: str, a: int, old: bytes, b: int, new: bytes) -> dict[str, Any]:
    """A unified diff of one file's two versions, or a note when it cannot be text."""
    try:
        old_text, new_text = old.decode("utf-8"), new.decode("utf-8")
    except UnicodeDecodeError:
        return {"diff": None, "note": f"binary file ({len(old):,} -> {len(new):,} bytes)"}
    lines = difflib.unified_diff(
        old_text.splitlines(keepends=True),
        new_text.splitlines(keepends=True),
        fromfile=f"run {a}/{path}",
        tofile=f"run {b}/{path}",
    )
    text = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
    return {"diff": text, "note": ""}
