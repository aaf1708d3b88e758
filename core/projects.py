"""Projects: a folder with a ``dockyard.toml``, validated and registered in the store.

The file format is documented in ``docs/projects.md``. Validation is strict and its
errors name the file, the key and what is wrong, so a user can fix the file from one line.
It goes on past a problem to the next table entry, so every problem is reported at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dockyard.core.errors import InputError, NotFoundError
from dockyard.core.parsing import INT64_MAX, parse_float, parse_int, shown

if TYPE_CHECKING:
    from dockyard.core.workspace import Workspace
    from dockyard.store.writes import Transaction

PROJECT_FILE = "dockyard.toml"
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
PARAM_TYPES = ("int", "float", "str", "bool", "choice")
MONITOR_KINDS = ("drift", "quality", "performance")
MONITOR_KEYS = (
    "name",
    "kind",
    "schedule",
    "batches",
    "threshold",
    "metric",
    "min",
    "max",
    "model",
    "env",
    "dataset",
    "on_alert",
    "p_value",
    "psi_warn",
    "psi_alert",
)
DIRECTIONS = ("maximize", "minimize")
INTERVAL_RE = re.compile(r"^every\s+(\d+)\s*([smhd])$")
INTERVAL_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
CRON_FIELD_RE = re.compile(r"^[\d*/,\-]+$")
CRON_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))


class ProjectFileError(InputError):
    """``dockyard.toml`` is malformed; the message names file, key and problem.

    ``problems`` lists every ``(key path, problem)`` found, in file order; the message is
    one line: ``FILE: KEY: PROBLEM`` for one, ``FILE: N problems: KEY: PROBLEM; ...`` for
    more.
    """

    def __init__(self, message: str, problems: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(message)
        self.problems = problems


@dataclass(frozen=True)
class ParamSpec:
    name: str
    type: str
    default: Any
    help: str = ""
    min: float | None = None
    max: float | None = None
    choices: tuple[Any, ...] = ()

    def bound_text(self, value: float) -> str:
        """A bound as the user wrote it: an ``int`` parameter's as an int (``0``, not
        ``0.0``; TOML may give a float), a float's in its shortest form."""
        if self.type == "int" and float(value).is_integer():
            return str(int(value))
        return f"{value:g}"

    def range_text(self) -> str:
        """The bounds in a few characters: ``0..10``, ``≥0``, ``≤1``, or empty."""
        low = None if self.min is None else self.bound_text(self.min)
        high = None if self.max is None else self.bound_text(self.max)
        if low is not None and high is not None:
            return f"{low}..{high}"
        if low is not None:
            return f"≥{low}"
        return "" if high is None else f"≤{high}"


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    path: str
    target: str | None = None
    #: a pinned version: runs train on it whatever else is registered (see core.run_data)
    version: int | None = None


@dataclass(frozen=True)
class GateSpec:
    metric: str
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class MonitorSpec:
    name: str
    kind: str
    schedule: str
    batches: str = "incoming/*.csv"
    threshold: float | None = None
    metric: str | None = None
    min: float | None = None
    max: float | None = None
    #: the registered model watched; None: the project's model deployed in ``env``
    model: str | None = None
    env: str = "production"
    #: a dataset whose new versions are the batches (instead of the ``batches`` glob)
    dataset: str | None = None
    #: a command run when a result is an alert (split like a shell, never through one)
    on_alert: str | None = None
    #: significance of the KS / chi-square tests, before the correction for columns
    p_value: float = 0.05
    psi_warn: float = 0.1
    psi_alert: float = 0.25


#: Units of ``[resources] memory``: decimal (``GB``) and binary (``GiB``) multiples of a byte.
MEMORY_UNITS = {
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}
MEMORY_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]+)\s*$")


@dataclass(frozen=True)
class ResourcesSpec:
    """What one run of the project needs from the machine that executes it.

    The Dask executor asks the cluster for them (``core.dask_executor``); the local
    executor cannot enforce them and says so in the run's record.
    """

    gpus: int | None = None
    #: as written in the file (``"8GB"``), and in bytes
    memory: str | None = None
    memory_bytes: int | None = None

    def __bool__(self) -> bool:
        return bool(self.gpus) or self.memory_bytes is not None

    def describe(self) -> str:
        """``gpus=1, memory=8GB``: the request as the project file says it."""
        parts = []
        if self.gpus:
            parts.append(f"gpus={self.gpus}")
        if self.memory is not None:
            parts.append(f"memory={self.memory}")
        return ", ".join(parts)


