"""The tracking client: store mode against a real SQLite store, protocol mode, the parser."""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dockyard.core.tracking import (
    ModelFormatWarning,
    ProtocolError,
    RunEndedError,
    Tracker,
    encode_param,
    format_protocol_line,
    format_value,
    parse_protocol_line,
)
from dockyard.core.workspace import Workspace
from tests import stores

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.both_stores


class Store:
    """A workspace with one project and one run, and the env the runner would set."""

    def __init__(self, workspace: Workspace) -> None:
        from sqlmodel import Session, create_engine

        from dockyard.store.models import Project

        self.workspace = workspace
        root = workspace.root
        engine = create_engine(self.workspace.db_url)
        with Session(engine) as session:
            project = Project(
                name="demo", path=str(root), entry="python train.py", spec_json="{}", spec_hash="x"
            )
            session.add(project)
            session.commit()
            session.refresh(project)
            assert project.id is not None
            self.project_id = project.id
            self.run_id = self.new_run(session)
        engine.dispose()

    def new_run(self, session: Any = None) -> int:
        from sqlmodel import Session, create_engine

        from dockyard.store.models import Run

        if session is None:
            engine = create_engine(self.workspace.db_url)
            with Session(engine) as own:
                return self.new_run(own)
        run = Run(project_id=self.project_id, status="running")
        session.add(run)
        session.commit()
        session.refresh(run)
        assert run.id is not None
        return run.id

    def env(self, run_id: int | None = None, **extra: str) -> dict[str, str]:
        return {
            "DOCKYARD_RUN_ID": str(run_id or self.run_id),
            "DOCKYARD_DB": self.workspace.db_url,
            "DOCKYARD_HOME": str(self.workspace.home),
            **extra,
        }

    def rows(self, sql: str, *args: object) -> list[tuple[Any, ...]]:
        return stores.rows(self.workspace, sql, *args)

    def count_metrics(self, run_id: int | None = None) -> int:
        return int(
            self.rows("SELECT count(*) FROM metric WHERE run_id = ?", run_id or self.run_id)[0][0]
        )


@pytest.fixture
def store(workspace: Workspace) -> Store:
    return Store(workspace)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "proj"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "train.csv").write_text("a,target\n1,0\n")
    (folder / "dockyard.toml").write_text(
        textwrap.dedent(
            """
            [project]
            name = "proj"
            entry = "python train.py"

            [[datasets]]
            name = "things"
            path = "data/train.csv"
            target = "target"

            [params.model]
            type = "choice"
            choices = ["a", "b"]
            default = "a"

            [params.C]
            type = "float"
            default = 1.0

            [params.n]
            type = "int"
            default = 3

            [metrics]
            primary = "score"
            direction = "maximize"
            """
        )
    )
    return folder


@pytest.fixture
def tracker_factory(project: Path) -> Iterator[Any]:
    made: list[Tracker] = []

    def make(env: dict[str, str], **options: Any) -> Tracker:
        tracker = Tracker.from_env(env, project_dir=project, **options)
        made.append(tracker)
        return tracker

    yield make
    for tracker in made:
        tracker.close()


# --------------------------------------------------------------------------- store mode


def test_store_mode_writes_params_tags_metrics(store: Store, tracker_factory: Any) -> None:
    t = tracker_factory(store.env())
    assert t.mode == "store"
    t.log_params({"C": 1.0, "model": "a", "flag": True, "layers": (64, 32)})
    t.log_param("C", 0.5)  # a later value replaces the earlier one
    t.set_tag("stage", "test")
    t.set_tags({"stage": "final", "owner": "ana"})
    t.log_metric("loss", 0.9)
    t.log_metric("loss", 0.7)  # steps count up per key when not given
    t.log_metric("accuracy", 0.93, step=3)
    t.log_metrics({"a": 1, "b": 2.5}, step=7)
    t.close()

    # JSON text, as the runner writes params, so that they read back with their type
    assert dict(store.rows("SELECT key, value FROM param WHERE run_id = ?", store.run_id)) == {
        "C": "0.5",
        "model": '"a"',
        "flag": "true",
        "layers": "[64, 32]",
    }
    assert dict(store.rows("SELECT key, value FROM run_tag WHERE run_id = ?", store.run_id)) == {
        "stage": "final",
        "owner": "ana",
    }
    points = store.rows(
        "SELECT key, step, value, timestamp FROM metric WHERE run_id = ? ORDER BY id", store.run_id
    )
    assert [(k, s, v) for k, s, v, _ in points] == [
        ("loss", 0, 0.9),
        ("loss", 1, 0.7),
        ("accuracy", 3, 0.93),
        ("a", 7, 1.0),
        ("b", 7, 2.5),
    ]
    assert all(abs(stamp - time.time()) < 60 for *_, stamp in points)


