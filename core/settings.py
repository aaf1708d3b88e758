"""The workspace's own settings file, ``.dockyard/settings.toml``: one reader, checked strictly.

::

    [store]
    db = "postgresql+psycopg://alice@db.example/dockyard"   # dockyard init --db

    [objects]
    path = "/mnt/shared/dockyard-objects"                    # dockyard init --objects

    [agent]
    executor = "dask"                                        # or "local"
    scheduler = "tcp://sched.example:8786"
    concurrency = 4

Every table and key is known here, with its type: a typo or a wrong type is one line
naming the file and the key's path (``settings.toml: agent.schedular: unknown key ...``),
as ``dockyard.toml`` is checked, rather than a setting silently ignored. What a value
*means* (whether a URL names an installed driver, how the agent's flags combine with its
table) is checked by the part of Dockyard that uses it.

Standard library only (``tomllib`` loads only when the file exists): every command reads
this on its start, and the read commands must stay fast.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dockyard.core.errors import InputError

FILENAME = "settings.toml"

#: The executors ``[agent] executor`` may name.
EXECUTORS = ("local", "dask")

#: table -> key -> the kind of value it takes ("text", "executor" or "slots").
SCHEMA: dict[str, dict[str, str]] = {
    "store": {"db": "text"},
    "objects": {"path": "text"},
    "agent": {"executor": "executor", "scheduler": "text", "concurrency": "slots"},
}


@dataclass(frozen=True)
class Settings:
    """What ``settings.toml`` says; None wherever it says nothing."""

    #: the file these came from (whether or not it exists), for messages
    path: Path
    store_db: str | None = None
    objects_path: str | None = None
    agent_executor: str | None = None
    agent_scheduler: str | None = None
    agent_concurrency: int | None = None

    def where(self, key: str) -> str:
        """``<file>: <table.key>``, how a message names one setting."""
        return f"{self.path}: {key}"


def read_settings(home: Path) -> Settings:
    """The settings of the workspace folder ``home`` (the ``.dockyard`` folder).

    No file: every setting unset, for the price of one failed ``open``. A file that is not
    valid TOML, an unknown table or key, or a value of the wrong type raises
    :class:`InputError` naming the file and the key.
    """
    path = home / FILENAME
    try:
        raw = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return Settings(path=path)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    import tomllib

    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text; fix or remove it") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: not valid TOML ({exc}); fix or remove it") from None
    values = _check(path, data)
    return Settings(
        path=path,
        store_db=values.get("store.db"),
        objects_path=values.get("objects.path"),
        agent_executor=values.get("agent.executor"),
        agent_scheduler=values.get("agent.scheduler"),
        agent_concurrency=values.get("agent.concurrency"),
    )


def _check(path: Path, data: Mapping[str, Any]) -> dict[str, Any]:
    """Every setting of ``data`` as ``{"table.key": value}``, after checking each."""
    values: dict[str, Any] = {}
    for table in sorted(data):
        keys = SCHEMA.get(table)
        if keys is None:
            raise InputError(
                f"{path}: {table}: unknown table (expected one of {', '.join(sorted(SCHEMA))})"
            )
        content = data[table]
        if not isinstance(content, dict):
            raise InputError(f"{path}: {table}: must be a table ([{table}])")
        for key in sorted(content):
            where = f"{path}: {table}.{key}"
            kind = keys.get(key)
            if kind is None:
                raise InputError(
                    f"{where}: unknown key (expected one of {', '.join(sorted(keys))})"
                )
            values[f"{table}.{key}"] = _value(where, kind, content[key])
    return values


def _value(where: str, kind: str, value: Any) -> Any:
    if kind == "slots":
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 256:
            raise InputError(f"{where}: must be a whole number from 1 to 256")
        return value
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{where}: must be a non-empty string")
    text = value.strip()
    if kind == "executor" and text not in EXECUTORS:
        raise InputError(f"{where}: {text!r} is not one of {', '.join(EXECUTORS)}")
    return text


def toml_string(text: str) -> str:
    """``text`` as a TOML basic string (a JSON string escapes the same way)."""
    import json

    return json.dumps(text)
