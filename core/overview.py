"""What the home screen shows: one page of each area, plus whether the agent is alive.

Rows are plain frozen dataclasses with their display cells already worked out, so the TUI
and the command line show the same words. Every relative time ("3 min ago") is computed
from an injected ``now`` so that tests and snapshots do not drift with the clock.

This module reads through a :class:`store.queries.Reader` and never imports SQLAlchemy:
it is on the TUI's startup path.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from dockyard.store import queries
from dockyard.store.queries import Reader
from dockyard.store.queries import as_utc as as_utc

#: Rows per page of every pane; more load as the cursor nears the end.
PAGE_SIZE = 100

#: An agent whose heartbeat is older than this is considered gone.
AGENT_ALIVE_WITHIN = timedelta(seconds=30)

NO_VALUE = "-"

#: Statuses of a run that is not over yet (the same as ``core.runs.ACTIVE``, which this
#: startup-path module does not import).
ACTIVE_RUN_STATUSES = ("queued", "running", "cancelling")

#: Statuses whose primary metric does not count when picking the best run of a sweep.
UNSUCCESSFUL_RUN_STATUSES = ("failed", "cancelled", "lost")

#: A request's checks in the Deployments pane: passed, failed (blocking), failed note.
CHECK_MARKS = {"passed": "✓", "failed": "✗", "note": "!"}

#: The mark after the sweep id of the best run of a finished sweep (readable without colour).
BEST_MARK = "★"
#: In front of an archived row's first cell, where archived rows are shown (``H``): the
#: mark says it without colour, the pane also dims the row.
ARCHIVED_MARK = "⊘"
#: Panes whose rows can be archived, deleted (``d``) and shown when archived (``H``).
ARCHIVABLE_PANES = frozenset({"datasets", "runs", "models"})


def archived_cell(value: str, archived: bool) -> str:
    """A row's first cell, marked when the row is archived."""
    return f"{ARCHIVED_MARK} {value}" if archived else value


class Pane(StrEnum):
    """The five areas of the home screen, in the order of their number keys."""

    DATASETS = "datasets"
    RUNS = "runs"
    MODELS = "models"
    DEPLOYMENTS = "deployments"
    MONITORING = "monitoring"

    @property
    def heading(self) -> str:
        return self.value.capitalize()

    @property
    def number(self) -> int:
        return list(Pane).index(self) + 1


#: Column headings of each pane, matching each row's ``cells()``.
PANE_COLUMNS: dict[Pane, tuple[str, ...]] = {
    Pane.DATASETS: ("Name", "Latest", "Rows", "Cols", "Size", "Updated"),
    Pane.RUNS: ("Run", "Project", "Status", "Time", "Metric", "Sweep", "Created"),
    Pane.MODELS: ("Name", "Latest", "Aliases", "Metric", "Updated"),
    Pane.DEPLOYMENTS: ("Id", "Model", "Target", "Status", "By", "Checks", "Appr.", "When"),
    Pane.MONITORING: ("Monitor", "Project", "Status", "Last run", "Next run", "History", "Message"),
}

#: What an empty pane tells the user: the command that fills it.
EMPTY_HINTS: dict[Pane, str] = {
    Pane.DATASETS: "No datasets yet — add one with `dockyard data add NAME PATH`",
    Pane.RUNS: "No runs yet — start one with `dockyard run start PROJECT`",
    Pane.MODELS: "No models yet — promote a run with `dockyard model register RUN_ID --name NAME`",
    Pane.DEPLOYMENTS: (
        "No deployments yet — ask for one with `dockyard deploy request NAME@VERSION`"
    ),
    Pane.MONITORING: (
        "No monitors yet — declare them in a project's dockyard.toml, "
        "then check `dockyard monitor list`"
    ),
}


# --- formatting ---------------------------------------------------------------------------


def utcnow() -> datetime:
    return datetime.now(UTC)


def human_age(then: datetime | None, now: datetime) -> str:
    """``then`` relative to ``now``: "just now", "3 min ago", "2 h ago", "5 d ago", a date."""
    if then is None:
        return NO_VALUE
    seconds = (now - then).total_seconds()
    if seconds < 10:
        return "just now"
    if seconds < 60:
        return f"{int(seconds)} s ago"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    if seconds < 30 * 86400:
        return f"{int(seconds // 86400)} d ago"
    return then.strftime("%Y-%m-%d")