def test_primary_metric_and_seed_update_the_run(store: Store, tracker_factory: Any) -> None:
    t = tracker_factory(store.env(DOCKYARD_PRIMARY_METRIC="accuracy"))
    t.log_params({"seed": 7})
    t.log_metric("accuracy", 0.5)
    t.log_metric("loss", 3.0)
    t.log_metric("accuracy", 0.8)
    t.close()
    assert store.rows("SELECT primary_metric, primary_value, seed FROM run") == [
        ("accuracy", 0.8, 7)
    ]


def test_primary_metric_defaults_to_the_project_file(store: Store, tracker_factory: Any) -> None:
    t = tracker_factory(store.env())
    t.log_metric("score", 0.25)
    t.close()
    assert store.rows("SELECT primary_metric, primary_value FROM run") == [("score", 0.25)]


def test_flushes_every_n_points(store: Store, tracker_factory: Any) -> None:
    t = tracker_factory(store.env(), flush_points=10, flush_seconds=0)
    for step in range(9):
        t.log_metric("loss", 1.0 / (step + 1), step=step)
    assert store.count_metrics() == 0  # still buffered
    t.log_metric("loss", 0.01, step=9)
    assert store.count_metrics() == 10  # the tenth point wrote the batch
    t.log_metric("loss", 0.001, step=10)
    t.flush()
    assert store.count_metrics() == 11


def test_flushes_after_some_seconds_without_more_logging(
    store: Store, tracker_factory: Any
) -> None:
    t = tracker_factory(store.env(), flush_seconds=0.05)
    t.log_metric("loss", 1.0)
    deadline = time.monotonic() + 5
    while store.count_metrics() == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert store.count_metrics() == 1


def test_many_points_arrive_in_order(store: Store, tracker_factory: Any) -> None:
    t = tracker_factory(store.env(), flush_points=1000, flush_seconds=0.01)
    for step in range(20_000):
        t.log_metric("loss", float(step), step=step)
    t.close()
    steps = [row[0] for row in store.rows("SELECT step FROM metric ORDER BY id")]
    assert steps == list(range(20_000))


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, float("nan")])
def test_non_finite_metric_refused_naming_the_key(
    store: Store, tracker_factory: Any, bad: float
) -> None:
    t = tracker_factory(store.env())
    with pytest.raises(ValueError, match=r"'val_loss'.*not a finite number"):
        t.log_metric("val_loss", bad)
    with pytest.raises(ValueError, match="'b'"):
        t.log_metrics({"a": 1.0, "b": bad}, step=0)
    t.close()
    assert store.count_metrics() == 0  # nothing of a refused call is recorded


def test_non_finite_numpy_value_refused(store: Store, tracker_factory: Any) -> None:
    import numpy as np

    t = tracker_factory(store.env())
    t.log_metric("ok", np.float32(0.5))
    with pytest.raises(ValueError, match="'bad'"):
        t.log_metric("bad", np.float64("nan"))
    t.close()
    assert store.rows("SELECT key, value FROM metric") == [("ok", 0.5)]


def test_bad_metric_values_and_keys(store: Store, tracker_factory: Any) -> None:
    t = tracker_factory(store.env())
    with pytest.raises(TypeError, match=r"'acc'.*not a string"):
        t.log_metric("acc", "0.9")
    with pytest.raises(ValueError, match="must not be empty"):
        t.log_metric("", 1.0)
    with pytest.raises(ValueError, match="control character"):
        t.log_metric("a\nb", 1.0)
    with pytest.raises(ValueError, match="step must be 0 or more"):
        t.log_metric("acc", 1.0, step=-1)
    with pytest.raises(TypeError, match="step must be an integer"):
        t.log_metric("acc", 1.0, step=1.5)


