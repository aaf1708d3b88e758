"""A shared workspace used by two real OS accounts: the four-eyes rule end to end.

As root, each test makes a group and two users (fresh names, removed at teardown even on
failure), shares a workspace with the group (``dockyard init DIR --shared GROUP``) and runs
the real ``dockyard`` binary as each user. Identity is the process's uid, so nothing here
pretends: user 1 requests, user 1 cannot approve it, user 2 can.

The interpreter may live where other accounts cannot enter (a pyenv under root's 0700
home, a CI clone in /root). The test first tries each account plainly; only if that
account cannot even import Dockyard does it run the account with one extra capability,
CAP_DAC_READ_SEARCH (read and traverse anywhere): writes, which are what sharing is about
(the SQLite file, its WAL, the witness, the release folders), are still checked by the
kernel against the account's uid and groups, and the modes themselves are asserted.
"""

from __future__ import annotations

import ctypes
import grp
import json
import os
import pwd
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dockyard.core.environments import set_environment
from dockyard.core.workspace import Workspace, find_workspace
from tests.test_deployments import trained  # noqa: F401  (the module-scoped trained workspace)

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
CAP_DAC_READ_SEARCH = 2
PR_SET_KEEPCAPS = 8
PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE = 47, 2


@dataclass
class Account:
    name: str
    uid: int
    gid: int
    groups: list[int]


@dataclass
class Accounts:
    group: str
    gid: int
    first: Account
    second: Account
    base: Path
    read_anywhere: bool = False

    def run(self, who: Account, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        """The real ``dockyard`` binary as ``who``."""
        argv = _dockyard()
        if self.read_anywhere and len(argv) == 1:
            # the kernel resolves a script's #! interpreter (under root's home, here)
            # without the capability: name the interpreter, as the #! line does
            argv = [sys.executable, *argv]
        return _as(who, [*argv, *args], cwd, self.base, self.read_anywhere)


def _dockyard() -> list[str]:
    beside = Path(sys.executable).parent / "dockyard"
    return [str(beside)] if beside.is_file() else [sys.executable, "-m", "dockyard.tui"]


def _become(who: Account, read_anywhere: bool) -> Callable[[], None]:
    libc = ctypes.CDLL(None, use_errno=True)

    def switch() -> None:
        if read_anywhere:
            libc.prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0)
        os.setgroups(who.groups)
        os.setgid(who.gid)
        os.setuid(who.uid)
        if not read_anywhere:
            return
        # capset(2), version 3: keep only CAP_DAC_READ_SEARCH, then make it ambient so
        # that it survives the exec of an ordinary (not set-uid, no file caps) binary
        header = (ctypes.c_uint32 * 2)(0x20080522, 0)
        bit = 1 << CAP_DAC_READ_SEARCH  # effective, permitted, inheritable (for ambient)
        data = (ctypes.c_uint32 * 6)(bit, bit, bit, 0, 0, 0)
        if libc.capset(header, data) != 0:
            raise OSError(ctypes.get_errno(), "capset")
        if libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_DAC_READ_SEARCH, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAP_AMBIENT_RAISE)")

    return switch


def _as(
    who: Account, argv: list[str], cwd: Path, home: Path, read_anywhere: bool
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
    env.update(
        HOME=str(home),
        USER=who.name,
        LOGNAME=who.name,
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONPATH=os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p),
    )
    return subprocess.run(
        argv,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_become(who, read_anywhere),
    )


def _can_run(who: Account, base: Path, read_anywhere: bool) -> bool | str:
    """True if ``who`` can import Dockyard with this interpreter, else why not."""
    probe = [sys.executable, "-c", "import dockyard.core.deployments, dockyard.tui.cli"]
    try:
        done = _as(who, probe, base, base, read_anywhere)
    except OSError as exc:  # the interpreter itself is out of reach
        return str(exc)
    return True if done.returncode == 0 else (done.stderr.strip().splitlines() or ["?"])[-1]