def human_duration(seconds: float | None) -> str:
    """A duration as "42s", "3m05s", "1h02m" or "2d03h"."""
    if seconds is None:
        return NO_VALUE
    total = max(0, int(seconds))
    if total < 60:
        return f"{total}s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"


def human_size(size_bytes: int | None) -> str:
    """A byte count as "812 B", "12.3 kB", "4.1 MB" (powers of 1000, as disks are sold)."""
    if size_bytes is None:
        return NO_VALUE
    size = float(size_bytes)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")  # pragma: no cover


def human_time(value: Any) -> str:
    """A stored time for people: to the second, in the local time zone, zone named.

    ``2026-03-14 13:05:09 CET``: the one spelling of an absolute time in every human
    output (``--json`` keeps ISO 8601 in UTC). Local, because that is the clock the reader
    compares it with; the zone is named so a log pasted elsewhere still means one instant.
    """
    moment = as_utc(value)
    if moment is None:
        return NO_VALUE
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")


def human_count(value: int | None) -> str:
    return NO_VALUE if value is None else f"{value:,}"


def format_metric(name: str | None, value: float | None) -> str:
    """A primary metric as "accuracy 0.9561"; "-" when the run reported none."""
    if value is None:
        return NO_VALUE
    number = f"{value:.4g}"
    return f"{name} {number}" if name else number


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


# --- rows ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetRow:
    id: int
    name: str
    description: str
    latest_version: int | None
    rows: int | None
    columns: int | None
    size_bytes: int | None
    file_format: str
    updated_at: datetime | None
    age: str
    archived: bool = False

    @property
    def key(self) -> str:
        return f"dataset:{self.id}"

    @property
    def label(self) -> str:
        return f"Dataset {self.name}"

    def cells(self) -> tuple[str, ...]:
        version = NO_VALUE if self.latest_version is None else f"v{self.latest_version}"
        return (
            archived_cell(self.name, self.archived),
            version,
            human_count(self.rows),
            human_count(self.columns),
            human_size(self.size_bytes),
            self.age,
        )


@dataclass(frozen=True)
class RunRow:
    id: int
    project: str
    status: str
    user: str
    created_at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None
    elapsed: str
    primary_metric: str | None
    primary_value: float | None
    exit_code: int | None
    error: str
    age: str
    group_id: str | None = None
    #: The last few values of the primary metric, drawn for live runs ("▁▃▅▇").
    sparkline: str = ""
    #: The best run (primary metric, project's direction) of a sweep whose runs all ended.
    best: bool = False
    archived: bool = False

    @property
    def key(self) -> str:
        return f"run:{self.id}"

    @property
    def label(self) -> str:
        return f"Run {self.id}"

    @property
    def sweep(self) -> str:
        """The sweep's short id ("c193"), marked on its best run ("c193 ★"); "" if none."""
        if not self.group_id:
            return ""
        short = self.group_id[:4]
        return f"{short} {BEST_MARK}" if self.best else short

    def cells(self) -> tuple[str, ...]:
        metric = format_metric(self.primary_metric, self.primary_value)
        if self.sparkline:
            metric = f"{metric} {self.sparkline}"
        return (
            archived_cell(str(self.id), self.archived),
            self.project,
            self.status,
            self.elapsed,
            metric,
            self.sweep,
            self.age,
        )


@dataclass(frozen=True)
class ModelRow:
    id: int
    name: str
    description: str
    latest_version: int | None
    run_id: int | None
    aliases: tuple[str, ...]
    primary_metric: str | None
    primary_value: float | None
    updated_at: datetime | None
    age: str
    #: the model is archived, or the version shown is (then every version is)
    archived: bool = False

    @property
    def key(self) -> str:
        return f"model:{self.id}"

    @property
    def ref(self) -> str:
        """What ``d`` acts on: the version shown (``name@3``), or the model if it has none."""
        return self.name if self.latest_version is None else f"{self.name}@{self.latest_version}"

    @property
    def label(self) -> str:
        return f"Model {self.name}"

    def cells(self) -> tuple[str, ...]:
        version = NO_VALUE if self.latest_version is None else f"v{self.latest_version}"
        return (
            archived_cell(self.name, self.archived),
            version,
            ", ".join(self.aliases) or NO_VALUE,
            format_metric(self.primary_metric, self.primary_value),
            self.age,
        )


