"""Content hashing and the content-addressed object store under ``.dockyard/objects/``.

Files are hashed with BLAKE3 (the ``blake3`` package: SIMD and multithreaded, several
times faster than ``sha256sum`` on the same machine, and a cryptographic hash, so a
matching digest proves the bytes are the ones registered). If the package is missing,
SHA-256 from the standard library is used instead; the algorithm's name is recorded with
every digest, so the two never mix.

An object is written under a temporary name in ``objects/tmp/`` and renamed to
``objects/<digest>`` only once complete, so an interrupted write leaves no object behind.
A copy is made with a reflink (copy-on-write clone) where the filesystem supports it, else
by copying the bytes while they are hashed. A hard link to the user's file is never made:
an in-place edit of the source (``>>`` appends, editors that rewrite in place) would then
silently change the registered version.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from dockyard.core import staging
from dockyard.core.errors import DockyardError, InputError

BLOCK_SIZE = 8 << 20
TMP_DIRNAME = staging.TMP_DIRNAME
STALE_TMP_SECONDS = staging.STALE_SECONDS
TREE_PREFIX = b"dockyard-tree-v1\n"
_FICLONE = 0x40049409  # linux/fs.h: _IOW(0x94, 9, int)

BlockHook = Callable[[bytes, int], None]
"""Called with each block read and its offset in the file, in order."""

ProgressHook = Callable[[int, int], None]
"""Called with (bytes done, bytes total) after each block."""


class Hasher(Protocol):
    def update(self, data: bytes | memoryview, /) -> Any: ...

    def hexdigest(self) -> str: ...


class SourceChangedError(InputError):
    """The file changed while it was being read; nothing was registered."""


class ObjectCorruptError(DockyardError):
    """A stored object no longer matches its recorded digest."""


class HashingCancelled(DockyardError):
    """The caller asked to stop (ctrl+c in the TUI); nothing was stored."""


def hash_algorithm() -> str:
    """The algorithm new digests use: ``blake3`` when installed, else ``sha256``."""
    try:
        import blake3  # noqa: F401
    except ImportError:  # pragma: no cover - blake3 is a dependency
        return "sha256"
    return "blake3"


def new_hasher(algo: str | None = None, *, all_cores: bool = True) -> Hasher:
    """A fresh hasher for ``algo`` (default: :func:`hash_algorithm`).

    ``all_cores`` lets BLAKE3 spread each large update over every core; pass False when
    other work runs at the same time (its worker threads would compete with it).
    """
    algo = algo or hash_algorithm()
    if algo in ("blake3", "blake3-tree"):
        from blake3 import blake3

        hasher: Hasher = blake3(max_threads=blake3.AUTO if all_cores else 1)
        return hasher
    if algo in ("sha256", "sha256-tree"):
        return hashlib.sha256()
    raise DockyardError(f"unknown hash algorithm {algo!r}; upgrade Dockyard to read this store")


def file_algorithm(tree_algo: str) -> str:
    """The per-file algorithm behind a folder's tree algorithm (``blake3-tree`` → ``blake3``)."""
    return tree_algo.removesuffix("-tree")


def hash_bytes(data: bytes, algo: str | None = None) -> str:
    hasher = new_hasher(algo)
    hasher.update(data)
    return hasher.hexdigest()


def tree_hash(entries: Iterable[tuple[str, str]], algo: str | None = None) -> str:
    """The digest of a folder: its files' relative POSIX paths and digests, sorted by path.

    Renaming, adding or removing a file changes it; the folder's own path and the files'
    times do not.
    """
    hasher = new_hasher(algo)
    hasher.update(TREE_PREFIX)
    for rel, digest in sorted(entries):
        hasher.update(rel.encode("utf-8") + b"\0" + digest.encode("ascii") + b"\n")
    return hasher.hexdigest()


Signature = tuple[int, int, int]


def _signature(st: os.stat_result) -> Signature:
    return (st.st_size, st.st_mtime_ns, st.st_ino)


def source_signature(path: Path) -> Signature:
    """(size, modification time in ns, inode): any write or replacement changes it."""
    return _signature(os.stat(path))