def test_a_step_beyond_the_store_is_refused_not_wrapped(store: Store, tracker_factory: Any) -> None:
    """metric.step holds 64 bits on both stores (BIGINT on PostgreSQL since migration
    0010; binary COPY once stored 2**31 + 5 there as -2147483643 without a word). A step
    past 2**63 - 1 is refused at the call, naming the key, and nothing of it is kept."""
    from dockyard.core.runs import metric_history
    from dockyard.core.tracking import MAX_STEP

    assert MAX_STEP == 2**63 - 1
    t = tracker_factory(store.env())
    t.log_metric("tokens", 0.5, step=2**31 + 5)
    t.log_metric("tokens", 1.0, step=2**40)
    t.log_metric("tokens", 1.5, step=MAX_STEP)
    with pytest.raises(ValueError, match=r"'tokens': step \d+ is more than this store holds"):
        t.log_metric("tokens", 2.0, step=MAX_STEP + 1)
    with pytest.raises(ValueError, match="'tokens'"):
        t.log_metrics({"tokens": 3.0}, step=2**63 + 5)
    t.close()
    expected = [(2**31 + 5, 0.5), (2**40, 1.0), (MAX_STEP, 1.5)]
    assert store.rows("SELECT step, value FROM metric ORDER BY step") == expected
    assert metric_history(store.workspace, store.run_id, "tokens") == expected


def test_unknown_run_is_refused(store: Store, project: Path) -> None:
    with pytest.raises(ValueError, match="DOCKYARD_RUN_ID=999 names no run"):
        Tracker.from_env(store.env(run_id=999), project_dir=project)


def test_points_of_a_run_deleted_meanwhile_are_refused_by_name(
    store: Store, tracker_factory: Any
) -> None:
    # On PostgreSQL nothing but migration 0012's triggers stands behind the batch's own
    # check of the run; the Tracker still says what happened in its own words.
    t = tracker_factory(store.env())
    t.log_metric("loss", 0.5)
    t.flush()
    stores.execute(
        store.workspace,
        *[(f"DELETE FROM {table} WHERE run_id = ?", (store.run_id,))
          for table in ("metric", "param", "run_tag")],
        ("DELETE FROM run WHERE id = ?", (store.run_id,)),
    )  # fmt: skip
    t.log_metric("loss", 0.4)
    with pytest.raises(RunEndedError, match=rf"^run {store.run_id} is deleted; the store accepts"):
        t.close()
    assert store.rows("SELECT count(*) FROM metric") == [(0,)]


def test_missing_store_file_is_refused(tmp_path: Path, project: Path) -> None:
    env = {"DOCKYARD_RUN_ID": "1", "DOCKYARD_DB": f"sqlite:///{tmp_path}/nowhere.db"}
    with pytest.raises(ValueError, match=r"nowhere\.db, which does not exist"):
        Tracker.from_env(env, project_dir=project)


def test_bad_run_id_is_refused(project: Path) -> None:
    with pytest.raises(ValueError, match="not a run id"):
        Tracker.from_env({"DOCKYARD_RUN_ID": "seven"}, project_dir=project)


def test_a_non_sqlite_store_falls_back_to_the_protocol(project: Path) -> None:
    out = io.StringIO()
    env = {"DOCKYARD_RUN_ID": "3", "DOCKYARD_DB": "postgresql://db.example/dockyard"}
    with Tracker.from_env(env, project_dir=project, stream=out) as t:
        assert t.mode == "protocol"
        t.log_metric("a", 1.0)
    assert parse_protocol_line(out.getvalue()) == {
        "type": "metric",
        "key": "a",
        "value": 1.0,
        "step": 0,
        "timestamp": None,
    }


def test_log_artifact_is_content_addressed(
    store: Store, tracker_factory: Any, tmp_path: Path
) -> None:
    file = tmp_path / "report.json"
    file.write_text('{"ok": true}')
    digest = hashlib.sha256(file.read_bytes()).hexdigest()
    t = tracker_factory(store.env())
    logged = t.log_artifact(file)
    t.log_artifact(file, name="copies/same.json")  # same content: one object
    assert logged.sha256 == digest
    assert logged.path == store.workspace.home / "objects" / digest
    assert logged.path.read_bytes() == file.read_bytes()
    # read-only object; the mode bits, not os.access, which says yes to root (as CI runs)
    assert stat.S_IMODE(logged.path.stat().st_mode) == 0o444
    rows = store.rows(
        "SELECT name, kind, sha256, size_bytes, object_path, file_format FROM artifact "
        "ORDER BY name"
    )
    assert rows == [
        ("copies/same.json", "file", digest, file.stat().st_size, f"objects/{digest}", ""),
        ("report.json", "file", digest, file.stat().st_size, f"objects/{digest}", ""),
    ]
    objects = store.workspace.home / "objects"
    # beside the object only the store's lock (a dot name gc never judges)
    assert sorted(p.name for p in objects.iterdir() if p.is_file()) == [".objects.lock", digest]
    assert list((objects / "tmp").iterdir()) == []


