"""Dependencies point one way (tui -> core -> store), and heavy libraries load lazily."""

from __future__ import annotations

import subprocess
import sys

import pytest


def modules_after(code: str) -> set[str]:
    script = f"import sys\n{code}\nprint('\\n'.join(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    return set(result.stdout.split())


@pytest.mark.parametrize(
    "code",
    [
        "import dockyard.core, dockyard.core.workspace, dockyard.core.projects, "
        "dockyard.core.demo, dockyard.core.errors",
        "import dockyard.store, dockyard.store.db, dockyard.store.models",
        # opening a store and listing projects is the whole core path of `project list`
        "import tempfile, pathlib\n"
        "from dockyard.core.workspace import init_workspace\n"
        "from dockyard.core.projects import list_projects\n"
        "list_projects(init_workspace(pathlib.Path(tempfile.mkdtemp())))",
    ],
)
def test_core_and_store_never_import_textual(code: str) -> None:
    loaded = modules_after(code)
    assert not {m for m in loaded if m == "textual" or m.startswith("textual.")}
    assert not {m for m in loaded if m == "dockyard.tui" or m.startswith("dockyard.tui.")}


def test_store_does_not_import_core() -> None:
    loaded = modules_after("import dockyard.store.db, dockyard.store.models")
    assert not {m for m in loaded if m == "dockyard.core" or m.startswith("dockyard.core.")}


def test_core_workspace_is_import_light() -> None:
    loaded = modules_after(
        "import dockyard.core.workspace, dockyard.core.projects, dockyard.core.errors"
    )
    for heavy in ("sqlalchemy", "sqlmodel", "pandas", "sklearn", "alembic"):
        assert heavy not in loaded, heavy


def test_command_line_startup_does_not_load_pandas_or_sklearn() -> None:
    loaded = modules_after("import dockyard.tui.cli")
    for heavy in ("pandas", "sklearn", "textual", "sqlalchemy"):
        assert heavy not in loaded, heavy


def test_an_agent_with_the_local_executor_loads_nothing_of_dask() -> None:
    """Dask is an optional extra: the default path (the command line, the settings, a
    local agent serving a run queue) never imports it, installed or not."""
    loaded = modules_after(
        "import tempfile, pathlib\n"
        "import dockyard.tui.cli, dockyard.tui.cli.runs\n"
        "from dockyard.core.workspace import init_workspace\n"
        "from dockyard.core.agent import Agent\n"
        "from dockyard.core.executors import make_executor, read_agent_settings\n"
        "ws = init_workspace(pathlib.Path(tempfile.mkdtemp()))\n"
        "Agent(ws, 1, make_executor(ws, read_agent_settings(ws))).serve(until_idle=True)"
    )
    assert not {m for m in loaded if m.split(".")[0] in ("dask", "distributed")}
    assert "dockyard.core.dask_executor" not in loaded