@dataclass(frozen=True)
class CheckMark:
    """One stored check of a request, as the Deployments pane marks it."""

    name: str
    passed: bool
    blocking: bool
    detail: str

    @property
    def mark(self) -> str:
        if self.passed:
            return CHECK_MARKS["passed"]
        return CHECK_MARKS["failed"] if self.blocking else CHECK_MARKS["note"]


@dataclass(frozen=True)
class DeploymentRow:
    """A pending deployment request (``kind="request"``) or an active deployment."""

    kind: str
    id: int
    model: str
    version: int
    target: str
    status: str
    by: str
    at: datetime | None
    reason: str
    age: str
    #: A request's stored checks, its approvals so far and the environment's rules.
    checks: tuple[CheckMark, ...] = ()
    approved: int = 0
    needed: int | None = None
    protected: bool = False

    @property
    def ref(self) -> str:
        return f"{self.model}@{self.version}"

    @property
    def marks(self) -> str:
        """``✓✓✗``: one mark per check, in the order they ran."""
        return "".join(check.mark for check in self.checks)

    @property
    def failed_checks(self) -> list[str]:
        """Names of the blocking checks that failed (an approval must override them)."""
        return [c.name for c in self.checks if c.blocking and not c.passed]

    @property
    def approvals(self) -> str:
        """``1/2``: approvals so far of those the environment needs (requests only)."""
        if self.kind != "request" or self.needed is None:
            return NO_VALUE
        return f"{self.approved}/{self.needed}"

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.id}"

    @property
    def label(self) -> str:
        noun = "Deployment request" if self.kind == "request" else "Deployment"
        return f"{noun} {self.id}"

    @property
    def short_id(self) -> str:
        return f"{'R' if self.kind == 'request' else 'D'}{self.id}"

    def cells(self) -> tuple[str, ...]:
        return (
            self.short_id,
            self.ref,
            self.target,
            self.status,
            self.by or NO_VALUE,
            self.marks or NO_VALUE,
            self.approvals,
            self.age,
        )


@dataclass(frozen=True)
class MonitoringRow:
    """An open alert (``kind="alert"``) or a monitor with its latest result."""

    kind: str
    id: int
    monitor: str
    project: str
    status: str
    last_run: datetime | None
    message: str
    age: str
    monitor_id: int = 0
    #: the alert's result, or the monitor's latest one
    result_id: int | None = None
    paused: bool = False
    next_run: str = NO_VALUE
    #: the headline statistic of the monitor's last results, oldest first
    sparkline: str = ""

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.id}"

    @property
    def label(self) -> str:
        return f"Alert {self.id}" if self.kind == "alert" else f"Monitor {self.monitor}"

    def cells(self) -> tuple[str, ...]:
        status = f"ALERT {self.status}" if self.kind == "alert" else self.status
        return (
            self.monitor,
            self.project,
            status,
            self.age,
            self.next_run,
            self.sparkline or NO_VALUE,
            self.message or NO_VALUE,
        )


PaneRow = DatasetRow | RunRow | ModelRow | DeploymentRow | MonitoringRow


@dataclass(frozen=True)
class PanePage:
    """Rows ``offset..offset+len(rows)`` of a pane, out of ``total`` matching the filter."""

    pane: Pane
    rows: list[PaneRow]
    total: int
    offset: int = 0
    filter_text: str = ""
    summary: str = ""
    #: rows per segment matching the filter ("alerts", "monitors", "running", ...)
    counts: dict[str, int] = field(default_factory=dict)
    #: archived rows: ``hide`` or ``include`` (``store.queries.ARCHIVED_CHOICES``)
    archived: str = "hide"


@dataclass(frozen=True)
class AgentStatus:
    alive: bool
    holder: str | None = None
    host: str | None = None
    pid: int | None = None
    heartbeat_at: datetime | None = None

    @property
    def label(self) -> str:
        if self.alive:
            return f"agent running (pid {self.pid} on {self.host})"
        return "agent stopped"


@dataclass(frozen=True)
class HomeOverview:
    panes: dict[Pane, PanePage]
    agent: AgentStatus = field(default_factory=lambda: AgentStatus(alive=False))