def hash_file(
    path: Path,
    algo: str | None = None,
    *,
    progress: ProgressHook | None = None,
    cancel: Callable[[], bool] | None = None,
    block_size: int = BLOCK_SIZE,
) -> str:
    """The digest of ``path``, read in blocks (memory stays at one block)."""
    hasher = new_hasher(algo)
    total = path.stat().st_size
    done = 0
    with open(path, "rb", buffering=0) as f:
        buf = bytearray(block_size)
        view = memoryview(buf)
        while n := f.readinto(buf):
            if cancel is not None and cancel():
                raise HashingCancelled(f"hashing {path} was cancelled")
            hasher.update(view[:n])
            done += n
            if progress is not None:
                progress(done, total)
    return hasher.hexdigest()


def object_path(objects: Path, digest: str) -> Path:
    """Where the object with ``digest`` lives (a file, or a folder for a folder dataset)."""
    return objects / digest


def tmp_dir(objects: Path) -> Path:
    folder = objects / TMP_DIRNAME
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def tmp_path(objects: Path, kind: str) -> Path:
    """A fresh temporary path in ``objects/tmp/`` whose name carries this process as its
    owner, so that :func:`core.staging.sweep` removes it if the process dies."""
    return tmp_dir(objects) / staging.tmp_name(kind)


def sweep_stale_tmp(objects: Path, max_age: float = STALE_TMP_SECONDS) -> None:
    """Remove temporary files left by a process that was killed outright (kill -9): those
    whose owner process is gone, and those of unknown owner older than ``max_age``."""
    staging.sweep(objects, max_age)


def _remove(path: Path) -> None:
    staging.remove_tree(path)


@dataclass
class StagedObject:
    """A complete copy under a temporary name, not yet visible as an object.

    ``stage_copy`` makes the copy; :meth:`hash` reads it once (the copy is a snapshot, so
    the digest is of exactly the bytes that will be stored); :meth:`check_source` refuses
    a source that changed at any time since the copy started.
    """

    objects: Path
    tmp_path: Path
    algo: str
    size: int
    source: Path | None = None
    source_signature: Signature | None = None
    digest: str = ""
    method: str = "copy"

    @property
    def final_path(self) -> Path:
        return object_path(self.objects, self.digest)

    def hash(
        self,
        *,
        on_block: BlockHook | None = None,
        progress: ProgressHook | None = None,
        cancel: Callable[[], bool] | None = None,
        block_size: int = BLOCK_SIZE,
        all_cores: bool = True,
    ) -> str:
        """Hash the copy in one read, showing each block to ``on_block``."""
        hasher = new_hasher(self.algo, all_cores=all_cores)
        done = 0
        with open(self.tmp_path, "rb", buffering=0) as f:
            while True:
                if cancel is not None and cancel():
                    raise HashingCancelled("registration was cancelled; nothing was stored")
                block = f.read(block_size)
                if not block:
                    break
                hasher.update(block)
                if on_block is not None:
                    on_block(block, done)
                done += len(block)
                if progress is not None:
                    progress(done, self.size)
        if done != self.size:
            raise SourceChangedError(f"{self.tmp_path} changed size while being hashed")
        self.digest = hasher.hexdigest()
        return self.digest

    def check_source(self) -> None:
        """Raise :class:`SourceChangedError` if the source changed since the copy began."""
        if self.source is None or self.source_signature is None:
            return
        try:
            now: Signature | None = _signature(os.stat(self.source))
        except FileNotFoundError:
            now = None
        if now != self.source_signature:
            after = f"{now[0]:,} bytes" if now else "deleted"
            raise SourceChangedError(
                f"{self.source} changed while it was being read ({self.size:,} bytes before, "
                f"{after} after); wait until it is written completely and register it again"
            )

    def commit(self) -> tuple[Path, bool]:
        """Move into place as ``objects/<digest>``; ``(path, created)``.

        If the object already exists (the same bytes were stored before, maybe by another
        dataset) the temporary copy is dropped and the existing object kept.
        """
        if not self.digest:
            raise DockyardError("internal error: commit before hash")
        final = self.final_path
        if final.exists():
            staging.touch_object(final)  # reused: gc's grace period starts again
            self.discard()
            return final, False
        with contextlib.suppress(OSError):
            self.tmp_path.chmod(0o444)  # objects are never edited in place
        try:
            os.link(self.tmp_path, final)  # fails if it appeared meanwhile: keep that one
        except FileExistsError:
            self.discard()
            return final, False
        except OSError:
            os.replace(self.tmp_path, final)
            return final, True
        self.discard()
        return final, True

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            _remove(self.tmp_path)


