"""Diff of two dataset versions from their stored profiles (the data is not read again).

Columns added, removed or retyped, the row count change, and for each column present in
both how far its distribution moved (``core.drift``: PSI and KS for numbers, PSI and
chi-square for categories), plus the change in its missing share.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dockyard.core.drift import ColumnDrift, profile_column_drift

if TYPE_CHECKING:
    from dockyard.core.datasets import DatasetRef, VersionInfo
    from dockyard.core.workspace import Workspace


@dataclass(frozen=True)
class ColumnChange:
    """One column in the diff; ``status`` is added, removed, retyped or kept."""

    name: str
    status: str
    dtype_a: str | None
    dtype_b: str | None
    missing_a: float | None = None
    missing_b: float | None = None
    drift: ColumnDrift | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "dtype_a": self.dtype_a,
            "dtype_b": self.dtype_b,
            "missing_share_a": self.missing_a,
            "missing_share_b": self.missing_b,
            "drift": self.drift.to_dict() if self.drift else None,
        }


@dataclass(frozen=True)
class DatasetDiff:
    a: VersionInfo
    b: VersionInfo
    columns: list[ColumnChange]

    @property
    def identical(self) -> bool:
        return self.a.content_hash == self.b.content_hash

    @property
    def rows_change(self) -> int:
        return self.b.n_rows - self.a.n_rows

    def with_status(self, status: str) -> list[ColumnChange]:
        return [c for c in self.columns if c.status == status]

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.a.ref,
            "b": self.b.ref,
            "identical": self.identical,
            "rows_a": self.a.n_rows,
            "rows_b": self.b.n_rows,
            "rows_change": self.rows_change,
            "added": [c.name for c in self.with_status("added")],
            "removed": [c.name for c in self.with_status("removed")],
            "retyped": [c.name for c in self.with_status("retyped")],
            "columns": [c.to_dict() for c in self.columns],
        }


def diff_profiles(profile_a: Mapping[str, Any], profile_b: Mapping[str, Any]) -> list[ColumnChange]:
    """Column changes between two profiles, in B's column order, removed ones last."""
    cols_a = {c["name"]: c for c in profile_a.get("columns", [])}
    cols_b = {c["name"]: c for c in profile_b.get("columns", [])}
    changes: list[ColumnChange] = []
    for name, col_b in cols_b.items():
        col_a = cols_a.get(name)
        if col_a is None:
            changes.append(
                ColumnChange(
                    name, "added", None, col_b["dtype"], missing_b=col_b.get("missing_share")
                )
            )
            continue
        status = "retyped" if col_a["dtype"] != col_b["dtype"] else "kept"
        changes.append(
            ColumnChange(
                name,
                status,
                col_a["dtype"],
                col_b["dtype"],
                missing_a=col_a.get("missing_share"),
                missing_b=col_b.get("missing_share"),
                drift=profile_column_drift(col_a, col_b),
            )
        )
    for name, col_a in cols_a.items():
        if name not in cols_b:
            changes.append(
                ColumnChange(
                    name, "removed", col_a["dtype"], None, missing_a=col_a.get("missing_share")
                )
            )
    return changes


def diff_versions(
    workspace: Workspace, ref_a: str | DatasetRef, ref_b: str | DatasetRef
) -> DatasetDiff:
    """Compare two versions (of one dataset or of two) from their stored profiles."""
    from dockyard.core.datasets import get_version

    a = get_version(workspace, ref_a, with_profile=True)
    b = get_version(workspace, ref_b, with_profile=True)
    return DatasetDiff(a=a, b=b, columns=diff_profiles(a.profile or {}, b.profile or {}))
