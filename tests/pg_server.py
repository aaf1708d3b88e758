"""A private PostgreSQL server for the test suite: found, started, stopped.

``.ci/postgres.sh`` (run by ``make test``) installs the system's PostgreSQL packages when
they are missing; this module finds the binaries (``PATH``, then Debian's
``/usr/lib/postgresql/NN/bin``), runs ``initdb`` in a fresh temporary folder and starts the
server on a free port of 127.0.0.1, with password authentication so that a wrong password
is a real refusal. PostgreSQL refuses to run as root, so as root the server runs as an
unprivileged account (``postgres`` if the packages made one, else a system account this
module creates). Each pytest-xdist worker starts its own server (``tests/conftest.py``).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

#: The superuser the tests connect as, and its password.
SUPERUSER = "dockyard"
PASSWORD = "dockyard-test"
#: The account the server runs as when the tests run as root.
SERVICE_ACCOUNTS = ("postgres", "dockyard-pg")


class ServerUnavailable(RuntimeError):
    """PostgreSQL cannot be found or started here; the message says what is missing."""


def find_bindir() -> Path:
    """The folder holding ``initdb``, ``pg_ctl`` and ``postgres``."""
    on_path = shutil.which("pg_ctl")
    candidates = [Path(on_path).resolve().parent] if on_path else []
    debian = Path("/usr/lib/postgresql")
    if debian.is_dir():
        versions = sorted(
            (p for p in debian.iterdir() if p.name.isdigit()), key=lambda p: int(p.name)
        )
        candidates += [p / "bin" for p in reversed(versions)]
    for folder in candidates:
        if all((folder / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return folder
    raise ServerUnavailable(
        "PostgreSQL is not installed (no initdb/pg_ctl on PATH or in /usr/lib/postgresql/*/bin);"
        " run `bash .ci/postgres.sh` or `apt-get install postgresql`"
    )


def _service_account() -> str | None:
    """None when we are not root; else an unprivileged account to run the server as."""
    if os.geteuid() != 0:
        return None
    for name in SERVICE_ACCOUNTS:
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    name = SERVICE_ACCOUNTS[-1]
    result = subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0 and "already exists" not in result.stderr:
        raise ServerUnavailable(f"cannot create the account {name}: {result.stderr.strip()}")
    return name


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """A running server; ``url(db)`` is the SQLAlchemy URL of one of its databases."""

    bindir: Path
    folder: Path
    port: int
    account: str | None

    @property
    def datadir(self) -> Path:
        return self.folder / "data"

    def url(self, database: str, *, password: str = PASSWORD, user: str = SUPERUSER) -> str:
        return f"postgresql+psycopg://{user}:{password}@127.0.0.1:{self.port}/{database}"

    def conninfo(self, database: str = "postgres") -> str:
        return (
            f"host=127.0.0.1 port={self.port} dbname={database} "
            f"user={SUPERUSER} password={PASSWORD}"
        )

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self.account is not None:
            command = ["runuser", "-u", self.account, "--", *command]
        return subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, cwd=self.folder
        )

    def stop(self) -> None:
        """Stop the server (immediate shutdown: its data is thrown away) and remove its
        folder."""
        if (self.datadir / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._run("pg_ctl", "stop", "-D", str(self.datadir), "-m", "immediate", "-w")
        shutil.rmtree(self.folder, ignore_errors=True)


FOLDER_PREFIX = "dy-pg-"
OWNER_FILE = "owner"


def stop_abandoned_servers(bindir: Path, account: str | None) -> None:
    """Stop the servers of test sessions that died without stopping theirs (a killed
    pytest-xdist worker): each folder names the process that started it."""
    for folder in Path(tempfile.gettempdir()).glob(f"{FOLDER_PREFIX}*"):
        try:
            owner = int((folder / OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue  # not ours, or still being set up
        if Path(f"/proc/{owner}").exists():
            continue
        Server(bindir=bindir, folder=folder, port=0, account=account).stop()


#: The tests' server: its data is thrown away, so no durability, small memory, no
#: background noise.
TEST_SETTINGS = (
    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    " -c shared_buffers=32MB -c max_connections=200 -c autovacuum=off"
)
#: A server as a team would run it (durable commits, autovacuum), for the benches.
DURABLE_SETTINGS = "-c shared_buffers=256MB -c max_connections=200"


def start_server(settings: str = TEST_SETTINGS) -> Server:
    """initdb in a new temporary folder and start a server on a free local port, with
    ``settings`` (``postgres`` command-line options)."""
    bindir = find_bindir()
    account = _service_account()
    stop_abandoned_servers(bindir, account)
    # A short path of its own under /tmp: the unix socket's path must stay under 108
    # bytes, and the service account must be able to reach it (pytest's basetemp is 0700).
    folder = Path(tempfile.mkdtemp(prefix=FOLDER_PREFIX))
    server = Server(bindir=bindir, folder=folder, port=_free_port(), account=account)
    try:
        (folder / OWNER_FILE).write_text(str(os.getpid()))
        (folder / "pw").write_text(PASSWORD + "\n")
        if account is not None:
            entry = pwd.getpwnam(account)
            os.chmod(folder, 0o700)
            os.chown(folder, entry.pw_uid, entry.pw_gid)
            os.chown(folder / "pw", entry.pw_uid, entry.pw_gid)
        init = server._run(
            "initdb",
            "-D",
            str(server.datadir),
            "-U",
            SUPERUSER,
            f"--pwfile={folder / 'pw'}",
            "--auth=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
            timeout=120,
        )
        if init.returncode != 0:
            raise ServerUnavailable(f"initdb failed: {init.stderr.strip()[-500:]}")
        options = (
            f"-p {server.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={folder}"
            f" {settings}"
        )
        start = server._run(
            "pg_ctl",
            "start",
            "-D",
            str(server.datadir),
            "-w",
            "-t",
            "60",
            "-l",
            str(folder / "server.log"),
            "-o",
            options,
            timeout=90,
        )
        if start.returncode != 0:
            log = (folder / "server.log").read_text(errors="replace")[-500:]
            raise ServerUnavailable(f"PostgreSQL did not start: {start.stderr.strip()} {log}")
        _wait_until_ready(server)
    except BaseException:
        server.stop()
        raise
    return server


def _wait_until_ready(server: Server, timeout: float = 30) -> None:
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            psycopg.connect(server.conninfo(), connect_timeout=5).close()
            return
        except psycopg.OperationalError as exc:
            if time.monotonic() > deadline:
                raise ServerUnavailable(f"PostgreSQL does not accept connections: {exc}") from exc
            time.sleep(0.1)
