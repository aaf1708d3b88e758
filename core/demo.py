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

#: Where the wheel puts ``sample_projects/`` (package data; see pyproject.toml).
PACKAGED_SAMPLES = "_samples"


def samples_root() -> Path:
    """The folder holding the sample projects.

    An installed Dockyard carries them as package data in ``core/_samples``; a checkout
    (or an editable install, which imports from the checkout) has them in the repository's
    ``sample_projects/`` beside ``core/``.
    """
    packaged = resources.files("core") / PACKAGED_SAMPLES
    candidates = [Path(str(packaged)), Path(__file__).resolve().parent.parent / "sample_projects"]
    for folder in candidates:
        if folder.is_dir():
            return folder
    raise DockyardError(
        f"the sample projects are missing from this installation (looked in "
        f"{candidates[0]} and {candidates[1]}); reinstall Dockyard"
    )


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
