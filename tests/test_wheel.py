"""The package a user installs, tested as a user gets it: the wheel and the sdist are built
from this checkout, the wheel is installed into a fresh virtualenv outside it, and the
commands run from a folder outside it with a clean environment (no ``PYTHONPATH``), so
nothing here can pass by importing the repository instead of the installed package.

The build itself runs from the repository (that is what is being packaged); everything
after the install touches only the virtualenv and ``tmp_path``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_e2e_tmux import START_TIMEOUT, STEP_TIMEOUT, Tmux, help_shown, home_drawn

REPO = Path(__file__).resolve().parent.parent
SAMPLES = ["breast_cancer", "diabetes", "wine"]
SAMPLE_FILES = [
    "dockyard.toml",
    "train.py",
    "make_data.py",
    "README.md",
    "data/train.csv",
    "incoming/batch_normal.csv",
    "incoming/batch_drift.csv",
]
#: Installing the dependencies into a fresh venv is most of this (about 40 s here, warm).
INSTALL_TIMEOUT = 600

pytestmark = pytest.mark.slow


def run(
    args: list[str], *, cwd: Path, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def build_env() -> dict[str, str]:
    """The caller's environment (pip's index and cache settings) minus anything that
    would put this checkout or a developer's workspace within reach."""
    return {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV") and not k.startswith("DOCKYARD_")
    }