def _try_reflink(src_fd: int, dst_fd: int) -> bool:
    """Clone ``src`` into ``dst`` copy-on-write (btrfs, XFS, ...); False if unsupported."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on Windows
        return False
    try:
        fcntl.ioctl(dst_fd, _FICLONE, src_fd)
    except OSError as exc:
        if exc.errno in (
            errno.EOPNOTSUPP,
            errno.ENOTTY,
            errno.EXDEV,
            errno.EINVAL,
            errno.EBADF,
            errno.ENOSYS,
            errno.EPERM,
        ):
            return False
        raise
    return True


def _copy_fds(src_fd: int, dst_fd: int) -> tuple[int, str]:
    """Copy everything from ``src`` to ``dst``; (bytes copied, how)."""
    copy_range = getattr(os, "copy_file_range", None)
    if copy_range is not None:
        copied = 0
        try:
            while n := copy_range(src_fd, dst_fd, 1 << 30):
                copied += n
            return copied, "copy_file_range"
        except OSError:
            if copied:
                raise
            os.lseek(src_fd, 0, os.SEEK_SET)
            os.lseek(dst_fd, 0, os.SEEK_SET)
    copied = 0
    while block := os.read(src_fd, BLOCK_SIZE):
        view = memoryview(block)
        while view:
            written = os.write(dst_fd, view)
            view = view[written:]
        copied += len(block)
    return copied, "copy"


def stage_copy(
    objects: Path,
    source: Path,
    *,
    algo: str | None = None,
    expected: Signature | None = None,
) -> StagedObject:
    """Copy ``source`` to ``objects/tmp/`` (reflink, else an in-kernel copy, else a plain
    one) and remember its size, time and inode to detect later changes.

    ``expected`` is the signature seen when the caller first looked at the file (it may
    have started reading it already): a different one now means it changed. On any
    exception, including KeyboardInterrupt, the temporary copy is removed.
    """
    algo = algo or hash_algorithm()
    tmp = tmp_path(objects, "part")
    try:
        with open(source, "rb", buffering=0) as src, open(tmp, "xb", buffering=0) as dst:
            before = os.fstat(src.fileno())
            if _try_reflink(src.fileno(), dst.fileno()):
                copied, method = before.st_size, "reflink"
            else:
                copied, method = _copy_fds(src.fileno(), dst.fileno())
        staged = StagedObject(
            objects,
            tmp,
            algo,
            copied,
            source=source,
            source_signature=expected or _signature(before),
            method=method,
        )
        if copied != before.st_size or (expected is not None and _signature(before) != expected):
            staged.check_source()
            raise SourceChangedError(
                f"{source} changed while it was being read; wait until it is written "
                "completely and register it again"
            )
        return staged
    except BaseException:
        with contextlib.suppress(OSError):
            _remove(tmp)
        raise


def stage_file(
    objects: Path,
    source: Path,
    *,
    algo: str | None = None,
    on_block: BlockHook | None = None,
    progress: ProgressHook | None = None,
    cancel: Callable[[], bool] | None = None,
    block_size: int = BLOCK_SIZE,
) -> StagedObject:
    """Copy, hash and check ``source`` in one call (see :class:`StagedObject`)."""
    staged = stage_copy(objects, source, algo=algo)
    try:
        staged.hash(on_block=on_block, progress=progress, cancel=cancel, block_size=block_size)
        staged.check_source()
    except BaseException:
        staged.discard()
        raise
    return staged


def fsync_path(path: Path) -> None:
    """Flush ``path`` to disk, so a rename after a power loss never points at holes."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def stage_tree(
    objects: Path, files: list[tuple[str, Path]], *, algo: str | None = None
) -> tuple[Path, str]:
    """Build ``objects/tmp/<random>.dir`` holding ``files`` (relative path → object) as links.

    The links point at objects of this store (never at user files), so they are safe.
    Returns the temporary folder and the tree digest; commit it with :func:`commit_tree`.
    """
    algo = algo or hash_algorithm()
    folder = tmp_path(objects, "dir")
    folder.mkdir()
    try:
        entries = []
        for rel, stored in files:
            target = folder / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(stored, target)
            except OSError:
                import shutil

                shutil.copyfile(stored, target)
            entries.append((rel, stored.name))
        return folder, tree_hash(entries, algo)
    except BaseException:
        _remove(folder)
        raise


def commit_tree(objects: Path, folder: Path, digest: str) -> tuple[Path, bool]:
    """Rename a staged folder to ``objects/<digest>``; ``(path, created)``."""
    final = object_path(objects, digest)
    if final.exists():
        staging.touch_object(final)  # reused: gc's grace period starts again
        _remove(folder)
        return final, False
    try:
        os.rename(folder, final)
    except OSError:
        _remove(folder)
        if final.exists():
            return final, False
        raise
    return final, True


