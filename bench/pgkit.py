"""The PostgreSQL server the PostgreSQL benches measure on, and the databases they make.

A private server is started with the test suite's own code (``tests/pg_server.py``: the
system's binaries, ``initdb`` in a temporary folder, a free local port), but with durable
settings (``DURABLE_SETTINGS``: fsync and synchronous commits on, as a team's server runs),
unless ``--db URL`` names a server to use instead. Every database a bench makes is named
``dockyard_bench_*`` and dropped when it is done.

Imported by ``pg_tracking.py`` and ``pg_load.py`` as a sibling module, never by Dockyard.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "dockyard_bench_"


def libpq(url: str) -> str:
    """A SQLAlchemy ``postgresql+psycopg://`` URL as libpq (psycopg, MLflow) takes it."""
    return "postgresql://" + url.split("://", 1)[1]


@dataclass
class PgServer:
    """Where the databases go: ``url(name)`` is the SQLAlchemy URL of one of them."""

    base_url: str  # any database of the server, as postgresql+psycopg://USER:PW@HOST:PORT/DB
    private: Any = None  # tests.pg_server.Server when we started it
    made: list[str] = field(default_factory=list)
    _numbers: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def url(self, database: str) -> str:
        parts = urlsplit(self.base_url)
        return urlunsplit(parts._replace(path=f"/{database}"))

    def describe(self) -> str:
        if self.private is not None:
            return f"private server on port {self.private.port} ({self.private.bindir})"
        parts = urlsplit(self.base_url)
        return f"{parts.hostname}:{parts.port or 5432} (--db)"

    def version(self) -> str:
        import psycopg

        with psycopg.connect(libpq(self.base_url)) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        return str(row[0]) if row else "?"

    def cpu_seconds(self) -> float | None:
        """CPU seconds the private server has used so far, all its processes: the
        postmaster with the backends it has reaped (its children's times) and the living
        ones. None for a server of ``--db``, whose processes are not ours to read."""
        if self.private is None:
            return None
        try:
            postmaster = int((self.private.datadir / "postmaster.pid").read_text().split()[0])
            total = _cpu(postmaster, with_reaped=True)
            children = Path(f"/proc/{postmaster}/task/{postmaster}/children").read_text()
        except (OSError, ValueError, IndexError):
            return None
        for pid in children.split():
            # one that ended meanwhile is counted once the postmaster reaps it
            with contextlib.suppress(OSError, ValueError, IndexError):
                total += _cpu(int(pid))
        return total

    def create(self, label: str, template: str | None = None) -> str:
        """A new database (a copy of ``template`` when given); returns its name."""
        import psycopg

        name = f"{PREFIX}{os.getpid()}_{next(self._numbers)}_{label}"
        clause = f' TEMPLATE "{template}"' if template else ""
        with psycopg.connect(libpq(self.base_url), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"{clause}')
        self.made.append(name)
        return name

    def drop(self, name: str) -> None:
        import psycopg

        with psycopg.connect(libpq(self.base_url), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if name in self.made:
            self.made.remove(name)


def _cpu(pid: int, with_reaped: bool = False) -> float:
    """User + system CPU seconds of ``pid`` (and of its reaped children) from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    if with_reaped:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


@contextmanager
def server(db: str | None) -> Iterator[PgServer]:
    """The server named by ``db`` (a URL), else a private one stopped at the end."""
    if db is not None:
        if not db.startswith(("postgresql://", "postgresql+psycopg://")):
            raise SystemExit(f"--db must be a postgresql+psycopg:// URL, not {db.split(':')[0]}")
        pg = PgServer(base_url="postgresql+psycopg://" + db.split("://", 1)[1])
        try:
            yield pg
        finally:
            for name in list(pg.made):
                pg.drop(name)
        return
    sys.path.insert(0, str(ROOT))
    from tests.pg_server import DURABLE_SETTINGS, start_server

    private = start_server(DURABLE_SETTINGS)
    try:
        yield PgServer(base_url=private.url("postgres"), private=private)
    finally:
        private.stop()