def parse_memory(text: str) -> int:
    """``"8GB"``, ``"512 MiB"`` or ``"1.5GB"`` as bytes; ValueError saying what is wrong."""
    match = MEMORY_RE.match(text)
    unit = MEMORY_UNITS.get(match.group(2).lower()) if match else None
    if match is None or unit is None:
        raise ValueError(
            f'{shown(text)} is not an amount of memory; write e.g. "8GB" or "512MiB" '
            "(units B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)"
        )
    amount = int(float(match.group(1)) * unit)
    if amount <= 0 or amount > INT64_MAX:
        raise ValueError(f"{shown(text)} is out of range (more than 0 bytes, at most 8 EiB)")
    return amount


@dataclass(frozen=True)
class ProjectSpec:
    """A validated ``dockyard.toml``."""

    name: str
    entry: str
    description: str = ""
    datasets: tuple[DatasetSpec, ...] = ()
    params: tuple[ParamSpec, ...] = ()
    primary_metric: str | None = None
    direction: str = "maximize"
    gates: tuple[GateSpec, ...] = ()
    monitors: tuple[MonitorSpec, ...] = ()
    register_candidates: bool = False
    trusted_modules: tuple[str, ...] = ()
    #: ``mlflow:<experiment id>`` for a project made by ``dockyard import mlflow``: it has
    #: no entry command until a project folder of the same name is added
    imported_from: str = ""
    #: ``[resources]``: what a run needs from the executor (empty: nothing in particular)
    resources: ResourcesSpec = field(default_factory=ResourcesSpec)
    #: ``[runs] requeue_lost``: a run whose process or worker vanished is queued again, once
    requeue_lost: bool = False

    def to_json(self) -> str:
        data = asdict(self)
        # the spec (and its hash) of a project that does not use these stays as it was
        if not self.imported_from:
            del data["imported_from"]
        if not self.resources:
            del data["resources"]
        if not self.requeue_lost:
            del data["requeue_lost"]
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ProjectSpec:
        data = json.loads(text)
        return cls(
            name=data["name"],
            entry=data["entry"],
            description=data.get("description", ""),
            datasets=tuple(DatasetSpec(**d) for d in data.get("datasets", [])),
            params=tuple(
                ParamSpec(**{**p, "choices": tuple(p.get("choices", ()))})
                for p in data.get("params", [])
            ),
            primary_metric=data.get("primary_metric"),
            direction=data.get("direction", "maximize"),
            gates=tuple(GateSpec(**g) for g in data.get("gates", [])),
            monitors=tuple(MonitorSpec(**m) for m in data.get("monitors", [])),
            register_candidates=data.get("register_candidates", False),
            trusted_modules=tuple(data.get("trusted_modules", ())),
            imported_from=data.get("imported_from", ""),
            resources=ResourcesSpec(**data.get("resources", {})),
            requeue_lost=data.get("requeue_lost", False),
        )


class ProjectArchivedError(InputError):
    """The project is archived (retired): it takes no new run and its monitors do not run
    until ``dockyard project restore NAME``."""

    def __init__(self, name: str, what: str = "it takes no new runs") -> None:
        super().__init__(
            f"project {name} is archived, so {what}; restore it first: "
            f"`dockyard project restore {name}`"
        )
        self.project = name


# A compare-and-set that changes nothing: it matches only while the project is not archived,
# and on PostgreSQL it holds the row's lock until the transaction ends, so an archive (which
# updates the same row first) either waits for the runs this transaction inserts, and then
# cancels them, or has committed, and this matches nothing. On SQLite the transaction
# already holds the write lock. Portable SQL, no `SELECT ... FOR UPDATE`.
_HOLD_LIVE_PROJECT = "UPDATE project SET archived_at = NULL WHERE id = :p AND archived_at IS NULL"