# --- loading ------------------------------------------------------------------------------


def _dataset_row(row: Mapping[str, Any], now: datetime) -> DatasetRow:
    updated = as_utc(row["updated_at"])
    return DatasetRow(
        id=int(row["id"]),
        name=_text(row["name"]),
        description=_text(row["description"]),
        latest_version=_int_or_none(row["version"]),
        rows=_int_or_none(row["n_rows"]),
        columns=_int_or_none(row["n_cols"]),
        size_bytes=_int_or_none(row["size_bytes"]),
        file_format=_text(row["file_format"]),
        updated_at=updated,
        age=human_age(updated, now),
        archived=row.get("archived_at") is not None,
    )


def run_elapsed(
    status: str, started: datetime | None, ended: datetime | None, now: datetime
) -> str:
    """How long a run has been going (if running) or took (if it ended)."""
    if started is None:
        return NO_VALUE
    end = ended if ended is not None else (now if status == queries.LIVE_RUN_STATUS else None)
    if end is None:
        return NO_VALUE
    return human_duration((end - started).total_seconds())


def _run_row(row: Mapping[str, Any], now: datetime) -> RunRow:
    created = as_utc(row["created_at"])
    started = as_utc(row["started_at"])
    ended = as_utc(row["ended_at"])
    status = _text(row["status"])
    return RunRow(
        id=int(row["id"]),
        project=_text(row["project"]),
        status=status,
        user=_text(row["user"]),
        created_at=created,
        started_at=started,
        ended_at=ended,
        elapsed=run_elapsed(status, started, ended, now),
        primary_metric=row["primary_metric"],
        primary_value=_float_or_none(row["primary_value"]),
        exit_code=_int_or_none(row["exit_code"]),
        error=_text(row["error"]),
        age=human_age(created, now),
        group_id=row.get("group_id") or None,
        archived=row.get("archived_at") is not None,
    )


def _direction(spec_json: str) -> str:
    try:
        spec = json.loads(spec_json)
    except ValueError:
        return "maximize"
    direction = spec.get("direction") if isinstance(spec, dict) else None
    return "minimize" if direction == "minimize" else "maximize"


SPARK_BARS = "▁▂▃▄▅▆▇█"
SPARK_POINTS = 12


def sparkline(values: list[float]) -> str:
    """``values`` as block characters scaled between their min and max."""
    if len(values) < 2:
        return ""
    low, high = min(values), max(values)
    span = high - low
    top = len(SPARK_BARS) - 1
    return "".join(SPARK_BARS[0 if span == 0 else round((v - low) / span * top)] for v in values)


def with_sparklines(reader: Reader, rows: list[PaneRow]) -> list[PaneRow]:
    """Live runs with a sparkline of their primary metric's last points (one index seek
    range per live run on the page, all in one statement; finished runs get none)."""
    live = [
        row
        for row in rows
        if isinstance(row, RunRow) and row.status in ACTIVE_RUN_STATUSES and row.primary_metric
    ]
    series = [(row.id, str(row.primary_metric)) for row in live]
    history = queries.recent_metric_values_of(reader, series, SPARK_POINTS)
    shown = {row.id for row in live}
    return [
        replace(row, sparkline=sparkline(history.get(row.id, [])))
        if isinstance(row, RunRow) and row.id in shown
        else row
        for row in rows
    ]


def best_of_groups(reader: Reader, rows: list[PaneRow]) -> list[PaneRow]:
    """``rows`` with ``best`` set on the best run of each sweep group that has ended.

    A group has ended when none of its runs is queued or running; its best run is the one
    with the highest (or, for a project that minimizes, lowest) primary value among the
    runs that did not fail. Two small indexed queries for the page's groups only.
    """
    groups = sorted({row.group_id for row in rows if isinstance(row, RunRow) and row.group_id})
    if not groups:
        return rows
    members = queries.run_groups(reader, groups)
    specs = queries.project_specs(reader, sorted({int(member["project_id"]) for member in members}))
    by_group: dict[str, list[Mapping[str, Any]]] = {}
    for member in members:
        by_group.setdefault(str(member["group_id"]), []).append(member)
    best: set[int] = set()
    for runs in by_group.values():
        if any(str(run["status"]) in ACTIVE_RUN_STATUSES for run in runs):
            continue
        scored = [
            run
            for run in runs
            if run["primary_value"] is not None
            and str(run["status"]) not in UNSUCCESSFUL_RUN_STATUSES
        ]
        if not scored:
            continue
        sign = (
            -1.0 if _direction(specs.get(int(scored[0]["project_id"]), "{}")) == "minimize" else 1.0
        )
        winner = max(scored, key=lambda run: (sign * float(run["primary_value"]), -int(run["id"])))
        best.add(int(winner["id"]))
    return [
        replace(row, best=True) if isinstance(row, RunRow) and row.id in best else row
        for row in rows
    ]