def test_log_artifact_refuses_missing_file_and_bad_name(
    store: Store, tracker_factory: Any, tmp_path: Path
) -> None:
    t = tracker_factory(store.env())
    with pytest.raises(FileNotFoundError, match="no such file"):
        t.log_artifact(tmp_path / "missing.txt")
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(ValueError, match=r"without '\.\.'"):
        t.log_artifact(tmp_path / "x.txt", name="../escape.txt")


def _small_model() -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = [[0.0, 1.0], [1.0, 0.0], [0.2, 0.9], [0.9, 0.1]]
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(x, [0, 1, 0, 1])


def test_log_model_saves_with_skops(store: Store, tracker_factory: Any) -> None:
    import skops.io

    t = tracker_factory(store.env())
    logged = t.log_model(_small_model(), name="model")
    t.close()
    assert logged.file_format == "skops"
    row = store.rows("SELECT name, kind, sha256, file_format, object_path FROM artifact")[0]
    assert row == ("model", "model", logged.sha256, "skops", f"objects/{logged.sha256}")
    file = store.workspace.home / row[4]
    assert hashlib.sha256(file.read_bytes()).hexdigest() == row[2]
    assert skops.io.get_untrusted_types(file=file) == []  # plain sklearn: loads without code
    loaded = skops.io.load(file)
    assert list(loaded.predict([[0.0, 1.0]])) == [0]