def _tool(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if path is None:
        pytest.skip(f"{name} is not installed: cannot make the test's OS accounts")
    return path


@pytest.fixture
def accounts() -> Iterator[Accounts]:
    if os.geteuid() != 0:
        pytest.skip("needs root to create two OS accounts and a group (CI runs as root)")
    useradd, userdel, groupadd, groupdel = map(
        _tool, ("useradd", "userdel", "groupadd", "groupdel")
    )
    tag = secrets.token_hex(3)
    group, names = f"dyg{tag}", [f"dya{tag}", f"dyb{tag}"]
    made_users: list[str] = []
    made_groups: list[str] = []
    base = Path(tempfile.mkdtemp(prefix="dockyard-accounts-"))
    try:
        subprocess.run([groupadd, group], check=True, capture_output=True)
        made_groups.append(group)
        for name in names:
            subprocess.run(
                [useradd, "-M", "-U", "-G", group, "-s", "/bin/sh", name],
                check=True,
                capture_output=True,
            )
            made_users.append(name)
        gid = grp.getgrnam(group).gr_gid
        people = []
        for name in names:
            entry = pwd.getpwnam(name)
            people.append(Account(name, entry.pw_uid, entry.pw_gid, [entry.pw_gid, gid]))
        base.chmod(0o755)  # mkdtemp makes it 0700: the accounts must reach the workspace
        found = Accounts(group, gid, people[0], people[1], base)
        if _can_run(found.first, base, read_anywhere=False) is not True:
            found.read_anywhere = True
            why = _can_run(found.first, base, read_anywhere=True)
            if why is not True:
                pytest.skip(f"the accounts cannot run this Python even so: {why}")
        yield found
    finally:
        shutil.rmtree(base, ignore_errors=True)
        for name in made_users:
            subprocess.run([userdel, name], capture_output=True)
        for name in [*made_groups, *names]:  # the users' own groups, if userdel left them
            try:
                grp.getgrnam(name)
            except KeyError:
                continue
            subprocess.run([groupdel, name], capture_output=True)


def _init_shared(acc: Accounts, folder: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
    return subprocess.run(
        [*_dockyard(), "init", str(folder), "--shared", acc.group],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _close_engines() -> None:
    from dockyard.core.workspace import _ENGINES

    for engine in _ENGINES.values():
        engine.dispose()
    _ENGINES.clear()


def _assert_shared(home: Path, gid: int) -> None:
    """Every folder setgid and group-writable, every file group read/write, all in gid."""
    for folder, _dirs, files in os.walk(home):
        info = os.stat(folder)
        assert info.st_gid == gid, folder
        assert info.st_mode & stat.S_ISGID and info.st_mode & stat.S_IRWXG == stat.S_IRWXG, (
            f"{folder}: {stat.filemode(info.st_mode)}"
        )
        for name in files:
            path = os.path.join(folder, name)
            if os.path.islink(path):
                continue
            info = os.stat(path)
            assert info.st_gid == gid, path
            assert info.st_mode & 0o060 == 0o060, f"{path}: {stat.filemode(info.st_mode)}"


def test_init_shared_sets_group_modes_and_later_files_stay_shared(accounts: Accounts) -> None:
    acc = accounts
    root = acc.base / "ws"
    made = _init_shared(acc, root)
    assert made.returncode == 0, made.stderr
    assert f"shared with group {acc.group}" in made.stdout
    home = root / ".dockyard"
    assert (home / "shared-group").read_text().strip() == acc.group
    _assert_shared(home, acc.gid)
    # each account writes the store in turn: the SQLite file, WAL and shared memory that
    # one created must be writable by the other, and so must the audit witness
    for who, name in ((acc.first, "staging"), (acc.second, "qa"), (acc.first, "dev")):
        done = acc.run(who, "env", "set", name, "--approvals", "0", cwd=root)
        assert done.returncode == 0, done.stderr
    _assert_shared(home, acc.gid)
    envs = json.loads(acc.run(acc.second, "env", "list", "--json", cwd=root).stdout)
    assert sorted(e["name"] for e in envs) == ["dev", "qa", "staging"]
    verified = acc.run(acc.second, "audit", "verify", cwd=root)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    unknown_group = subprocess.run(
        [*_dockyard(), "init", str(acc.base / "other"), "--shared", f"no{acc.group}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert unknown_group.returncode == 2 and "groupadd" in unknown_group.stderr


@pytest.mark.parametrize("approvers", ["user", "group"])
def test_two_accounts_request_and_approve(
    accounts: Accounts,
    trained: Workspace,  # noqa: F811
    approvers: str,
) -> None:
    acc = accounts
    root = acc.base / "ws"
    shutil.copytree(trained.root, root, symlinks=True)
    who = acc.second.name if approvers == "user" else f"@{acc.group}"
    # `production` of the trained workspace is protected, approved by bob and carol: bob
    # hands it to the team (before it is shared, so that every file is then re-moded)
    set_environment(find_workspace(root), "production", approvers=(who,), actor="bob")
    _close_engines()
    made = _init_shared(acc, root)  # an existing workspace, now shared with the team
    assert made.returncode == 0, made.stderr
    home = root / ".dockyard"
    _assert_shared(home, acc.gid)
    envs = json.loads(acc.run(acc.first, "env", "list", "--json", cwd=root).stdout)
    production = next(e for e in envs if e["name"] == "production")
    assert production["approvals"] == 1 and production["approvers"] == [who]

    asked = acc.run(
        acc.first, "deploy", "request", "iris-clf@1", "--env", "production", "--json", cwd=root
    )
    assert asked.returncode == 0, asked.stderr
    request = json.loads(asked.stdout)["request"]
    assert request["status"] == "pending" and request["requested_by"] == acc.first.name

    own = acc.run(acc.first, "deploy", "approve", str(request["id"]), cwd=root)
    assert own.returncode == 1, own.stdout + own.stderr
    assert "cannot approve" in own.stderr and len(own.stderr.strip().splitlines()) == 1

    approved = acc.run(
        acc.second, "deploy", "approve", str(request["id"]), "-m", "ok", "--json", cwd=root
    )
    assert approved.returncode == 0, approved.stderr
    deployment = json.loads(approved.stdout)["deployment"]
    assert deployment["approved_by"] == [acc.second.name]
    assert deployment["deployed_by"] == acc.second.name

    status = json.loads(acc.run(acc.first, "deploy", "status", "--json", cwd=root).stdout)
    assert [(s["env"], s["ref"], s["approved_by"]) for s in status] == [
        ("production", "iris-clf@1", [acc.second.name])
    ]
    log = json.loads(
        acc.run(acc.first, "audit", "log", "--env", "production", "--json", cwd=root).stdout
    )
    by_action = {e["action"]: e["actor"] for e in log}
    assert by_action["deploy.deploy"] == acc.first.name  # the request
    assert by_action["deploy.refused"] == acc.first.name  # approving their own
    assert by_action["deploy.approve"] == acc.second.name
    assert by_action["deploy.deployed"] == acc.second.name
    verified = acc.run(acc.first, "audit", "verify", cwd=root)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    # the release user 2 wrote is the group's: user 1 can deploy over it later
    release = home / "deployments/production/iris-clf"
    _assert_shared(release, acc.gid)
    assert os.stat(release / "current" / "model.skops").st_uid == acc.second.uid