def _model_row(row: Mapping[str, Any], now: datetime) -> ModelRow:
    updated = as_utc(row["updated_at"])
    latest = _int_or_none(row["version"])
    aliases = tuple(
        alias if version == latest else f"{alias}@{version}"
        for alias, version in row.get("aliases", [])
    )
    return ModelRow(
        id=int(row["id"]),
        name=_text(row["name"]),
        description=_text(row["description"]),
        latest_version=latest,
        run_id=_int_or_none(row["run_id"]),
        aliases=aliases,
        primary_metric=row["primary_metric"],
        primary_value=_float_or_none(row["primary_value"]),
        updated_at=updated,
        age=human_age(updated, now),
        archived=row.get("archived_at") is not None or row.get("version_archived_at") is not None,
    )


def _check_marks(checks_json: Any) -> tuple[CheckMark, ...]:
    try:
        raw = json.loads(checks_json or "[]")
    except ValueError:
        return ()
    return tuple(
        CheckMark(
            _text(item.get("name")),
            bool(item.get("passed")),
            bool(item.get("blocking")),
            _text(item.get("detail")),
        )
        for item in (raw if isinstance(raw, list) else [])
        if isinstance(item, dict)
    )


def deployment_row(row: Mapping[str, Any], now: datetime) -> DeploymentRow:
    """A row of :func:`store.queries.deployments_page` or ``request_row`` for the pane."""
    at = as_utc(row["at"])
    return DeploymentRow(
        kind=_text(row["kind"]),
        id=int(row["id"]),
        model=_text(row["model"]),
        version=int(row["version"]),
        target=_text(row["target"]),
        status=_text(row["status"]),
        by=_text(row["actor"]),
        at=at,
        reason=_text(row["reason"]),
        age=human_age(at, now),
        checks=_check_marks(row.get("checks_json")),
        approved=int(row.get("approved") or 0),
        needed=_int_or_none(row.get("needed")),
        protected=bool(row.get("protected")),
    )


def waiting_for(reader: Reader, user: str) -> int:
    """How many pending requests wait for ``user``: made by someone else, not yet decided
    by them, in an environment ``user`` approves for (by name or ``@group``). On a
    PostgreSQL reader the user is its database login instead, and ``@group`` a role."""
    from dockyard.core.environments import (
        is_approver,  # group lookups; light, but off the start path
    )

    # On PostgreSQL the login acts, whoever the OS account is, and @group is a role
    postgres = isinstance(reader, queries.PsycopgReader)
    if postgres:
        me = reader.fetch_one("SELECT CAST(current_user AS TEXT) AS name")
        user = str(me["name"]) if me is not None else user
    total = 0
    for row in queries.waiting_requests(reader, user):
        try:
            approvers = tuple(str(a) for a in json.loads(row["approvers_json"] or "[]"))
        except ValueError:
            continue
        if postgres:
            answer = reader.fetch_one(
                "SELECT dockyard_is_approver(:who, :approvers) AS ok",
                {"who": user, "approvers": json.dumps(list(approvers))},
            )
            listed = bool(answer and answer["ok"])
        else:
            listed = is_approver(user, approvers)
        if listed:
            total += int(row["n"])
    return total


