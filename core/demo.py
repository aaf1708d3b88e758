"""The demo workspace: the bundled sample projects copied and registered, with their
training data registered as the first version of each dataset."""

from __future__ import annotations

import os
import shutil
from importlib import resources
from pathlib import Path

from dockyard.core.datasets import register_dataset
from dockyard.core.errors import DockyardError
from dockyard.core.projects import PROJECT_FILE, ProjectInfo, add_project
from dockyard.core.workspace import Workspace, init_workspace


def samples_root() -> Path:
    """The folder holding the sample projects: ``dockyard/sample_projects``, package data in
    an installed wheel and a link to the repository's ``sample_projects/`` in a checkout."""
    folder = Path(str(resources.files("dockyard") / "sample_projects"))
    if not folder.is_dir():
        raise DockyardError(
            f"the sample projects are missing from this installation ({folder}); reinstall Dockyard"
        )
    return folder


def sample_project_dirs() -> list[Path]:
    """The bundled sample projects, by name."""
    return sorted(p for p in samples_root().iterdir() if (p / PROJECT_FILE).is_file())


def prepare_demo(directory: Path) -> tuple[Workspace, list[ProjectInfo]]:
    """Create or reuse a workspace in ``directory`` with every sample project registered.

    Idempotent: projects already copied are left as the user may have edited them.
    """
    workspace = init_workspace(directory)
    projects_dir = workspace.root / "projects"
    projects_dir.mkdir(exist_ok=True)
    registered = []
    for sample in sample_project_dirs():
        target = projects_dir / sample.name
        if not target.exists():
            shutil.copytree(sample, target, ignore=shutil.ignore_patterns("__pycache__", "outputs"))
        project = add_project(workspace, target)
        for dataset in project.spec.datasets:
            # idempotent: identical bytes make no new version
            register_dataset(
                workspace, dataset.name, target / dataset.path, "sample data", author="demo"
            )
        registered.append(project)
    _declare_environments(workspace)
    return workspace, registered


def _declare_environments(workspace: Workspace) -> None:
    """``staging`` (no approval) and ``production`` (one approval, by a member of this
    user's primary group other than the requester), unless already declared."""
    import grp

    from dockyard.core.environments import list_environments, set_environment

    declared = {e.name for e in list_environments(workspace)}
    if "staging" not in declared:
        set_environment(workspace, "staging", approvals=0)
    if "production" not in declared:
        group = grp.getgrgid(os.getgid()).gr_name
        set_environment(workspace, "production", approvals=1, approvers=(f"@{group}",))
