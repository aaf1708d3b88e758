"""Temporary files of the object store (``objects/tmp/``): named after their owner, and
swept as soon as that owner is gone.

A registration stages its copies under ``objects/tmp/`` and renames them into place at the
end; ctrl+c or an error removes them, but a process killed outright (SIGKILL, the OOM
killer, a power cut) cannot. Each temporary name therefore carries its owner::

    dy-<host tag>-<pid>-<process start>-<random>.<kind>

(host tag: 8 hex digits of the host name's CRC-32; process start: clock ticks since boot,
from ``/proc/<pid>/stat``, 0 where unknown), so that the next ``dockyard`` command of any
kind removes what a dead process left, on its first directory listing. A file whose owner
runs on another host (a workspace on a shared file system) cannot be checked from here and
is removed only once older than ``STALE_SECONDS``, as are names without an owner.

Standard library only and cheap to import (socket and secrets load only when needed):
every command's start calls :func:`sweep`.

:func:`object_lock` is how writers and ``dockyard gc`` keep out of each other's way: a
writer holds it shared from the moment an object lands in (or is found in) ``objects/``
until the row that names it is committed; gc holds it exclusive while it decides what is
unreferenced and removes it. So gc never removes an object between a registration's
rename and its commit, nor an existing object a registration has just decided to reuse.
"""

from __future__ import annotations

import contextlib
import functools
import os
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

TMP_DIRNAME = "tmp"
STALE_SECONDS = 24 * 3600
SWEEP_LIMIT = 1000  # entries looked at per sweep
_PREFIX = "dy"
#: The lock writers hold shared and gc exclusive, inside the object store (whose folder
#: may be a share every machine mounts, the only place they all see): a dot name, which
#: gc never judges, and not under ``tmp/``, which the sweep empties.
OBJECT_LOCK_NAME = ".objects.lock"


class ObjectLockBusy(Exception):
    """The exclusive object lock was not free within the time allowed."""


@contextlib.contextmanager
def object_lock(
    objects: Path, *, exclusive: bool = False, timeout: float | None = None
) -> Iterator[None]:
    """Hold the object store's lock: shared (writers, any number at once) or exclusive
    (gc). A shared request waits for a gc in progress; an exclusive one waits at most
    ``timeout`` seconds (None: for ever) and then raises :class:`ObjectLockBusy`.

    A flock on ``<objects>/.objects.lock``, released when the file is closed, so a killed
    holder never leaves it taken (on a network file system, flock works across machines
    where the server supports it, as NFS v4 does). Where flock does not exist (Windows) it
    does nothing. The folder must exist (``Workspace.check_objects``).
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on Windows
        yield
        return
    path = objects / OBJECT_LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except PermissionError:  # a teammate's file in a shared workspace: flock needs no write
        fd = os.open(path, os.O_RDONLY)
    try:
        mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
        if timeout is None:
            fcntl.flock(fd, mode)
        else:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fd, mode | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise ObjectLockBusy(str(path)) from None
                    time.sleep(0.05)
        yield
    finally:
        os.close(fd)


def touch_object(path: Path) -> None:
    """Mark an existing object as just used (its time), so that gc's grace period covers
    a writer that reuses it and commits its row a little later. Best effort: another
    user's object may refuse it, and the lock alone still orders the two."""
    with contextlib.suppress(OSError):
        os.utime(path)


@functools.cache
def host_tag() -> str:
    """This host's short tag: the CRC-32 of its name (names may hold any character)."""
    host = os.uname().nodename if hasattr(os, "uname") else _hostname()
    return f"{zlib.crc32(host.encode('utf-8', 'replace')):08x}"


def _hostname() -> str:  # pragma: no cover - only where os.uname is missing (Windows)
    import socket

    return socket.gethostname()


def process_start(pid: int) -> int:
    """When ``pid`` started, in clock ticks since boot (0 if unknown: not Linux, or gone).

    With the pid it identifies a process even after the pid is reused.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return 0
    # the command name (field 2) is in parentheses and may hold spaces and ')'
    fields = stat[stat.rfind(b")") + 2 :].split()
    try:
        return int(fields[19])  # field 22, starttime
    except (IndexError, ValueError):
        return 0


def owner_tag() -> str:
    """``dy-<host>-<pid>-<start>`` for this process."""
    pid = os.getpid()
    return f"{_PREFIX}-{host_tag()}-{pid}-{process_start(pid)}"


def tmp_name(kind: str) -> str:
    """A fresh temporary name owned by this process, e.g. ``dy-1a2b3c4d-4242-8812-9f….part``."""
    import secrets  # here, not at the top: every command's start imports this module

    return f"{owner_tag()}-{secrets.token_hex(6)}.{kind}"


def owner_alive(name: str) -> bool | None:
    """Whether the process that made the temporary ``name`` still runs: True, False, or
    None when that cannot be known here (no owner in the name, or another host)."""
    parts = name.split(".", 1)[0].split("-")
    if len(parts) != 5 or parts[0] != _PREFIX or parts[1] != host_tag():
        return None
    try:
        pid, start = int(parts[2]), int(parts[3])
    except ValueError:
        return None
    if pid <= 0:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # a process of another user holds that pid: alive, but maybe a reused pid
    except OSError:
        return None
    if start:
        now = process_start(pid)
        if now and now != start:
            return False  # the pid was reused by a later process
    return True


def sweep(objects: Path, max_age: float = STALE_SECONDS, *, limit: int = SWEEP_LIMIT) -> int:
    """Remove what dead processes left in ``objects/tmp/``; the number of entries removed.

    One listing of the folder, and only if it exists, looking at no more than ``limit``
    entries (a folder flooded with names must not slow every command's start; the next
    start goes on); an entry whose owner is alive (a registration running elsewhere) is
    kept. Errors are ignored: a sweep never stops the command that runs it.
    """
    try:
        listing = os.scandir(objects / TMP_DIRNAME)
    except OSError:
        return 0
    removed = 0
    cutoff: float | None = None
    with listing:
        for seen, entry in enumerate(listing):
            if seen >= limit:
                break
            alive = owner_alive(entry.name)
            if alive is None:
                if cutoff is None:
                    cutoff = time.time() - max_age
                with contextlib.suppress(OSError):
                    if entry.stat(follow_symlinks=False).st_mtime >= cutoff:
                        continue
            elif alive:
                continue
            with contextlib.suppress(OSError):
                remove_tree(Path(entry.path))
                removed += 1
    return removed


def remove_tree(path: Path) -> None:
    """Remove a file, a link (never what it points to) or a folder.

    A folder goes through ``shutil.rmtree``, which on Linux walks by file descriptors and
    so cannot be led out of ``objects/tmp`` by a folder swapped for a link meanwhile (a
    teammate with write access to the workspace could try).
    """
    if path.is_dir() and not path.is_symlink():
        import shutil

        shutil.rmtree(path)
    else:
        # unlink needs a writable folder, not a writable file: no chmod, which would
        # also change the mode of any other link to the same inode.
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