def test_log_model_falls_back_to_joblib(
    store: Store, tracker_factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import joblib
    import skops.io

    def refuse(*args: object, **kwargs: object) -> None:
        raise TypeError("skops cannot save this")

    monkeypatch.setattr(skops.io, "dump", refuse)
    t = tracker_factory(store.env())
    with pytest.warns(ModelFormatWarning, match="Dockyard will not load a joblib"):
        logged = t.log_model(_small_model(), name="clf")
    assert logged.file_format == "joblib"
    assert store.rows("SELECT name, kind, file_format, sha256 FROM artifact") == [
        ("clf", "model", "joblib", logged.sha256)
    ]
    assert hashlib.sha256(logged.path.read_bytes()).hexdigest() == logged.sha256
    assert list(joblib.load(logged.path).predict([[1.0, 0.0]])) == [1]


def test_a_model_skops_cannot_save_warns_when_saved_not_when_loaded(
    store: Store, tracker_factory: Any
) -> None:
    # a complex number is one thing skops cannot serialise but pickle can: no monkeypatch
    model = _small_model()
    model.note_ = complex(1, 2)
    t = tracker_factory(store.env())
    with pytest.warns(ModelFormatWarning, match=r"skops cannot save this model \(.*complex"):
        logged = t.log_model(model, name="odd")
    assert logged.file_format == "joblib"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the default format on a plain model: no warning
        assert t.log_model(_small_model(), name="plain").file_format == "skops"


def test_log_model_refuses_unknown_format(store: Store, tracker_factory: Any) -> None:
    t = tracker_factory(store.env())
    with pytest.raises(ValueError, match="'pickle' is not one of"):
        t.log_model(_small_model(), format="pickle")


def test_closed_tracker_refuses_logging(store: Store, tracker_factory: Any) -> None:
    t = tracker_factory(store.env())
    t.close()
    t.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        t.log_metric("a", 1.0)


def test_sigterm_handler_installed_and_restored(store: Store, tracker_factory: Any) -> None:
    before = signal.getsignal(signal.SIGTERM)
    t = tracker_factory(store.env())
    assert signal.getsignal(signal.SIGTERM) != before
    t.close()
    assert signal.getsignal(signal.SIGTERM) == before


# --------------------------------------------------------------------------- params, data


def test_params_are_defaults_overlaid_by_env(tracker_factory: Any) -> None:
    t = tracker_factory({"DOCKYARD_PARAMS": json.dumps({"C": 2, "n": 5.0, "extra": "x"})})
    assert t.params == {"model": "a", "C": 2.0, "n": 5, "extra": "x"}
    assert isinstance(t.params["C"], float)
    assert isinstance(t.params["n"], int)


def test_params_without_env_are_the_defaults(tracker_factory: Any) -> None:
    assert tracker_factory({}).params == {"model": "a", "C": 1.0, "n": 3}


@pytest.mark.parametrize(
    ("raw", "message"),
    [("{not json", "DOCKYARD_PARAMS is not valid JSON"), ("[1, 2]", "must be a JSON object")],
)
def test_bad_params_env_is_refused(project: Path, raw: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Tracker.from_env({"DOCKYARD_PARAMS": raw}, project_dir=project)


def test_data_path(tracker_factory: Any, project: Path, tmp_path: Path) -> None:
    version = tmp_path / "objects" / "abc"
    t = tracker_factory({"DOCKYARD_DATA": json.dumps({"things": str(version)})})
    assert t.data_path("things", default="data/train.csv") == version
    assert t.data_path("other", default="data/other.csv") == project / "data/other.csv"
    plain = tracker_factory({})
    assert plain.data_path("things") == project / "data/train.csv"  # from dockyard.toml
    with pytest.raises(KeyError, match="no dataset named 'nope'"):
        plain.data_path("nope")


# --------------------------------------------------------------------------- protocol mode


def test_protocol_mode_prints_parseable_lines(tracker_factory: Any, project: Path) -> None:
    out = io.StringIO()
    t = tracker_factory({}, stream=out)
    assert t.mode == "protocol"
    t.log_params({"C": 1.0})
    t.set_tag("k", "v")
    t.log_metric("accuracy", 0.93, step=3)
    model = t.log_model(_small_model())
    t.close()
    lines = out.getvalue().splitlines()
    assert lines[:3] == [
        '@dockyard {"param": "C", "value": 1.0}',
        '@dockyard {"tag": "k", "value": "v"}',
        '@dockyard {"metric": "accuracy", "value": 0.93, "step": 3}',
    ]
    event = parse_protocol_line(lines[3])
    assert event is not None
    assert event["type"] == "artifact"
    assert event["kind"] == "model"
    assert event["format"] == "skops"
    assert event["name"] == "model"
    assert Path(event["path"]).name == "model.skops"
    assert model.path == project / "outputs" / "model.skops"
    assert event["sha256"] == hashlib.sha256(model.path.read_bytes()).hexdigest()


def test_protocol_mode_refuses_nan_too(tracker_factory: Any) -> None:
    out = io.StringIO()
    t = tracker_factory({}, stream=out)
    with pytest.raises(ValueError, match="'loss'"):
        t.log_metric("loss", math.nan)
    assert out.getvalue() == ""


# --------------------------------------------------------------------------- the parser


@pytest.mark.parametrize(
    ("line", "event"),
    [
        (
            '@dockyard {"metric": "accuracy", "value": 0.93, "step": 3}\n',
            {"type": "metric", "key": "accuracy", "value": 0.93, "step": 3, "timestamp": None},
        ),
        (
            '@dockyard {"metric": "loss", "value": 2, "timestamp": 1700000000.5}',
            {"type": "metric", "key": "loss", "value": 2.0, "step": None, "timestamp": 1.7e9 + 0.5},
        ),
        ('@dockyard {"param": "C", "value": "1.0"}', {"type": "param", "key": "C", "value": "1.0"}),
        ('@dockyard {"param": "n", "value": 5}', {"type": "param", "key": "n", "value": 5}),
        (
            '@dockyard {"param": "h", "value": [8, 4]}',
            {"type": "param", "key": "h", "value": [8, 4]},
        ),
        ('@dockyard {"tag": "k", "value": true}', {"type": "tag", "key": "k", "value": "true"}),
        (
            '@dockyard {"artifact": "outputs/model.skops", "kind": "model"}\r\n',
            {
                "type": "artifact",
                "path": "outputs/model.skops",
                "name": "model.skops",
                "kind": "model",
                "format": "",
                "sha256": None,
                "size": None,
            },
        ),
        (
            '@dockyard   {"artifact": "plot.png", "name": "plots/roc.png", "size": 10}',
            {
                "type": "artifact",
                "path": "plot.png",
                "name": "plots/roc.png",
                "kind": "file",
                "format": "",
                "sha256": None,
                "size": 10,
            },
        ),
    ],
)
def test_parse_good_lines(line: str, event: dict[str, Any]) -> None:
    assert parse_protocol_line(line) == event


@pytest.mark.parametrize(
    "line", ["", "epoch 3 loss 0.2", "  @dockyard {}", "@dockyardbot says hi", "dockyard {}"]
)
def test_ordinary_lines_are_not_events(line: str) -> None:
    assert parse_protocol_line(line) is None


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("@dockyard", "without an event"),
        ("@dockyard   ", "without an event"),
        ("@dockyard accuracy=0.9", "not valid JSON"),
        ('@dockyard {"metric": "a", "value": 1', "not valid JSON"),
        ("@dockyard [1, 2]", "must hold a JSON object"),
        ('@dockyard {"value": 1}', 'exactly one of "metric"'),
        ('@dockyard {"metric": "a", "param": "b", "value": 1}', 'found "metric" and "param"'),
        ('@dockyard {"metric": "a"}', '"value" is missing'),
        ('@dockyard {"metric": "a", "value": "0.9"}', "must be a number"),
        ('@dockyard {"metric": "a", "value": true}', "must be a number"),
        ('@dockyard {"metric": "a", "value": NaN}', "NaN is not allowed"),
        ('@dockyard {"metric": "a", "value": Infinity}', "Infinity is not allowed"),
        ('@dockyard {"metric": "a", "value": 1e999}', "not a finite number"),
        ('@dockyard {"metric": "a", "value": 1, "step": -1}', "integer >= 0"),
        ('@dockyard {"metric": "a", "value": 1, "step": 1.5}', "integer >= 0"),
        ('@dockyard {"metric": "a", "value": 1, "stpe": 2}', 'unknown field "stpe"'),
        ('@dockyard {"metric": "", "value": 1}', "must not be empty"),
        ('@dockyard {"metric": 3, "value": 1}', "must be a string name"),
        ('@dockyard {"param": "C"}', '"value" is missing'),
        ('@dockyard {"tag": "k", "value": {"a": 1}}', "string, number or boolean"),
        ('@dockyard {"artifact": ""}', "path of a file"),
        ('@dockyard {"artifact": "m", "sha256": "xyz"}', "64 lowercase hex"),
        ('@dockyard {"artifact": "m", "size": -1}', "byte count"),
        ('@dockyard {"artifact": "m", "kind": 5}', "non-empty string"),
    ],
)
def test_malformed_lines_raise_a_clear_error(line: str, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        parse_protocol_line(line)
    assert issubclass(ProtocolError, ValueError)


def test_format_and_parse_round_trip() -> None:
    line = format_protocol_line({"metric": "loss", "value": 0.1, "step": 2})
    assert parse_protocol_line(line) == {
        "type": "metric",
        "key": "loss",
        "value": 0.1,
        "step": 2,
        "timestamp": None,
    }


def test_param_encoding_matches_the_runner() -> None:
    import numpy as np

    values = ["logreg", 1.0, 3, True, None, np.int64(7), [1, 2], math.nan]
    assert [encode_param(v) for v in values] == [
        '"logreg"',
        "1.0",
        "3",
        "true",
        "null",
        "7",
        "[1, 2]",
        '"nan"',
    ]
    assert json.loads(encode_param("logreg")) == "logreg"


def test_format_value() -> None:
    import numpy as np

    assert [format_value(v) for v in ("x", True, 3, 0.1, 1.0, None, np.float64(2.5))] == [
        "x",
        "true",
        "3",
        "0.1",
        "1.0",
        "null",
        "2.5",
    ]


# --------------------------------------------------------------------------- real processes


def _run_script(
    tmp_path: Path, body: str, env: dict[str, str], **popen: Any
) -> subprocess.Popen[str]:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(body))
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKYARD_")}
    full_env.update(env, PYTHONPATH=str(REPO / ".pkg"))
    return subprocess.Popen(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


def test_subprocess_store_mode(store: Store, tmp_path: Path) -> None:
    proc = _run_script(
        tmp_path,
        """
        from dockyard.core.tracking import Tracker
        with Tracker.from_env() as t:
            t.log_params({"C": 0.1, "seed": 3})
            for step in range(500):
                t.log_metrics({"loss": 1.0 / (step + 1), "acc": step / 500}, step=step)
            print("ordinary output is left alone")
        """,
        store.env(DOCKYARD_PRIMARY_METRIC="acc"),
    )
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert out == "ordinary output is left alone\n"  # no protocol lines under the agent
    assert store.count_metrics() == 1000
    assert store.rows("SELECT primary_metric, primary_value, seed FROM run") == [
        ("acc", 499 / 500, 3)
    ]


def test_subprocess_flushes_at_exit_without_close(store: Store, tmp_path: Path) -> None:
    proc = _run_script(
        tmp_path,
        """
        from dockyard.core.tracking import Tracker
        t = Tracker.from_env(flush_points=10**9, flush_seconds=3600)
        for step in range(1234):
            t.log_metric("loss", 1.0, step=step)
        t.set_tag("left", "open")
        """,
        store.env(),
    )
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert store.count_metrics() == 1234
    assert store.rows("SELECT key, value FROM run_tag") == [("left", "open")]


def test_subprocess_flushes_on_sigterm_then_dies_of_it(store: Store, tmp_path: Path) -> None:
    proc = _run_script(
        tmp_path,
        """
        import sys, time
        from dockyard.core.tracking import Tracker
        t = Tracker.from_env(flush_points=10**9, flush_seconds=3600)
        for step in range(321):
            t.log_metric("loss", 1.0, step=step)
        print("ready", flush=True)
        time.sleep(60)
        """,
        store.env(),
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == "ready\n"
    assert store.count_metrics() == 0  # still buffered when the signal comes
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGTERM, err  # the default behaviour is kept
    assert store.count_metrics() == 321


def test_subprocess_sigterm_keeps_the_scripts_own_handler(store: Store, tmp_path: Path) -> None:
    proc = _run_script(
        tmp_path,
        """
        import signal, sys, time
        from dockyard.core.tracking import Tracker

        def graceful(signum, frame):
            print("graceful stop", flush=True)
            sys.exit(3)

        signal.signal(signal.SIGTERM, graceful)
        t = Tracker.from_env(flush_points=10**9, flush_seconds=3600)
        t.log_metric("loss", 1.0)
        print("ready", flush=True)
        time.sleep(60)
        """,
        store.env(),
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == "ready\n"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 3, err
    assert out == "graceful stop\n"
    assert store.count_metrics() == 1


def test_processes_logging_at_once_lose_nothing(store: Store, tmp_path: Path) -> None:
    runs = [store.new_run() for _ in range(4)]
    procs = []
    for index, run_id in enumerate(runs):
        folder = tmp_path / f"p{index}"
        folder.mkdir()
        procs.append(
            _run_script(
                folder,
                """
                from dockyard.core.tracking import Tracker
                with Tracker.from_env(flush_points=2000, flush_seconds=0.05) as t:
                    for step in range(25_000):
                        t.log_metric("loss", 1.0, step=step)
                """,
                store.env(run_id=run_id),
            )
        )
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert "locked" not in err
    assert [store.count_metrics(run_id) for run_id in runs] == [25_000] * 4


def test_subprocess_standalone_prints_protocol(tmp_path: Path) -> None:
    proc = _run_script(
        tmp_path,
        """
        from dockyard.core.tracking import Tracker
        with Tracker.from_env() as t:
            print("starting")
            t.log_param("C", 1.0)
            t.log_metric("accuracy", 0.93, step=3)
            (t.project_dir / "cm.json").write_text("[[1, 0], [0, 1]]")
            t.log_artifact(t.project_dir / "cm.json")
        """,
        {},
    )
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    lines = out.splitlines()
    assert lines[0] == "starting"
    events = [parse_protocol_line(line) for line in lines[1:]]
    assert [e["type"] for e in events if e] == ["param", "metric", "artifact"]
    assert lines[2] == '@dockyard {"metric": "accuracy", "value": 0.93, "step": 3}'
    assert (tmp_path / "outputs" / "cm.json").read_text() == "[[1, 0], [0, 1]]"


def test_importing_the_client_stays_light() -> None:
    code = (
        "import sys, core.tracking; "
        "heavy = {'sqlalchemy', 'sqlmodel', 'numpy', 'pandas', 'sklearn', 'skops', 'joblib', "
        "'textual', 'alembic'}; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    ).stdout
    assert out.strip() == "[]"
