"""A model version's validation report as terminal text, for every screen that shows one.

The model screen shows it beside the versions; the deployment request screen shows it
under the checks. Every string of the report is data and is made visible once, here.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text

from dockyard.core.overview import NO_VALUE, human_duration, human_size
from dockyard.core.text import visible_tree

__all__ = ["report_text"]


def _num(value: Any) -> str:
    if value is None:
        return NO_VALUE
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _heading(text: Text, title: str) -> None:
    text.append(f"\n{title}\n", style="bold underline")


def _pair(text: Text, label: str, value: str, width: int = 10) -> None:
    text.append(f"  {label:<{width}} ", style="dim")
    text.append(f"{value}\n")


def report_text(report: dict[str, Any], *, hint: bool = True) -> Text:
    """The validation report of :func:`core.validation.build_report`, for the terminal.

    Pass and fail read as words (PASS/FAIL, better/worse), colour only repeats them.
    Every string of the report is data and is made visible once, here.
    """
    report = visible_tree(report)
    text = Text(no_wrap=False, overflow="fold")
    passed = bool(report["gates_passed"])
    gates = report["gates"]
    verdict = "GATES PASSED" if passed else "GATES FAILED"
    text.append(f" {verdict} ", style="bold reverse green" if passed else "bold reverse red")
    if gates:
        count = sum(1 for gate in gates if gate["passed"])
        text.append(f"  {count} of {len(gates)} gates pass")
    else:
        text.append("  the project defines no gates")
    text.append(f"\n{report['ref']}", style="bold")
    text.append(f" · run {report['run_id']} · {report['project']}")
    created = str(report["created_at"])[:16].replace("T", " ")
    text.append(f" · registered {created} by {report['created_by'] or NO_VALUE}\n")
    if report["aliases"]:
        text.append("aliases: ", style="dim")
        text.append(", ".join(report["aliases"]) + "\n", style="bold")
    if report["description"]:
        text.append(f"{report['description']}\n", style="italic")

    if gates:
        _heading(text, "Gates")
        width = max(len(gate["metric"]) for gate in gates)
        for gate in gates:
            mark, style = ("pass", "green") if gate["passed"] else ("FAIL", "bold red")
            text.append(f"  {mark} ", style=style)
            value = "missing" if gate["value"] is None else f"{gate['value']:.4g}"
            text.append(f"{gate['metric']:<{width}}  {gate['rule']:<12} {value}\n")

    _heading(text, "Against the champion")
    champion = report["champion"]
    if champion is None:
        text.append("  no version holds the champion alias yet (a sets it)\n", style="dim")
    elif champion["is_this_version"]:
        text.append("  this version is the champion\n", style="bold")
    else:
        delta = champion["delta"]
        verdict_word = champion["verdict"] or "not comparable"
        style = {"better": "bold green", "worse": "bold red"}.get(verdict_word, "")
        text.append(f"  {champion['ref']}: {champion['metric'] or 'primary metric'} ")
        text.append(f"{_num(champion['champion_value'])} -> {_num(champion['this_value'])} ")
        shown = "n/a" if delta is None else f"{delta:+.4g}"
        text.append(f"({shown}, ")
        text.append(verdict_word, style=style)
        text.append(")\n")
        if not champion["gates_passed"]:
            text.append("  (the champion itself fails the gates)\n", style="dim")

    _heading(text, "Held-out metrics")
    metrics = report["metrics"]
    if metrics:
        width = max(len(name) for name in metrics)
        primary = report["primary_metric"]
        for name, value in metrics.items():
            style = "bold" if name == primary else ""
            text.append(f"  {name:<{width}}  ", style=style)
            text.append(f"{value:.6g}\n", style=style)
    else:
        text.append("  the run logged no metrics\n", style="dim")

    _heading(text, "Data")
    data = report["data"]
    _pair(text, "dataset", data["dataset"] or "unversioned (the project folder's file)")

    _heading(text, "Reproducibility")
    repro = report["reproducibility"]
    params = ", ".join(f"{k}={v}" for k, v in sorted(repro["params"].items())) or NO_VALUE
    git = repro["git_commit"] or "not a git checkout"
    if repro["git_dirty"]:
        git += " (dirty)"
    packages = ", ".join(f"{k} {v}" for k, v in repro["packages"].items()) or NO_VALUE
    started = str(repro["started_at"] or NO_VALUE)[:16].replace("T", " ")
    for label, value in (
        ("command", repro["command"] or NO_VALUE),
        ("params", params),
        ("seed", _num(repro["seed"])),
        ("git", git),
        ("python", f"{repro['python'] or '?'} on {repro['platform'] or '?'}"),
        ("packages", packages),
        ("ran", f"{started} on {repro['host'] or '?'} by {repro['user'] or '?'}"),
        ("took", human_duration(repro["duration_s"])),
    ):
        _pair(text, label, value)

    _heading(text, "Artifact")
    artifact = report["artifact"]
    _pair(text, "format", f"{artifact['format'] or '?'}, {human_size(artifact['size_bytes'])}")
    _pair(text, "sha256", artifact["sha256"])
    if hint:  # the model screen's key
        text.append(f"\nw writes this report as Markdown; `dockyard model report {report['ref']}`")
    return text