def hold_live_project(tx: Transaction, project_id: int, name: str) -> None:
    """In ``tx``, before inserting a run of project ``project_id``: raise
    :class:`ProjectArchivedError` when it is archived, else keep it from being archived
    until ``tx`` ends."""
    if tx.execute(_HOLD_LIVE_PROJECT, {"p": project_id}) == 1:
        return
    if tx.fetch_one("SELECT id FROM project WHERE id = :p", {"p": project_id}) is None:
        raise NotFoundError(f"project {name} was just deleted; nothing queued")
    raise ProjectArchivedError(name)


@dataclass(frozen=True)
class ProjectInfo:
    """A registered project as the faces show it."""

    id: int
    name: str
    path: str
    description: str
    entry: str
    created_at: datetime
    updated_at: datetime
    spec: ProjectSpec = field(repr=False)
    #: when it was archived (hidden from `project list`), None if not
    archived_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "path": self.path,
            "description": self.description,
            "entry": self.entry,
            "primary_metric": self.spec.primary_metric,
            "direction": self.spec.direction,
            "params": [p.name for p in self.spec.params],
            "datasets": [d.name for d in self.spec.datasets],
            "monitors": [m.name for m in self.spec.monitors],
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "archived_at": self.archived_at.isoformat() if self.archived_at else None,
        }


class _Checker:
    """Reads typed values out of a TOML table, raising errors that name file and key.

    A raised problem ends only the entry being checked (``with checker.entry():``); the
    problems are gathered and :meth:`raise_problems` reports them all in one error.
    """

    def __init__(self, file: Path) -> None:
        self.file = file
        self.problems: list[tuple[str, str]] = []

    def fail(self, key: str, problem: str) -> ProjectFileError:
        return ProjectFileError(f"{self.file}: {key}: {problem}", ((key, problem),))

    @contextlib.contextmanager
    def entry(self) -> Iterator[None]:
        """Check one table or array entry; its first problem is noted, not raised."""
        try:
            yield
        except ProjectFileError as exc:
            self.problems.extend(exc.problems)

    def raise_problems(self) -> None:
        if not self.problems:
            return
        if len(self.problems) == 1:
            raise self.fail(*self.problems[0])
        listed = "; ".join(f"{key}: {problem}" for key, problem in self.problems)
        raise ProjectFileError(
            f"{self.file}: {len(self.problems)} problems: {listed}", tuple(self.problems)
        )

    def table(self, data: Mapping[str, Any], key: str, *, required: bool) -> dict[str, Any]:
        value = data.get(key.rsplit(".", 1)[-1])
        if value is None:
            if required:
                raise self.fail(key, "missing; add a [" + key + "] table")
            return {}
        if not isinstance(value, dict):
            raise self.fail(key, f"must be a table, not {_type_name(value)}")
        return value

    def tables(self, data: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self.fail(key, f"must be an array of tables ([[{key}]])")
        return value

    def string(
        self, data: Mapping[str, Any], key: str, where: str, *, required: bool = True
    ) -> str | None:
        value = data.get(key)
        if value is None:
            if required:
                raise self.fail(f"{where}.{key}", "missing; it is required")
            return None
        if not isinstance(value, str):
            raise self.fail(f"{where}.{key}", f"must be a string, not {_type_name(value)}")
        if required and not value.strip():
            raise self.fail(f"{where}.{key}", "must not be empty")
        return value

    def number(self, data: Mapping[str, Any], key: str, where: str) -> float | None:
        value = data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(f"{where}.{key}", f"must be a number, not {_type_name(value)}")
        try:
            return parse_float(value)  # TOML has nan and inf literals; a NaN bound never trips
        except InputError as exc:
            raise self.fail(f"{where}.{key}", str(exc)) from None

    def name(self, data: Mapping[str, Any], key: str, where: str) -> str:
        value = self.string(data, key, where)
        assert value is not None
        if not NAME_RE.match(value):
            raise self.fail(
                f"{where}.{key}",
                f"{value!r} is not a valid name; use lowercase letters, digits, - and _ "
                "(at most 64, starting with a letter or digit)",
            )
        return value

    def unknown_keys(self, data: Mapping[str, Any], allowed: set[str], where: str) -> None:
        # noted, not raised: an unknown key does not stop the known ones being checked
        for key in sorted(set(data) - allowed):
            self.problems.append(
                (f"{where}.{key}", f"unknown key (expected one of {', '.join(sorted(allowed))})")
            )


def _type_name(value: object) -> str:
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "a table",
    }.get(type(value), type(value).__name__)


