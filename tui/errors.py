"""An error as the one line a notification shows."""

from __future__ import annotations

from dockyard.core.errors import DockyardError


def describe_error(error: BaseException) -> str:
    """One line for the user: our own errors already are; others get their type."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    # store.db.StoreError is matched by name: importing store.db would load SQLAlchemy.
    ours = isinstance(error, DockyardError) or any(
        cls.__name__ == "StoreError" for cls in type(error).__mro__
    )
    if ours:
        return text or type(error).__name__
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