def _monitoring_row(row: Mapping[str, Any], now: datetime) -> MonitoringRow:
    at = as_utc(row["at"])
    status = _text(row["status"])
    enabled = bool(row.get("enabled", True))
    # the agent does not run an archived project's monitors: they rest like paused ones
    paused = bool(row.get("paused")) or row.get("project_archived_at") is not None
    if row["kind"] == "monitor" and not status:
        status = "never run" if enabled else "disabled"
    if row["kind"] == "monitor" and paused:
        status = "paused"
    if not enabled:
        upcoming = NO_VALUE
    elif paused:
        upcoming = "paused"
    else:
        checked = as_utc(row.get("checked_at"))
        upcoming = human_until(next_run_at(_text(row.get("schedule")), checked, now), now)
    return MonitoringRow(
        kind=_text(row["kind"]),
        id=int(row["id"]),
        monitor=_text(row["monitor"]),
        project=_text(row["project"]),
        status=status,
        last_run=at,
        message=_text(row["message"]),
        age=human_age(at, now),
        monitor_id=int(row.get("monitor_id") or 0),
        result_id=_int_or_none(row.get("result_id")),
        paused=paused,
        next_run=upcoming,
    )


def with_monitor_sparklines(reader: Reader, rows: list[PaneRow]) -> list[PaneRow]:
    """Monitoring rows with a sparkline of their monitor's headline statistic: one query
    for the last :data:`SPARK_POINTS` results of every monitor on the page."""
    ids = sorted({row.monitor_id for row in rows if isinstance(row, MonitoringRow)})
    history = queries.monitor_headlines(reader, ids, SPARK_POINTS)
    return [
        replace(row, sparkline=sparkline(history.get(row.monitor_id, [])))
        if isinstance(row, MonitoringRow)
        else row
        for row in rows
    ]


# --- schedules (pure Python: APScheduler costs ~70 ms to import, too much for the pane)