def _check_param(c: _Checker, name: str, raw: Any) -> ParamSpec:
    where = f"params.{name}"
    if not isinstance(raw, dict):
        raise c.fail(where, "must be a table with at least `type` and `default`")
    if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", name):
        raise c.fail(where, "a parameter name must be letters, digits and _ (an identifier)")
    c.unknown_keys(raw, {"type", "default", "help", "min", "max", "choices"}, where)
    kind = c.string(raw, "type", where)
    if kind not in PARAM_TYPES:
        raise c.fail(f"{where}.type", f"{kind!r} is not one of {', '.join(PARAM_TYPES)}")
    if "default" not in raw:
        raise c.fail(f"{where}.default", "missing; every parameter needs a default")
    low, high = c.number(raw, "min", where), c.number(raw, "max", where)
    if (low is not None or high is not None) and kind not in ("int", "float"):
        raise c.fail(where, "min/max apply only to int and float parameters")
    if low is not None and high is not None and low > high:
        raise c.fail(where, f"min ({low:g}) is greater than max ({high:g})")
    choices: tuple[Any, ...] = ()
    if kind == "choice":
        raw_choices = raw.get("choices")
        if not isinstance(raw_choices, list) or not raw_choices:
            raise c.fail(f"{where}.choices", "a choice parameter needs a non-empty array")
        for choice in raw_choices:
            if isinstance(choice, float):
                try:
                    parse_float(choice)
                except InputError as exc:
                    raise c.fail(f"{where}.choices", str(exc)) from None
        choices = tuple(raw_choices)
    elif "choices" in raw:
        raise c.fail(f"{where}.choices", "only a parameter of type 'choice' takes choices")
    spec = ParamSpec(
        name=name,
        type=kind,
        default=raw["default"],
        help=c.string(raw, "help", where, required=False) or "",
        min=low,
        max=high,
        choices=choices,
    )
    try:
        coerced = coerce_param(spec, spec.default)
    except InputError as exc:
        raise c.fail(f"{where}.default", str(exc)) from None
    return ParamSpec(**{**asdict(spec), "default": coerced, "choices": choices})


def coerce_param(spec: ParamSpec, value: Any) -> Any:
    """``value`` (a TOML value or a command-line string) as ``spec``'s type, range-checked."""
    result: Any
    if spec.type == "bool":
        if isinstance(value, bool):
            result = value
        elif isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
            result = value.lower() in ("true", "1", "yes")
        else:
            raise InputError(f"parameter {spec.name}: {value!r} is not a boolean (true/false)")
        return result
    if spec.type in ("int", "float"):
        try:
            result = _parse_int_param(value) if spec.type == "int" else parse_float(value)
        except InputError as exc:
            raise InputError(f"parameter {spec.name}: {exc}") from None
        if spec.min is not None and result < spec.min:
            raise InputError(f"parameter {spec.name}: {result} is below the minimum {spec.min:g}")
        if spec.max is not None and result > spec.max:
            raise InputError(f"parameter {spec.name}: {result} is above the maximum {spec.max:g}")
        return result
    if spec.type == "choice":
        for choice in spec.choices:
            if value == choice or str(value) == str(choice):
                return choice
        options = ", ".join(str(c) for c in spec.choices)
        raise InputError(f"parameter {spec.name}: {value!r} is not one of {options}")
    if not isinstance(value, str):
        raise InputError(f"parameter {spec.name}: {value!r} is not a string")
    return value


def _parse_int_param(value: Any) -> int:
    """An int parameter: an integer (``3``, ``"3"``, ``3.0``) in the signed 64-bit range.

    The bound keeps values storable (a ``seed`` lands in an INTEGER column) and usable by
    NumPy, whose default integers are 64-bit.
    """
    if isinstance(value, float):
        if not value.is_integer():  # also NaN and infinity
            raise InputError(f"{shown(value)} is not an integer")
        value = int(value)
    elif not isinstance(value, int | str) or isinstance(value, bool):
        raise InputError(f"{shown(value)} is not an integer")
    return parse_int(value)


