"""Errors the faces (TUI, command line) turn into one line for the user.

Every message names the thing that is wrong and, where there is one, the fix.
``exit_code`` is what the command line exits with: 2 for bad usage or bad input,
1 for an operation that failed.
"""

from __future__ import annotations


class DockyardError(Exception):
    """An operation failed; the message is one line for the user."""

    exit_code = 1


class InputError(DockyardError):
    """The user's input is wrong (a file, a value, a name); nothing was changed."""

    exit_code = 2


class NotFoundError(InputError):
    """An id, name or path the user gave does not exist."""


class WorkspaceNotFoundError(InputError):
    """No ``.dockyard`` workspace here or above, and no override given."""


class ConflictError(DockyardError):
    """Someone else changed the thing first; reload and try again."""


class NotPermittedError(InputError):
    """The acting user may not do this (approve their own request, not an approver, a
    change the database refused for their role…): a refusal, exit status 1."""

    exit_code = 1
