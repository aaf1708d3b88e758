"""The monitor screen's two charts: reference vs batch histogram, and a statistic's
history with its threshold. Both draw stored numbers only (a check's ``histogram`` extra,
the values of earlier results); nothing is recomputed. This module imports plotext."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.text import Text
from textual.app import RenderResult
from textual_plotext import PlotextPlot

from dockyard.core.text import visible


def shares(counts: Sequence[float]) -> list[float]:
    """Counts as shares of their total (a batch and the training data differ in size)."""
    total = float(sum(counts))
    return [float(c) / total if total else 0.0 for c in counts]


def bin_labels(histogram: Mapping[str, Any]) -> list[str]:
    """Short labels of a stored histogram's bins: ``<3.2``, ``≥9.1`` or category names."""
    if histogram.get("kind") == "categorical":
        return [visible(str(label))[:10] for label in histogram.get("labels", [])]
    edges = [float(e) for e in histogram.get("edges", [])]
    if not edges:
        return ["all"]
    labels = [f"<{edges[0]:.3g}"]
    labels += [f"{edges[i]:.3g}" for i in range(len(edges) - 1)]
    labels.append(f"≥{edges[-1]:.3g}")
    return labels


class HistogramChart(PlotextPlot):
    """Reference and batch shares side by side in the bins the check stored."""

    DEFAULT_CSS = "HistogramChart { width: 1fr; height: 1fr; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.histogram: dict[str, Any] = {}
        self.empty_text = "Loading…"
        self.column = ""

    def show(self, column: str, histogram: Mapping[str, Any], empty_text: str = "") -> None:
        self.column = column
        self.histogram = dict(histogram)
        self.empty_text = empty_text or "No histogram stored for this check"
        self.refresh()

    def render(self) -> RenderResult:
        reference = self.histogram.get("reference") or []
        if not reference:
            return Text(self.empty_text, style="dim", justify="center")
        labels = bin_labels(self.histogram)
        current = self.histogram.get("current") or []
        plt = self.plt
        plt.clear_data()
        plt.frame(False)
        plt.yfrequency(3)
        series = [shares(reference)]
        names = ["reference"]
        if current:
            series.append(shares(current))
            names.append("batch")
        positions = list(range(1, len(labels) + 1))
        # Colours named: plotext's default cycle is not the same from one run to the next.
        colors = ["blue", "orange"][: len(series)]
        plt.multiple_bar(positions, series, labels=names, color=colors)  # type: ignore[call-arg, arg-type]
        # Only the first and last bin are labelled: plotext's own choice among labels that
        # overlap varies from one run to the next.
        ends = [0, len(labels) - 1] if len(labels) > 1 else [0]
        plt.xticks([positions[i] for i in ends], [labels[i] for i in ends])
        plt.title(f"{visible(self.column)}: share per bin")
        return super().render()


class HistoryChart(PlotextPlot):
    """One statistic over the stored results, oldest left, with its threshold as a line."""

    DEFAULT_CSS = "HistoryChart { width: 1fr; height: 1fr; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.points: list[tuple[int, float]] = []
        self.threshold: float | None = None
        self.label = ""

    def show(
        self, label: str, points: Sequence[tuple[int, float]], threshold: float | None
    ) -> None:
        """``points``: (result id, value) oldest first."""
        self.label = label
        self.points = list(points)
        self.threshold = threshold
        self.refresh()

    def render(self) -> RenderResult:
        if not self.points:
            return Text("No history for this statistic yet", style="dim", justify="center")
        plt = self.plt
        plt.clear_data()
        plt.frame(False)
        plt.yfrequency(3)
        xs = list(range(1, len(self.points) + 1))
        ys = [value for _, value in self.points]
        ids = [str(result) for result, _ in self.points]
        ticks = sorted({0, len(xs) // 2, len(xs) - 1})
        plt.xticks([xs[i] for i in ticks], [ids[i] for i in ticks])
        plt.plot(xs, ys, marker="braille" if len(xs) > 1 else "dot", color="blue")
        if self.threshold is not None:
            plt.hline(self.threshold, color="red")
        plt.title(f"{visible(self.label)} by result")
        return super().render()
