"""Which dataset version a run trains on: the one rule, with the reason for each choice.

For every dataset a project declares (``[[datasets]]`` in ``dockyard.toml``), in order:

1. ``version = N`` in the file pins version N (``pinned``); a pin that names no
   registered version is refused, never replaced by another version;
2. else the version whose content equals the declared file as it is now (``matches``):
   re-adding the same bytes makes nothing new, and this makes them current again;
3. else the newest version (``latest``); the choice says when the declared file matches
   none of them, since the run then trains on something else than that file;
4. a declared dataset that was never registered gives no version: the script reads its
   own file (``unregistered``).

``dockyard run start --data NAME@N`` (or the launch form's picker) names the version
outright (``chosen``); ``--data NAME`` alone applies the rule above to NAME when the
project declares it, else takes its newest version; a clone keeps its run's version
(``clone``). The command line, the TUI's launch form and ``core.runs.queue_runs`` all call
:func:`resolve_run_data`, so what a face shows before queuing is what the run records.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dockyard.core.errors import NotFoundError

if TYPE_CHECKING:
    from dockyard.core.datasets import VersionInfo
    from dockyard.core.projects import DatasetSpec, ProjectInfo
    from dockyard.core.workspace import Workspace

REASONS = ("pinned", "matches", "latest", "chosen", "clone", "unregistered")


@dataclass(frozen=True)
class DataChoice:
    """One dataset of a run: the version it uses (None: the script's own file) and why."""

    name: str
    reason: str
    version: VersionInfo | None = None
    #: the path ``dockyard.toml`` declares for this dataset, as written there
    declared_path: str | None = None
    #: the declared file exists but its content is no registered version
    unmatched: bool = False
    #: the run a clone copies its data from
    from_run: int | None = None

    @property
    def ref(self) -> str | None:
        return None if self.version is None else self.version.ref

    def describe(self) -> str:
        """One line: ``penguins@3 (latest, 172 rows)``, ``penguins@1 (matches
        data/penguins.csv, 344 rows)``, or what the script reads when nothing is registered."""
        version = self.version
        if version is None:
            where = self.declared_path or "its own files"
            return f"{self.name}: not registered; the script reads {where}"
        why = {
            "matches": f"matches {self.declared_path}",
            "clone": f"as run {self.from_run}",
        }.get(self.reason, self.reason)
        text = f"{version.ref} ({why}, {version.n_rows:,} rows)"
        if self.unmatched:
            text += f"; {self.declared_path} differs from every version"
        return text

    def to_dict(self) -> dict[str, Any]:
        """The shape stored in the run's record (``env["data"]``) and printed by ``--json``."""
        return {
            "name": self.name,
            "ref": self.ref,
            "version_id": None if self.version is None else self.version.id,
            "reason": self.reason,
            "declared_path": self.declared_path,
            "unmatched": self.unmatched,
            "rows": None if self.version is None else self.version.n_rows,
            "described": self.describe(),
        }


def resolve_run_data(
    workspace: Workspace,
    project: ProjectInfo,
    data: str | None = None,
    *,
    clone_of: tuple[int, int] | None = None,
) -> list[DataChoice]:
    """The dataset versions a run of ``project`` would train on now, each with its reason.

    ``data`` is what the user named (``NAME``, ``NAME@N``, ``NAME@latest``); ``clone_of``
    is ``(run id, dataset version id)`` of the run being cloned when no ``data`` is given.
    The first choice with a version is the run's dataset version. Raises NotFoundError
    for a named or pinned version that does not exist.
    """
    from dockyard.core.datasets import get_version, get_version_by_id, parse_ref

    if data is None and clone_of is not None:
        run_id, version_id = clone_of
        source = get_version_by_id(workspace, version_id)
        return [DataChoice(source.dataset, "clone", source, from_run=run_id)]
    declared = {spec.name: spec for spec in project.spec.datasets}
    if data is not None:
        ref = parse_ref(data)
        spec = declared.get(ref.name)
        if ref.version is None and "@" not in data and spec is not None:
            return [_declared_choice(workspace, project, spec)]
        version = get_version(workspace, ref, with_profile=False)
        reason = "latest" if ref.version is None else "chosen"
        return [DataChoice(ref.name, reason, version, spec.path if spec is not None else None)]
    return [_declared_choice(workspace, project, spec) for spec in project.spec.datasets]


def _declared_choice(workspace: Workspace, project: ProjectInfo, spec: DatasetSpec) -> DataChoice:
    from dockyard.core.datasets import DatasetRef, get_version, matching_version

    if spec.version is not None:
        try:
            version = get_version(
                workspace, DatasetRef(spec.name, spec.version), with_profile=False
            )
        except NotFoundError as exc:
            raise NotFoundError(
                f"{project.name}'s dockyard.toml pins {spec.name} version {spec.version}, "
                f"which is not registered ({exc}); register it or change the pin"
            ) from None
        return DataChoice(spec.name, "pinned", version, spec.path)
    declared = Path(project.path) / spec.path
    try:
        latest = get_version(workspace, DatasetRef(spec.name), with_profile=False)
    except NotFoundError:
        return DataChoice(spec.name, "unregistered", None, spec.path)
    match = matching_version(workspace, spec.name, declared)
    if match is not None:
        return DataChoice(spec.name, "matches", match, spec.path)
    return DataChoice(spec.name, "latest", latest, spec.path, unmatched=declared.exists())


def describe_choices(choices: list[DataChoice]) -> str:
    """All of a run's datasets on one line (``;``-separated); empty if it declares none."""
    return "; ".join(choice.describe() for choice in choices)


def declared_data_warnings(workspace: Workspace, project: ProjectInfo) -> list[str]:
    """One line per declared dataset whose name already holds versions registered from
    another file than the one ``dockyard.toml`` declares, saying which version runs use."""
    from dockyard.core.datasets import list_versions

    warnings = []
    for spec in project.spec.datasets:
        try:
            versions = list_versions(workspace, spec.name)
        except NotFoundError:
            continue
        declared = str((Path(project.path) / spec.path).resolve())
        others = [v for v in versions if v.source_path != declared]
        if not others:
            continue
        sources = sorted({v.source_path for v in others})
        numbers = ", ".join(str(v.version) for v in sorted(others, key=lambda v: v.version))
        label = "versions" if len(others) > 1 else "version"
        where = sources[0] if len(sources) == 1 else f"{len(sources)} other files"
        try:
            uses = _declared_choice(workspace, project, spec).describe()
        except NotFoundError as exc:
            uses = str(exc)
        warnings.append(
            f"dataset {spec.name} has versions from another file than {spec.path} "
            f"({label} {numbers} from {where}); runs use {uses}; "
            "pin one with `version = N` under [[datasets]] to choose"
        )
    return warnings


def recorded_choices(env: dict[str, Any]) -> str | None:
    """How a queued run's datasets were chosen, as recorded in its ``env`` (None for a run
    queued before the choice was recorded, or one that uses no dataset)."""
    entries = env.get("data")
    if not isinstance(entries, list):
        return None
    described = [str(e.get("described")) for e in entries if isinstance(e, dict)]
    return "; ".join(described) or None
