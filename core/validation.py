"""Automatic validation reports for model versions, and the deployment gates they check.

A report gathers what a reviewer needs to decide: the held-out metrics, each gate of the
project passed or failed with its numbers, the data the version was trained on, its
reproducibility record, and how it compares with the version holding ``champion``.
``render_markdown`` makes the same report attachable to a merge request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dockyard.core.code import summary as code_summary
from dockyard.core.errors import NotFoundError
from dockyard.core.projects import GateSpec, get_project
from dockyard.core.workspace import Workspace

CHAMPION = "champion"
KEY_PACKAGES = ("scikit-learn", "pandas", "numpy", "skops", "dockyard")


@dataclass(frozen=True)
class GateResult:
    metric: str
    min: float | None
    max: float | None
    value: float | None
    passed: bool

    @property
    def rule(self) -> str:
        parts = [f">= {self.min:g}" if self.min is not None else "",
                 f"<= {self.max:g}" if self.max is not None else ""]  # fmt: skip
        return " and ".join(p for p in parts if p)

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "min": self.min,
            "max": self.max,
            "value": self.value,
            "passed": self.passed,
            "rule": self.rule,
        }


def evaluate_gates(gates: tuple[GateSpec, ...], metrics: dict[str, float]) -> list[GateResult]:
    """Each gate against ``metrics``; a metric the run never logged fails its gate."""
    results = []
    for gate in gates:
        value = metrics.get(gate.metric)
        passed = value is not None
        if value is not None and gate.min is not None and value < gate.min:
            passed = False
        if value is not None and gate.max is not None and value > gate.max:
            passed = False
        results.append(GateResult(gate.metric, gate.min, gate.max, value, passed))
    return results


def build_report(workspace: Workspace, ref: str) -> dict[str, Any]:
    """The validation report of the version ``ref`` names, as a JSON-ready dict."""
    from dockyard.core.comparison import metric_direction
    from dockyard.core.registry import ArtifactIntegrityError, get_version, verify_version_files
    from dockyard.core.runs import get_run

    # The report vouches for the version ("Gates: PASSED"): its file is checked first.
    version = verify_version_files(workspace, ref)
    run = get_run(workspace, version.run_id)
    project = get_project(workspace, version.project)
    gates = evaluate_gates(project.spec.gates, version.metrics)
    packages = run.env.get("packages", {})
    champion: dict[str, Any] | None = None
    try:
        holder = get_version(workspace, f"{version.model}@{CHAMPION}")
    except NotFoundError:
        holder = None
    if holder is not None:
        holder_problem = None
        if holder.id != version.id:
            try:
                verify_version_files(workspace, holder)
            except ArtifactIntegrityError as exc:
                holder_problem = str(exc)
        primary = project.spec.primary_metric
        mine = version.metrics.get(primary) if primary else None
        theirs = holder.metrics.get(primary) if primary else None
        verdict = None
        if mine is not None and theirs is not None and holder.id != version.id:
            direction = metric_direction(primary or "", primary, project.spec.direction)
            delta = mine - theirs
            verdict = "same" if delta == 0 else (
                "better" if (delta > 0) == (direction == "maximize") else "worse"
            )  # fmt: skip
        champion = {
            "ref": holder.ref,
            "is_this_version": holder.id == version.id,
            "metric": primary,
            "champion_value": theirs,
            "this_value": mine,
            "delta": None if mine is None or theirs is None else mine - theirs,
            "verdict": verdict,
            "gates_passed": all(
                g.passed for g in evaluate_gates(project.spec.gates, holder.metrics)
            ),
            "file_problem": holder_problem,
        }
    return {
        "ref": version.ref,
        "model": version.model,
        "version": version.version,
        "created_at": version.created_at.isoformat(),
        "created_by": version.created_by,
        "description": version.description,
        "aliases": version.aliases,
        "project": version.project,
        "run_id": version.run_id,
        "primary_metric": project.spec.primary_metric,
        "direction": project.spec.direction,
        "metrics": dict(sorted(version.metrics.items())),
        "gates": [g.to_dict() for g in gates],
        "gates_passed": all(g.passed for g in gates),
        "data": {
            "dataset": version.dataset,
            "paths": run.env.get("data_paths", {}),
        },
        "artifact": {
            "verified": True,
            "sha256": version.artifact_sha256,
            "format": version.artifact_format,
            "size_bytes": version.size_bytes,
        },
        "reproducibility": {
            "command": run.command,
            "params": run.params,
            "seed": run.seed,
            "git_commit": run.git_commit,
            "git_dirty": run.git_dirty,
            "code": code_summary(run.code) if run.code else None,
            "python": run.env.get("python"),
            "platform": run.env.get("platform"),
            "packages": {k: packages[k] for k in KEY_PACKAGES if k in packages},
            "host": run.host,
            "user": run.user,
            "started_at": run.started_at.isoformat() if run.started_at else None,
            "duration_s": run.duration,
        },
        "champion": champion,
    }


def render_markdown(report: dict[str, Any]) -> str:
    """The report as Markdown, for a merge request or a review."""
    lines = [f"# Validation report: {report['ref']}", ""]
    verdict = "PASSED" if report["gates_passed"] else "FAILED"
    lines += [
        f"- **Gates:** {verdict}",
        f"- **Project:** {report['project']} (run {report['run_id']})",
        f"- **Registered:** {report['created_at']} by {report['created_by']}",
        f"- **Aliases:** {', '.join(report['aliases']) or 'none'}",
        "",
        "## Gates",
        "",
    ]
    if report["gates"]:
        lines += ["| metric | rule | value | result |", "|---|---|---|---|"]
        for gate in report["gates"]:
            value = "missing" if gate["value"] is None else f"{gate['value']:.4g}"
            mark = "pass" if gate["passed"] else "FAIL"
            lines.append(f"| {gate['metric']} | {gate['rule']} | {value} | {mark} |")
    else:
        lines.append("The project defines no gates.")
    lines += ["", "## Held-out metrics", "", "| metric | value |", "|---|---|"]
    for key, value in report["metrics"].items():
        lines.append(f"| {key} | {value:.6g} |")
    champion = report["champion"]
    lines += ["", "## Against the champion", ""]
    if champion is None:
        lines.append("No version holds the `champion` alias yet.")
    elif champion["is_this_version"]:
        lines.append("This version is the champion.")
    else:
        delta = champion["delta"]
        shown = "n/a" if delta is None else f"{delta:+.4g}"
        lines.append(
            f"{champion['ref']}: {champion['metric']} {_num(champion['champion_value'])} -> "
            f"{_num(champion['this_value'])} ({shown}, {champion['verdict'] or 'not comparable'})"
        )
        if champion.get("file_problem"):
            lines += [
                "",
                f"**Warning:** the champion cannot be vouched for: {champion['file_problem']}",
            ]
    data = report["data"]
    repro = report["reproducibility"]
    lines += [
        "",
        "## Data",
        "",
        f"- Dataset version: {data['dataset'] or 'unversioned (the project folder file)'}",
        "",
        "## Reproducibility",
        "",
        f"- Command: `{repro['command']}`",
        f"- Params: {', '.join(f'{k}={v}' for k, v in sorted(repro['params'].items()))}",
        f"- Seed: {repro['seed']}",
        f"- Code: {repro['code']}"
        if repro.get("code")
        else f"- Git: {repro['git_commit'] or 'not a git checkout'}"
        + (" (dirty)" if repro["git_dirty"] else ""),
        f"- Python {repro['python']} on {repro['platform']}",
        f"- Packages: {', '.join(f'{k} {v}' for k, v in repro['packages'].items())}",
        f"- Artifact: {report['artifact']['format']} sha256 {report['artifact']['sha256']}",
        "",
    ]
    return "\n".join(lines)


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"
