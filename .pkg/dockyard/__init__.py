"""Dockyard: datasets, training runs, models, deployments and monitoring in one terminal.

The one import name Dockyard installs. Training scripts write ``from dockyard import Tracker``;
everything else lives in ``dockyard.core`` (the domain), ``dockyard.store`` (the database) and
``dockyard.tui`` (the TUI and the command line).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dockyard.core.tracking import Tracker

__all__ = ["Tracker"]


def __getattr__(name: str) -> Any:
    # Lazy, so that `dockyard --version` and the TUI's start do not pay for the tracking client.
    if name == "Tracker":
        from dockyard.core.tracking import Tracker

        return Tracker
    raise AttributeError(f"module 'dockyard' has no attribute {name!r}")