def check_schedule(schedule: str) -> int | None:
    """Seconds for ``every N<unit>``, None for a valid 5-field cron; else ValueError."""
    text = schedule.strip()
    interval = INTERVAL_RE.match(text)
    if interval:
        seconds = int(interval.group(1)) * INTERVAL_SECONDS[interval.group(2)]
        if seconds <= 0:
            raise ValueError("an interval must be longer than zero")
        return seconds
    fields = text.split()
    if len(fields) != 5 or not all(CRON_FIELD_RE.match(f) for f in fields):
        raise ValueError(
            f"{schedule!r} is neither 'every N[s|m|h|d]' nor a 5-field cron expression"
        )
    for value, (low, high) in zip(fields, CRON_RANGES, strict=True):
        for number in re.findall(r"\d+", value.split("/")[0]):
            if not low <= int(number) <= high:
                raise ValueError(f"{schedule!r}: {number} is outside {low}-{high}")
    return None


def _check_monitor(c: _Checker, raw: dict[str, Any], index: int) -> MonitorSpec:
    where = f"monitors[{index}]"
    c.unknown_keys(raw, set(MONITOR_KEYS), where)
    name = c.name(raw, "name", where)
    kind = c.string(raw, "kind", where)
    if kind not in MONITOR_KINDS:
        raise c.fail(f"{where}.kind", f"{kind!r} is not one of {', '.join(MONITOR_KINDS)}")
    schedule = c.string(raw, "schedule", where)
    assert schedule is not None
    try:
        check_schedule(schedule)
    except ValueError as exc:
        raise c.fail(f"{where}.schedule", str(exc)) from None
    metric = c.string(raw, "metric", where, required=False)
    low, high = c.number(raw, "min", where), c.number(raw, "max", where)
    if kind == "performance" and (metric is None or (low is None and high is None)):
        raise c.fail(where, "a performance monitor needs `metric` and `min` or `max`")
    if "batches" in raw and "dataset" in raw:
        raise c.fail(where, "give `batches` (a file glob) or `dataset`, not both")
    threshold = c.number(raw, "threshold", where)
    if threshold is not None and kind != "performance" and not 0 <= threshold <= 1:
        raise c.fail(f"{where}.threshold", "must be a share between 0 and 1")
    p_value = c.number(raw, "p_value", where)
    if p_value is not None and not 0 < p_value < 1:
        raise c.fail(f"{where}.p_value", "must be between 0 and 1 (exclusive)")
    psi_warn = c.number(raw, "psi_warn", where)
    psi_alert = c.number(raw, "psi_alert", where)
    warn_at = 0.1 if psi_warn is None else psi_warn
    alert_at = 0.25 if psi_alert is None else psi_alert
    if not 0 < warn_at <= alert_at:
        raise c.fail(where, "psi_warn must be above 0 and at most psi_alert")
    env = c.string(raw, "env", where, required=False) or "production"
    model = c.string(raw, "model", where, required=False)
    dataset = c.string(raw, "dataset", where, required=False)
    for key, value in (("env", env), ("model", model), ("dataset", dataset)):
        if value is not None and not NAME_RE.match(value):
            raise c.fail(f"{where}.{key}", f"{value!r} is not a valid name")
    on_alert = c.string(raw, "on_alert", where, required=False)
    if on_alert is not None:
        import shlex

        try:
            if not shlex.split(on_alert):
                raise ValueError("it is empty")
        except ValueError as exc:
            raise c.fail(f"{where}.on_alert", f"is not a command line: {exc}") from None
    return MonitorSpec(
        name=name,
        kind=kind,
        schedule=schedule,
        batches=c.string(raw, "batches", where, required=False) or "incoming/*.csv",
        threshold=threshold,
        metric=metric,
        min=low,
        max=high,
        model=model,
        env=env,
        dataset=dataset,
        on_alert=on_alert,
        p_value=0.05 if p_value is None else p_value,
        psi_warn=warn_at,
        psi_alert=alert_at,
    )