_INTERVAL = re.compile(r"^every\s+(\d+)\s*([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _cron_field(text: str, low: int, high: int) -> set[int]:
    values: set[int] = set()
    for part in text.split(","):
        base, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if base == "*":
            start, stop = low, high
        elif "-" in base:
            first, last = base.split("-", 1)
            start, stop = int(first), int(last)
        else:
            start = int(base)
            stop = high if step_text else start
        values.update(range(start, stop + 1, max(step, 1)))
    return values


def next_run_at(schedule: str, last: datetime | None, now: datetime) -> datetime | None:
    """When the agent runs a monitor next, by its schedule: an interval counts from its
    last run (now if it never ran); a cron expression gives its next matching minute
    (day of month and day of week must both match, as APScheduler 3 reads them).
    None for a schedule this cannot read."""
    text = schedule.strip()
    interval = _INTERVAL.match(text)
    if interval:
        if last is None:
            return now
        return last + timedelta(seconds=int(interval.group(1)) * _UNIT_SECONDS[interval.group(2)])
    parts = text.split()
    if len(parts) != 5:
        return None
    try:
        minutes = _cron_field(parts[0], 0, 59)
        hours = _cron_field(parts[1], 0, 23)
        days = _cron_field(parts[2], 1, 31)
        months = _cron_field(parts[3], 1, 12)
        weekdays = {d % 7 for d in _cron_field(parts[4], 0, 7)}  # 0 and 7: Sunday
    except ValueError:
        return None
    start = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    for offset in range(366 * 5):
        day = start + timedelta(days=offset)
        if offset:
            day = day.replace(hour=0, minute=0)
        if day.month not in months or day.day not in days:
            continue
        if (day.weekday() + 1) % 7 not in weekdays:
            continue
        for hour in sorted(h for h in hours if h >= day.hour):
            for minute in sorted(minutes):
                moment = day.replace(hour=hour, minute=minute)
                if moment >= day:
                    return moment
    return None


def human_until(then: datetime | None, now: datetime) -> str:
    """``then`` ahead of ``now``: "due", "in 40 s", "in 12 min", "in 3 h", "in 2 d"."""
    if then is None:
        return NO_VALUE
    seconds = (then - now).total_seconds()
    if seconds < 1:
        return "due"
    if seconds < 60:
        return f"in {int(seconds)} s"
    if seconds < 3600:
        return f"in {int(seconds // 60)} min"
    if seconds < 86400:
        return f"in {int(seconds // 3600)} h"
    return f"in {int(seconds // 86400)} d"


_PAGE_READERS: dict[Pane, Callable[..., queries.Page]] = {
    Pane.DATASETS: queries.datasets_page,
    Pane.RUNS: queries.runs_page,
    Pane.MODELS: queries.models_page,
    Pane.DEPLOYMENTS: queries.deployments_page,
    Pane.MONITORING: queries.monitoring_page,
}

_ROW_MAKERS: dict[Pane, Callable[[Mapping[str, Any], datetime], PaneRow]] = {
    Pane.DATASETS: _dataset_row,
    Pane.RUNS: _run_row,
    Pane.MODELS: _model_row,
    Pane.DEPLOYMENTS: deployment_row,
    Pane.MONITORING: _monitoring_row,
}

# Which segment count makes the one-line summary of a pane, and its wording.
_SUMMARIES: dict[Pane, tuple[str, str]] = {
    Pane.RUNS: ("running", "running"),
    Pane.DEPLOYMENTS: ("pending", "pending"),
    Pane.MONITORING: ("alerts", "open alerts"),
}


def _summary(pane: Pane, counts: Mapping[str, int]) -> str:
    if pane not in _SUMMARIES:
        return ""
    segment, words = _SUMMARIES[pane]
    count = counts.get(segment, 0)
    if count == 0:
        return ""
    if count == 1 and words == "open alerts":
        words = "open alert"
    return f"{count:,} {words}"


def load_pane(
    reader: Reader,
    pane: Pane | str,
    filter_text: str = "",
    *,
    limit: int = PAGE_SIZE,
    offset: int = 0,
    now: datetime | None = None,
    archived: str = "hide",
) -> PanePage:
    """One page of ``pane``: ``limit`` rows from ``offset`` matching ``filter_text``;
    archived rows of the Datasets, Runs and Models panes as ``archived`` says (hidden).

    Raises whatever the reader raises (``sqlite3.Error``, SQLAlchemy errors); the faces
    turn that into one line for the user.
    """
    pane = Pane(pane)
    moment = now if now is not None else utcnow()
    if pane.value in ARCHIVABLE_PANES:
        page = _PAGE_READERS[pane](
            reader, filter_text, limit=limit, offset=offset, archived=archived
        )
    else:
        archived = "hide"
        page = _PAGE_READERS[pane](reader, filter_text, limit=limit, offset=offset)
    make = _ROW_MAKERS[pane]
    rows = [make(row, moment) for row in page.rows]
    if pane is Pane.RUNS:
        rows = with_sparklines(reader, best_of_groups(reader, rows))
    if pane is Pane.MONITORING:
        rows = with_monitor_sparklines(reader, rows)
    return PanePage(
        pane=pane,
        rows=rows,
        total=page.total,
        offset=offset,
        filter_text=filter_text,
        summary=_summary(pane, page.counts),
        counts=dict(page.counts),
        archived=archived,
    )


def agent_status(reader: Reader, now: datetime | None = None) -> AgentStatus:
    """Whether an agent holds the lease and has beaten its heart in the last 30 s."""
    moment = now if now is not None else utcnow()
    row = queries.agent_lease(reader)
    if row is None:
        return AgentStatus(alive=False)
    heartbeat = as_utc(row["heartbeat_at"])
    alive = heartbeat is not None and moment - heartbeat <= AGENT_ALIVE_WITHIN
    return AgentStatus(
        alive=alive,
        holder=_text(row["holder"]),
        host=_text(row["host"]),
        pid=_int_or_none(row["pid"]),
        heartbeat_at=heartbeat,
    )


def load_home(
    reader: Reader,
    filters: Mapping[Pane, str] | None = None,
    *,
    limit: int = PAGE_SIZE,
    now: datetime | None = None,
) -> HomeOverview:
    """The first page of every pane (each with its own filter) and the agent's status."""
    moment = now if now is not None else utcnow()
    filters = filters or {}
    panes = {
        pane: load_pane(reader, pane, filters.get(pane, ""), limit=limit, now=moment)
        for pane in Pane
    }
    return HomeOverview(panes=panes, agent=agent_status(reader, moment))


def row_fields(row: PaneRow) -> list[tuple[str, str]]:
    """Every field of a row as (name, text) pairs, for a detail view."""
    pairs: list[tuple[str, str]] = []
    for item in fields(row):
        value = getattr(row, item.name)
        if isinstance(value, datetime):
            text = value.strftime("%Y-%m-%d %H:%M:%S UTC")
        elif isinstance(value, tuple):
            text = ", ".join(str(part) for part in value) or NO_VALUE
        elif value is None or value == "":
            text = NO_VALUE
        else:
            text = str(value)
        pairs.append((item.name.replace("_", " "), text))
    return pairs
