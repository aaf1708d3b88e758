"""Workspace discovery (upward, like git) and its overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from dockyard.core.errors import InputError, WorkspaceNotFoundError
from dockyard.core.workspace import current_user, find_workspace, init_workspace


def test_init_creates_store_objects_and_logs(tmp_path: Path) -> None:
    ws = init_workspace(tmp_path)
    assert ws.home == tmp_path.resolve() / ".dockyard"
    assert (ws.home / "dockyard.db").is_file()
    assert ws.objects.is_dir() and ws.logs.is_dir()
    assert ws.root == tmp_path.resolve()


def test_init_is_idempotent(tmp_path: Path) -> None:
    assert init_workspace(tmp_path) == init_workspace(tmp_path)


def test_init_refuses_a_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(InputError, match="is a file"):
        init_workspace(tmp_path / "f")


def test_found_from_a_nested_folder(tmp_path: Path) -> None:
    init_workspace(tmp_path)
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    assert find_workspace(nested, env={}).home == tmp_path.resolve() / ".dockyard"


def test_outside_any_workspace_names_init_and_demo(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceNotFoundError) as err:
        find_workspace(tmp_path, env={})
    assert "dockyard init" in str(err.value) and "dockyard demo" in str(err.value)


def test_home_argument_wins_over_discovery(tmp_path: Path) -> None:
    here, other = tmp_path / "here", tmp_path / "other"
    init_workspace(here)
    init_workspace(other)
    assert find_workspace(here, home=other, env={}).root == other.resolve()
    # the .dockyard folder itself is accepted too
    assert find_workspace(here, home=other / ".dockyard", env={}).root == other.resolve()


def test_dockyard_home_env_overrides(tmp_path: Path) -> None:
    init_workspace(tmp_path / "w")
    ws = find_workspace(tmp_path, env={"DOCKYARD_HOME": str(tmp_path / "w")})
    assert ws.root == (tmp_path / "w").resolve()


def test_home_that_is_not_a_workspace_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceNotFoundError, match="no Dockyard workspace at"):
        find_workspace(tmp_path, home=tmp_path / "missing", env={})


def test_dockyard_db_replaces_the_database_url(tmp_path: Path) -> None:
    init_workspace(tmp_path)
    url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    ws = find_workspace(tmp_path, env={"DOCKYARD_DB": url})
    assert ws.db_url == url
    assert ws.db_path == tmp_path / "elsewhere.db"


def test_current_user_prefers_dockyard_user() -> None:
    assert current_user({"DOCKYARD_USER": "reviewer"}) == "reviewer"
    assert current_user({}) != ""