def remove_object(path: Path) -> None:
    """Delete an object this process created, when the row that needed it was not written."""
    with contextlib.suppress(OSError):
        _remove(path)


def verify_file(
    path: Path, digest: str, algo: str, *, size: int | None = None, cached: bool = False
) -> None:
    """Raise :class:`ObjectCorruptError` unless ``path`` hashes to ``digest``.

    With ``cached``, a verification this user recorded for the very same file state
    (see :func:`verified_before`) stands in for re-reading the bytes, and a successful
    re-hash is recorded for the next caller.
    """
    if not path.is_file():
        raise ObjectCorruptError(
            f"object {path} is missing; the store was damaged (restore .dockyard/objects)"
        )
    if size is not None and path.stat().st_size != size:
        raise ObjectCorruptError(
            f"object {path} has {path.stat().st_size:,} bytes, {size:,} were stored; "
            "it was modified outside Dockyard (restore it from a backup)"
        )
    if cached and verified_before(path, digest, algo):
        return
    before = _verify_signature(path)
    actual = hash_file(path, algo)
    if actual != digest:
        raise ObjectCorruptError(
            f"object {path} no longer matches its {algo} digest {digest[:12]}; "
            "it was modified outside Dockyard (restore it from a backup)"
        )
    if cached and _verify_signature(path) == before:
        _remember_verified(path, digest, algo, before)


def hash_file_cached(path: Path, algo: str, known: Iterable[str]) -> str:
    """The digest of ``path``; a digest among ``known`` that this user already verified
    for the file's very state (:func:`verified_before`) stands in for reading the bytes,
    and a fresh digest that is among ``known`` is remembered for the next caller."""
    wanted = set(known)
    for digest in wanted:
        if verified_before(path, digest, algo):
            return digest
    before = _verify_signature(path)
    digest = hash_file(path, algo)
    if digest in wanted and _verify_signature(path) == before:
        _remember_verified(path, digest, algo, before)
    return digest


# A verification is remembered per user, outside the workspace: a teammate who can write
# the workspace cannot write this folder, so cannot forge "already verified" for a file
# they altered. The key is the file's state including its ctime, which any write, chmod
# or replacement moves forward and which only root can set back.
VerifySignature = tuple[int, int, int, int, int]


def verify_cache_dir() -> Path:
    """This user's folder of remembered verifications (``$XDG_CACHE_HOME/dockyard``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dockyard" / "verified"


def _verify_signature(path: Path) -> VerifySignature:
    st = os.stat(path)
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _verify_key(path: Path, digest: str, algo: str) -> Path:
    name = hashlib.sha256(f"{algo}\0{digest}\0{path.resolve()}".encode()).hexdigest()[:40]
    return verify_cache_dir() / name


def verified_before(path: Path, digest: str, algo: str) -> bool:
    """True if this user re-hashed ``path`` to ``digest`` and it has not changed since."""
    key = _verify_key(path, digest, algo)
    try:
        if key.stat().st_uid != os.getuid() or key.parent.stat().st_mode & 0o022:
            return False  # not ours, or others could have written it: ignore it
        recorded = key.read_text(encoding="ascii").split()
        return tuple(int(v) for v in recorded) == _verify_signature(path)
    except (OSError, ValueError):
        return False


def _remember_verified(path: Path, digest: str, algo: str, sig: VerifySignature) -> None:
    key = _verify_key(path, digest, algo)
    with contextlib.suppress(OSError):  # a cache that cannot be written only costs time
        key.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = key.with_name(f".{key.name}.{secrets.token_hex(4)}")
        tmp.write_text(" ".join(str(v) for v in sig), encoding="ascii")
        os.replace(tmp, key)


def verify_tree(folder: Path, digest: str, algo: str) -> None:
    """Re-hash every file of a folder object and check the tree digest."""
    if not folder.is_dir():
        raise ObjectCorruptError(
            f"object {folder} is missing; the store was damaged (restore .dockyard/objects)"
        )
    file_algo = file_algorithm(algo)
    entries = [
        (p.relative_to(folder).as_posix(), hash_file(p, file_algo))
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    ]
    if tree_hash(entries, file_algo) != digest:
        raise ObjectCorruptError(
            f"folder object {folder} no longer matches its digest {digest[:12]}; "
            "it was modified outside Dockyard (restore it from a backup)"
        )
