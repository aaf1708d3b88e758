"""Histograms as one line of block characters, for the command line and the TUI alike."""

from __future__ import annotations

from collections.abc import Sequence

SPARK = "▁▂▃▄▅▆▇█"


def sparkline(counts: Sequence[int], width: int = 12) -> str:
    """Counts of a histogram squeezed into ``width`` block characters."""
    if not counts:
        return ""
    n = len(counts)
    width = min(width, n)
    # the mean per bin, not the sum: buckets may hold different numbers of bins
    spans = [counts[i * n // width : (i + 1) * n // width] for i in range(width)]
    buckets = [sum(span) / len(span) for span in spans]
    top = max(buckets) or 1
    return "".join(SPARK[min(len(SPARK) - 1, round(b / top * (len(SPARK) - 1)))] for b in buckets)
