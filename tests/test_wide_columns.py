"""64-bit values on both stores: sizes over 2 GiB, row counts, seeds, steps in tokens.

PostgreSQL's INTEGER is 32 bits; migration 0010 makes these columns BIGINT there (SQLite's
INTEGER is 64 bits already) and ``store.models`` declares them ``BigInteger``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dockyard.core.workspace import Workspace
from tests import stores

pytestmark = pytest.mark.both_stores

THREE_GIB = 3 * 2**30


def _run(workspace: Workspace, **fields: Any) -> int:
    from sqlmodel import Session

    from dockyard.core.workspace import engine_for
    from dockyard.store.models import Project, Run

    with Session(engine_for(workspace)) as session:
        project = Project(name="wide", path="/p", entry="true", spec_json="{}", spec_hash="x")
        session.add(project)
        session.flush()
        assert project.id is not None
        run = Run(project_id=project.id, status="finished", **fields)
        session.add(run)
        session.commit()
        assert run.id is not None
        return run.id


def test_a_dataset_version_of_3_gib_is_stored_and_read(
    workspace: Workspace, tmp_path: Path
) -> None:
    """Registration's own insert (the file is not made: 3 GiB would cost the suite)."""
    from dockyard.core import datasets

    source = datasets._Source(path=tmp_path / "big.csv", file_format="csv", folder=False, files=[])
    datasets._insert_version(
        workspace,
        name="big",
        digest="ab" * 32,
        hash_algo="sha256",
        source=source,
        file_format="csv",
        size=THREE_GIB,
        profile={"rows": 3 * 10**9, "columns": []},
        columns_json="[]",
        message="",
        author="t",
    )
    info = datasets.get_version(workspace, "big@1", with_profile=False)
    assert (info.size_bytes, info.n_rows) == (THREE_GIB, 3 * 10**9)
    assert datasets.list_versions(workspace, "big")[0].size_bytes == THREE_GIB


def test_an_artifact_of_3_gib_and_a_32_bit_unsigned_seed_are_stored_and_read(
    workspace: Workspace,
) -> None:
    from sqlmodel import Session

    from dockyard.core.runs import get_run, list_artifacts
    from dockyard.core.workspace import engine_for
    from dockyard.store.models import Artifact

    run_id = _run(workspace, seed=2**32 - 1)  # NumPy's largest legacy seed
    with Session(engine_for(workspace)) as session:
        session.add(
            Artifact(
                run_id=run_id, name="weights.bin", sha256="cd" * 32, size_bytes=THREE_GIB,
                object_path="objects/" + "cd" * 32,
            )
        )  # fmt: skip
        session.commit()
    assert [a.size_bytes for a in list_artifacts(workspace, run_id)] == [THREE_GIB]
    assert get_run(workspace, run_id).seed == 2**32 - 1


def test_a_curve_of_steps_in_tokens_is_downsampled(workspace: Workspace) -> None:
    """The chart's downsampling computes its step bounds in SQL: 64-bit there too."""
    from dockyard.core.runs import metric_curve

    run_id = _run(workspace)
    points = [(run_id, "loss", i * 2**36, 1.0 / (i + 1), 0.0) for i in range(50)]
    stores.execute(
        workspace,
        *[
            ("INSERT INTO metric (run_id, key, step, value, timestamp) VALUES (?, ?, ?, ?, ?)", p)
            for p in points
        ],
    )
    curve = metric_curve(workspace, run_id, "loss", 10)
    assert curve[0] == (0, 1.0) and curve[-1] == (49 * 2**36, 1.0 / 50)
    assert 5 <= len(curve) <= 10


def test_migration_0010_downgrades_and_upgrades_on_both_engines(
    tmp_path: Path, pg_url: str
) -> None:
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import inspect, text

    from dockyard.store.db import MIGRATIONS_DIR, open_engine

    def types(engine: Any) -> dict[str, str]:
        found = {}
        for table, column in (("metric", "step"), ("metric", "id"), ("artifact", "size_bytes"),
                              ("dataset_version", "size_bytes"), ("dataset_version", "n_rows"),
                              ("run", "seed"), ("monitor_result", "rows")):  # fmt: skip
            (col,) = [c for c in inspect(engine).get_columns(table) if c["name"] == column]
            found[f"{table}.{column}"] = str(col["type"])
        if engine.dialect.name == "postgresql":  # metric.id's numbers come from here
            with engine.connect() as conn:
                found["metric_id_seq"] = conn.execute(
                    text("SELECT upper(data_type::text) FROM pg_sequences"
                         " WHERE sequencename = 'metric_id_seq'")
                ).scalar_one()  # fmt: skip
        return found

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    for url, wide in ((f"sqlite:///{tmp_path / 'd.db'}", "INTEGER"), (pg_url, "BIGINT")):
        engine = open_engine(url)
        try:
            assert set(types(engine).values()) == {wide}
            for target, expected in (("0009", "INTEGER"), ("head", wide)):
                with engine.begin() as conn:
                    config.attributes["connection"] = conn
                    (command.downgrade if target == "0009" else command.upgrade)(config, target)
                assert set(types(engine).values()) == {expected}
        finally:
            engine.dispose()