def user_env(bin_dir: Path, home: Path) -> dict[str, str]:
    """A user's shell with only the installed ``dockyard`` on PATH: a fresh HOME, no
    PYTHONPATH, no DOCKYARD_* variable."""
    home.mkdir(parents=True, exist_ok=True)
    return {
        "PATH": os.pathsep.join([str(bin_dir), os.environ.get("PATH", os.defpath)]),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "DOCKYARD_USER": "wheel-e2e",
    }


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``dist/`` with the wheel and the sdist built from this checkout."""
    out = tmp_path_factory.mktemp("dist")
    env = build_env()
    wheel = run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(REPO)],
        cwd=out,
        env=env,
        timeout=300,
    )
    assert wheel.returncode == 0, wheel.stderr
    # pip cannot make an sdist; hatchling (the build backend, from the same index) can
    tools = tmp_path_factory.mktemp("hatchling")
    got = run(
        [sys.executable, "-m", "pip", "install", "-q", "--target", str(tools), "hatchling>=1.25"],
        cwd=out,
        env=env,
        timeout=300,
    )
    assert got.returncode == 0, got.stderr
    sdist = run(
        [sys.executable, "-m", "hatchling", "build", "-t", "sdist", "-d", str(out)],
        cwd=REPO,
        env={**env, "PYTHONPATH": str(tools)},
        timeout=300,
    )
    assert sdist.returncode == 0, sdist.stderr
    return out


def only(folder: Path, pattern: str) -> Path:
    [found] = folder.glob(pattern)
    return found


def wheel_names(wheel: Path) -> set[str]:
    return {n for n in zipfile.ZipFile(wheel).namelist() if ".dist-info/" not in n}


def test_the_wheel_and_sdist_carry_what_dockyard_needs_at_run_time(
    dist: Path, tmp_path: Path
) -> None:
    wheel = only(dist, "dockyard-*.whl")
    names = wheel_names(wheel)
    for sample in SAMPLES:
        for relative in SAMPLE_FILES:
            assert f"dockyard/sample_projects/{sample}/{relative}" in names, (sample, relative)
    migrations = sorted(p.name for p in (REPO / "store/migrations/versions").glob("*.py"))
    assert migrations and all(
        f"dockyard/store/migrations/versions/{m}" in names for m in migrations
    )
    for needed in (
        "dockyard/__init__.py",
        "dockyard/store/migrations/env.py",
        "dockyard/store/migrations/script.py.mako",
        "dockyard/tui/app.tcss",
    ):
        assert needed in names, needed
    # one import name, never generic ones such as `core` that users' projects have
    assert {n.split("/")[0] for n in names} == {"dockyard"}
    # what a developer's checkout holds but a user must not get
    assert not [n for n in names if "/outputs/" in n or "__pycache__" in n or n.endswith(".pyc")]

    sdist = only(dist, "dockyard-*.tar.gz")
    with tarfile.open(sdist) as archive:
        archive.extractall(tmp_path, filter="data")
        members = {m.split("/", 1)[1] for m in archive.getnames() if "/" in m}
    # the sdist holds the package as the wheel sees it: `.pkg/dockyard/` with real files
    # (hatchling stores each file once, under the first path that reaches it)
    for needed in (
        "pyproject.toml",
        "README.md",
        "CHANGELOG.md",
        ".pkg/dockyard/__init__.py",
        ".pkg/dockyard/sample_projects/README.md",
    ):
        assert needed in members, needed
    # a wheel built from the sdist (what pip does with it) is the same wheel
    rebuilt = tmp_path / "rebuilt"
    source = only(tmp_path, "dockyard-*/")
    result = run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(rebuilt), str(source)],
        cwd=tmp_path,
        env=build_env(),
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert wheel_names(only(rebuilt, "*.whl")) == names


@pytest.fixture(scope="module")
def installed(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv, outside the checkout, with the wheel installed; its bin folder."""
    venv = tmp_path_factory.mktemp("venv") / "venv"
    created = run([sys.executable, "-m", "venv", str(venv)], cwd=venv.parent, env=build_env())
    assert created.returncode == 0, created.stderr
    wheel = only(dist, "dockyard-*.whl")
    result = run(
        # no byte-compiling of every installed module: a fifth of the install's time, and
        # Python compiles what a command imports on first use anyway
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-compile", str(wheel)],
        cwd=venv.parent,
        env=build_env(),
        timeout=INSTALL_TIMEOUT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return venv / "bin"


@pytest.fixture
def outside(tmp_path: Path) -> Iterator[Path]:
    """A working folder outside the checkout."""
    folder = tmp_path / "user"
    folder.mkdir()
    assert REPO not in folder.parents
    yield folder


@pytest.mark.timeout(INSTALL_TIMEOUT + 300)
def test_the_installed_wheel_runs_the_demo_a_run_the_registry_and_the_tui(
    dist: Path, installed: Path, outside: Path, tmp_path: Path
) -> None:
    env = user_env(installed, tmp_path / "home")
    dockyard = str(installed / "dockyard")

    where = run(
        [
            str(installed / "python"),
            "-c",
            "import dockyard, sys; print(dockyard.__file__); print(sys.path)",
        ],
        cwd=outside,
        env=env,
    )
    assert where.returncode == 0, where.stderr
    module_file, search_path = where.stdout.split(" ", 1)
    assert Path(module_file).is_relative_to(installed.parent), module_file
    assert str(REPO) not in search_path

    version = run([dockyard, "--version"], cwd=outside, env=env)
    assert version.returncode == 0, version.stderr
    wheel_version = only(dist, "dockyard-*.whl").name.split("-")[1]
    assert version.stdout.startswith(f"dockyard {wheel_version} (store schema ")

    demo = outside / "demo"
    made = run([dockyard, "demo", str(demo), "--no-tui"], cwd=outside, env=env, timeout=180)
    assert made.returncode == 0, made.stderr
    assert sorted(p.name for p in (demo / "projects").iterdir()) == SAMPLES
    # a user's project with packages of its own named like Dockyard's folders: the
    # installed Dockyard claims only `dockyard`, so the training script still finds it
    for name in ("core", "store", "tui"):
        package = demo / "projects" / "wine" / name
        package.mkdir()
        (package / "__init__.py").write_text(f"OWNER = 'the user project {name}'\n")
    try:
        sweep = run(
            [dockyard, "run", "start", "wine", "-p", "C=0.5,2", "-p", "cv_folds=2", "--wait"],
            cwd=demo,
            env=env,
            timeout=240,
        )
        assert sweep.returncode == 0, sweep.stdout + sweep.stderr
        assert sweep.stdout.count("finished") == 2, sweep.stdout
        # the demo queued a run of each sample first: the sweep's are the newest two
        listed = run([dockyard, "run", "list", "--json"], cwd=demo, env=env)
        sweep_ids = sorted(r["id"] for r in json.loads(listed.stdout) if r["project"] == "wine")
        for run_id in sweep_ids[-2:]:
            registered = run(
                [dockyard, "model", "register", str(run_id), "--name", "wine-clf"],
                cwd=demo,
                env=env,
            )
            assert registered.returncode == 0, registered.stderr
        compared = run(
            [dockyard, "model", "compare", "wine-clf@1", "wine-clf@2"],
            cwd=demo,
            env=env,
        )
        assert compared.returncode == 0, compared.stderr
        assert "wine-clf@1" in compared.stdout and "f1_macro" in compared.stdout

        inside = run([dockyard, "--version"], cwd=demo, env=env)
        assert f"workspace {demo}: store schema " in inside.stdout

        tui = Tmux(env)
        try:
            # 120x36: the grid layout, where every pane shows its rows
            tui.start(f"{dockyard}; echo EXIT=$?; sleep 60", cwd=demo, width=120, height=36)
            home = tui.wait_for(home_drawn, START_TIMEOUT, "the home screen's five panes")
            assert "Traceback" not in home
            tui.wait_for(lambda text: "wine-clf" in text, STEP_TIMEOUT, "the registered model")
            tui.press("?")
            tui.wait_for(help_shown, STEP_TIMEOUT, "the help screen (the stylesheet loaded)")
            tui.press("Escape")  # alone: tmux reads escape then q at once as alt+q
            tui.wait_for(
                lambda text: home_drawn(text) and not help_shown(text),
                STEP_TIMEOUT,
                "the home screen after closing help",
            )
            tui.press("q")
            final = tui.wait_for(lambda text: "EXIT=" in text, STEP_TIMEOUT, "dockyard's exit")
            assert "EXIT=0" in final, final
        finally:
            tui.kill()
    finally:
        run([dockyard, "agent", "stop"], cwd=demo, env=env, timeout=60)


@pytest.mark.timeout(INSTALL_TIMEOUT + 300)
def test_pipx_installs_the_wheel_as_a_command(dist: Path, outside: Path, tmp_path: Path) -> None:
    """`pipx install dist/dockyard-*.whl`, as the README says, gives a working `dockyard`."""
    tools = tmp_path / "pipx-venv"
    assert (
        run([sys.executable, "-m", "venv", str(tools)], cwd=tmp_path, env=build_env()).returncode
        == 0
    )
    got = run(
        [str(tools / "bin" / "python"), "-m", "pip", "install", "-q", "pipx"],
        cwd=tmp_path,
        env=build_env(),
        timeout=300,
    )
    assert got.returncode == 0, got.stderr
    bin_dir = tmp_path / "bin"
    pipx_env = {
        **build_env(),
        "PIPX_HOME": str(tmp_path / "pipx"),
        "PIPX_BIN_DIR": str(bin_dir),
        "PIPX_MAN_DIR": str(tmp_path / "man"),
    }
    wheel = only(dist, "dockyard-*.whl")
    installed = run(
        [str(tools / "bin" / "pipx"), "install", "--pip-args=--no-compile", str(wheel)],
        cwd=outside,
        env=pipx_env,
        timeout=INSTALL_TIMEOUT,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    env = user_env(bin_dir, tmp_path / "home")
    assert shutil.which("dockyard", path=env["PATH"]) == str(bin_dir / "dockyard")
    made = run(["dockyard", "demo", "demo", "--no-tui"], cwd=outside, env=env, timeout=180)
    assert made.returncode == 0, made.stderr
    assert "with projects: breast-cancer, diabetes, wine" in made.stdout
    listed = run(["dockyard", "data", "list", "--json"], cwd=outside / "demo", env=env)
    assert listed.returncode == 0, listed.stderr
    assert len(json.loads(listed.stdout)) == 3