def parse_project_file(file: Path) -> ProjectSpec:
    """Read and validate ``file``; one ProjectFileError lists every problem, each by key."""
    if not file.is_file():
        raise ProjectFileError(
            f"{file}: not found; a project folder needs a {PROJECT_FILE} (see docs/projects.md)"
        )
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ProjectFileError(f"{file}: not UTF-8 text; save it as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ProjectFileError(f"{file}: not valid TOML: {exc}") from None
    c = _Checker(file)
    c.unknown_keys(
        data,
        {
            "project",
            "datasets",
            "params",
            "metrics",
            "gates",
            "monitors",
            "models",
            "resources",
            "runs",
        },
        "",
    )
    name = entry = description = ""
    register = False
    with c.entry():
        project = c.table(data, "project", required=True)
        c.unknown_keys(project, {"name", "description", "entry", "register_candidates"}, "project")
        with c.entry():
            name = c.name(project, "name", "project")
        with c.entry():
            entry = c.string(project, "entry", "project") or ""
        with c.entry():
            description = c.string(project, "description", "project", required=False) or ""
        register = project.get("register_candidates", False)
        if not isinstance(register, bool):
            raise c.fail("project.register_candidates", "must be true or false")

    datasets: list[DatasetSpec] = []
    with c.entry():
        for i, raw in enumerate(c.tables(data, "datasets")):
            with c.entry():
                datasets.append(_check_dataset(c, raw, f"datasets[{i}]"))
        _no_duplicates(c, "datasets", [d.name for d in datasets])

    params: list[ParamSpec] = []
    with c.entry():
        for key, raw in c.table(data, "params", required=False).items():
            with c.entry():
                params.append(_check_param(c, key, raw))

    primary: str | None = None
    direction = "maximize"
    with c.entry():
        metrics = c.table(data, "metrics", required=False)
        c.unknown_keys(metrics, {"primary", "direction"}, "metrics")
        with c.entry():
            primary = c.string(metrics, "primary", "metrics", required=False)
        direction = c.string(metrics, "direction", "metrics", required=False) or "maximize"
        if direction not in DIRECTIONS:
            raise c.fail("metrics.direction", f"{direction!r} is not maximize or minimize")

    gates: list[GateSpec] = []
    with c.entry():
        for i, raw in enumerate(c.tables(data, "gates")):
            with c.entry():
                gates.append(_check_gate(c, raw, f"gates[{i}]"))

    monitors: list[MonitorSpec] = []
    with c.entry():
        for i, raw in enumerate(c.tables(data, "monitors")):
            with c.entry():
                monitors.append(_check_monitor(c, raw, i))
        _no_duplicates(c, "monitors", [m.name for m in monitors])

    trusted_modules: tuple[str, ...] = ()
    with c.entry():
        trusted_modules = _check_trusted_modules(c, c.table(data, "models", required=False))

    resources = ResourcesSpec()
    with c.entry():
        resources = _check_resources(c, c.table(data, "resources", required=False))

    requeue_lost = False
    with c.entry():
        runs = c.table(data, "runs", required=False)
        c.unknown_keys(runs, {"requeue_lost"}, "runs")
        requeue_lost = runs.get("requeue_lost", False)
        if not isinstance(requeue_lost, bool):
            raise c.fail("runs.requeue_lost", "must be true or false")

    c.raise_problems()
    return ProjectSpec(
        name=name,
        entry=entry,
        description=description,
        datasets=tuple(datasets),
        params=tuple(params),
        primary_metric=primary,
        direction=direction,
        gates=tuple(gates),
        monitors=tuple(monitors),
        register_candidates=register,
        trusted_modules=trusted_modules,
        resources=resources,
        requeue_lost=requeue_lost,
    )


def _check_resources(c: _Checker, raw: dict[str, Any]) -> ResourcesSpec:
    """``[resources]``: ``gpus`` a whole number, ``memory`` an amount with its unit."""
    c.unknown_keys(raw, {"gpus", "memory"}, "resources")
    gpus = raw.get("gpus")
    if gpus is not None and (
        isinstance(gpus, bool) or not isinstance(gpus, int) or not 0 <= gpus <= 1024
    ):
        c.problems.append(
            ("resources.gpus", f"must be a whole number of GPUs (0 to 1024), not {shown(gpus)}")
        )
        gpus = None
    memory = raw.get("memory")
    memory_bytes = None
    if memory is not None:
        if not isinstance(memory, str):
            raise c.fail(
                "resources.memory", f'must be a string such as "8GB", not {_type_name(memory)}'
            )
        try:
            memory_bytes = parse_memory(memory)
        except ValueError as exc:
            raise c.fail("resources.memory", str(exc)) from None
        memory = memory.strip()
    return ResourcesSpec(gpus=gpus or None, memory=memory, memory_bytes=memory_bytes)


def _check_dataset(c: _Checker, raw: dict[str, Any], where: str) -> DatasetSpec:
    c.unknown_keys(raw, {"name", "path", "target", "version"}, where)
    path = c.string(raw, "path", where)
    assert path is not None
    if not (c.file.parent / path).exists():
        raise c.fail(f"{where}.path", f"{path} does not exist in {c.file.parent}")
    version = raw.get("version")
    if version is not None and (
        isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= INT64_MAX
    ):
        # a string "1" or a float 1.0 is refused too: the pin is a version number as
        # `dockyard data versions` lists it, nothing to guess about
        raise c.fail(
            f"{where}.version",
            f"must be a version number (1, 2, ...), not {shown(version, 40)}",
        )
    return DatasetSpec(
        name=c.name(raw, "name", where),
        path=path,
        target=c.string(raw, "target", where, required=False),
        version=version,
    )


def _check_gate(c: _Checker, raw: dict[str, Any], where: str) -> GateSpec:
    c.unknown_keys(raw, {"metric", "min", "max"}, where)
    metric = c.string(raw, "metric", where)
    assert metric is not None
    low, high = c.number(raw, "min", where), c.number(raw, "max", where)
    if low is None and high is None:
        raise c.fail(where, "a gate needs `min` or `max` (or both)")
    return GateSpec(metric=metric, min=low, max=high)


def _check_trusted_modules(c: _Checker, models: dict[str, Any]) -> tuple[str, ...]:
    """``[models] trusted_modules``: the project's own modules its model files may name."""
    from dockyard.core.model_policy import trusted_module_problem

    c.unknown_keys(models, {"trusted_modules"}, "models")
    raw = models.get("trusted_modules", [])
    if not isinstance(raw, list):
        raise c.fail("models.trusted_modules", f"must be an array of module names, not "
                     f"{_type_name(raw)}")  # fmt: skip
    for index, name in enumerate(raw):
        problem = trusted_module_problem(name)
        if problem is not None:
            c.problems.append((f"models.trusted_modules[{index}]", problem))
    _no_duplicates(c, "models.trusted_modules", raw)
    return tuple(raw)


def _no_duplicates(c: _Checker, key: str, names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise c.fail(key, f"the name {name!r} is used twice")
        seen.add(name)


def load_project_dir(path: Path) -> tuple[Path, ProjectSpec]:
    """Resolve ``path`` (a folder or its ``dockyard.toml``) and validate it."""
    path = path.expanduser()
    if not path.exists():
        raise NotFoundError(f"{path}: no such folder; give the folder that holds {PROJECT_FILE}")
    folder = path.parent if path.is_file() else path
    return folder.resolve(), parse_project_file(folder / PROJECT_FILE)


def add_project(workspace: Workspace, path: Path) -> ProjectInfo:
    """Validate and register the project at ``path``; re-adding the same name updates it.

    Written in plain SQL through ``core.workspace.open_writer`` (one transaction): a script
    re-adding projects in a loop does not pay for importing the ORM (decision 28).
    """
    from contextlib import closing
    from datetime import UTC

    from dockyard.core.workspace import open_writer

    folder, spec = load_project_dir(path)
    text = spec.to_json()
    digest = hashlib.sha256(text.encode()).hexdigest()
    now = datetime.now(UTC)
    with closing(open_writer(workspace)) as writer, writer.transaction() as tx:
        row = tx.fetch_one(
            "SELECT id, path, spec_json FROM project WHERE name = :name", {"name": spec.name}
        )
        imported = ProjectSpec.from_json(row["spec_json"]).imported_from if row is not None else ""
        if imported:
            # a folder taking over an imported project keeps its MLflow experiment, so a
            # later import still adds that experiment's new runs here
            spec = replace(spec, imported_from=imported)
            text = spec.to_json()
            digest = hashlib.sha256(text.encode()).hexdigest()
        if row is not None and row["path"] != str(folder) and not imported:
            raise InputError(
                f"project {spec.name!r} is already registered from {row['path']}; "
                "rename it in dockyard.toml or remove the other one"
            )
        values = {
            "path": str(folder),
            "entry": spec.entry,
            "spec_json": text,
            "spec_hash": digest,
            "description": spec.description,
            "updated_at": now,
        }
        if row is None:
            project_id = tx.insert("project", {"name": spec.name, "created_at": now, **values})
        else:
            # an imported project taken over by its folder keeps its runs and gets an entry
            project_id = int(row["id"])
            tx.execute(
                "UPDATE project SET path = :path, entry = :entry, spec_json = :spec_json, "
                "spec_hash = :spec_hash, description = :description, updated_at = :updated_at "
                "WHERE id = :id",
                {**values, "id": project_id},
            )
        _sync_monitors(tx, project_id, spec, now)
    return get_project(workspace, spec.name)


def archived_warning(info: ProjectInfo) -> str | None:
    """What re-adding the folder of an archived project says (None when it is not):
    the definition is updated, but the project stays retired until it is restored, since
    re-reading a file is no decision to bring a project back."""
    if info.archived_at is None:
        return None
    return (
        f"project {info.name} is archived: its definition is updated, but it takes no new "
        f"runs until `dockyard project restore {info.name}`"
    )


def _sync_monitors(tx: Transaction, project_id: int, spec: ProjectSpec, now: datetime) -> None:
    """Make the monitor rows match the file: new ones added, changed ones updated,
    removed ones disabled (their results stay)."""
    existing = {
        str(m["name"]): m
        for m in tx.fetch_all(
            "SELECT id, name, source FROM monitor WHERE project_id = :p", {"p": project_id}
        )
    }
    for monitor in spec.monitors:
        values = {
            "kind": monitor.kind,
            "schedule": monitor.schedule,
            "config_json": json.dumps(asdict(monitor), sort_keys=True),
            "enabled": True,
            "source": "file",
        }
        row = existing.pop(monitor.name, None)
        if row is None:
            tx.insert(
                "monitor",
                {"project_id": project_id, "name": monitor.name, "paused": False,
                 "checks_count": 0, "created_at": now, **values},
            )  # fmt: skip
        else:
            tx.execute(
                "UPDATE monitor SET kind = :kind, schedule = :schedule, "
                "config_json = :config_json, enabled = :enabled, source = :source WHERE id = :id",
                {**values, "id": row["id"]},
            )
    for row in existing.values():
        if row["source"] == "file":  # `dockyard monitor add` ones are not the file's to drop
            tx.execute(
                "UPDATE monitor SET enabled = :no WHERE id = :id", {"no": False, "id": row["id"]}
            )


PROJECT_COLUMNS = (
    "SELECT id, name, path, description, entry, spec_json, created_at, updated_at,"
    " archived_at FROM project"
)


def list_projects(workspace: Workspace, *, archived: str = "hide") -> list[ProjectInfo]:
    """Registered projects, by name; archived ones hidden, alone (``archived="only"``) or
    included (``"include"``)."""
    from dockyard.core.workspace import reader_for
    from dockyard.store.queries import archived_clause

    where = archived_clause("archived_at", archived)
    rows = reader_for(workspace).fetch_all(f"{PROJECT_COLUMNS} WHERE {where} ORDER BY name")
    return [_info(row) for row in rows]


def get_project(workspace: Workspace, name: str) -> ProjectInfo:
    """The project called ``name``; NotFoundError lists the known ones."""
    from dockyard.core.workspace import reader_for

    reader = reader_for(workspace)
    row = reader.fetch_one(PROJECT_COLUMNS + " WHERE name = :name", {"name": name})
    if row is None:
        names = reader.fetch_all("SELECT name FROM project ORDER BY id")
        known = ", ".join(str(r["name"]) for r in names) or "none yet"
        raise NotFoundError(
            f"no project named {name!r} (registered: {known}); "
            "add one with `dockyard project add PATH`"
        )
    return _info(row)


def _info(row: Mapping[str, Any]) -> ProjectInfo:
    """A :class:`ProjectInfo` from a ``project`` row read by a ``store.queries`` reader."""
    from dockyard.store.queries import as_utc

    created, updated = as_utc(row["created_at"]), as_utc(row["updated_at"])
    assert created is not None and updated is not None  # NOT NULL columns
    return ProjectInfo(
        id=row["id"],
        name=row["name"],
        path=row["path"],
        description=row["description"],
        entry=row["entry"],
        created_at=created,
        updated_at=updated,
        spec=ProjectSpec.from_json(row["spec_json"]),
        archived_at=as_utc(row["archived_at"]),
    )
