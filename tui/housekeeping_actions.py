"""``d`` on a dataset, run or model row: archive (or restore) or delete it, asked first.

The question names what would block each answer before it is asked (read in a worker from
``core.housekeeping.blockers``, the same check the core applies), so a delete that would be
refused is offered disabled with its reason rather than failing after the user chose it.
Archive, restore and delete run in a thread worker as the OS account of the process, like
the command line; the outcome is a notification and the panes are read again.

The dataset and model screens offer the same on their version lists
(:func:`version_bindings` and :class:`VersionHousekeeping`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from textual.binding import Binding
from textual.screen import Screen

from dockyard.tui.errors import describe_error
from dockyard.tui.widgets.choice import Choice, ChoiceModal

if TYPE_CHECKING:
    from dockyard.core.workspace import Workspace

Done = Callable[[], None]


@dataclass(frozen=True)
class Target:
    """What ``d`` acts on: the command line's noun and reference, and how to name it."""

    noun: str
    ref: str
    label: str
    archived: bool

    @classmethod
    def from_row(cls, row: object) -> Target | None:
        """The target of a Runs, Datasets or Models row (None for any other row)."""
        from dockyard.core.overview import DatasetRow, ModelRow, RunRow

        if isinstance(row, RunRow):
            return cls("run", str(row.id), f"run {row.id} ({row.project})", row.archived)
        if isinstance(row, DatasetRow):
            return cls("data", row.name, f"dataset {row.name}", row.archived)
        if isinstance(row, ModelRow):
            return cls("model", row.ref, f"model {row.ref}", row.archived)
        return None


def ask_to_tidy(screen: Screen[Any], workspace: Workspace, target: Target, on_done: Done) -> None:
    """Read what blocks archive and delete (worker), then ask; act on the answer."""
    screen.run_worker(
        lambda: _read_blockers(screen, workspace, target, on_done),
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="tidy-ask",
        name=f"check {target.label}",
    )


def _read_blockers(
    screen: Screen[Any], workspace: Workspace, target: Target, on_done: Done
) -> None:
    from dockyard.core.housekeeping import blockers

    try:
        delete_blocked = blockers(workspace, target.noun, target.ref, "delete")
        archive_blocked = (
            [] if target.archived else blockers(workspace, target.noun, target.ref, "archive")
        )
    except Exception as error:
        screen.notify(describe_error(error), title="Cannot check", severity="error", markup=False)
        return
    screen.app.call_from_thread(
        _ask, screen, workspace, target, delete_blocked, archive_blocked, on_done
    )


def question(target: Target, delete_blocked: list[str], archive_blocked: list[str]) -> str:
    """The modal's text: what each answer does, and what blocks it."""
    lines = [
        (
            f"Restore {target.label}: it shows in lists again."
            if target.archived
            else f"Archive {target.label}: it leaves lists and panes (H shows archived "
            "rows) and can be restored."
        ),
        f"Delete {target.label} for good: its stored files are freed by `dockyard gc`.",
    ]
    if archive_blocked:
        lines.append("Archive is not possible: " + "; ".join(archive_blocked) + ".")
    if delete_blocked:
        lines.append("Delete is not possible: " + "; ".join(delete_blocked) + ".")
    return "\n".join(lines)


def _ask(
    screen: Screen[Any],
    workspace: Workspace,
    target: Target,
    delete_blocked: list[str],
    archive_blocked: list[str],
    on_done: Done,
) -> None:
    first = (
        Choice("restore", "Restore", "r")
        if target.archived
        else Choice("archive", "Archive", "a", enabled=not archive_blocked)
    )
    choices = [first, Choice("delete", "Delete", "d", enabled=not delete_blocked)]

    def answered(action: str | None) -> None:
        if action is not None:
            screen.run_worker(
                lambda: _act(screen, workspace, target, action, on_done),
                thread=True,
                exit_on_error=False,
                group="tidy-act",
                name=f"{action} {target.label}",
            )

    title = f"{target.label[:1].upper()}{target.label[1:]}"
    screen.app.push_screen(
        ChoiceModal(title, question(target, delete_blocked, archive_blocked), choices), answered
    )


def _act(
    screen: Screen[Any], workspace: Workspace, target: Target, action: str, on_done: Done
) -> None:
    from dockyard.core import housekeeping

    call = {
        "archive": housekeeping.archive,
        "restore": housekeeping.restore,
        "delete": housekeeping.delete,
    }[action]
    try:
        outcome = call(workspace, target.noun, target.ref)
    except Exception as error:
        screen.notify(
            describe_error(error),
            title=f"Not {action}d",
            severity="error",
            timeout=10,
            markup=False,
        )
        return
    screen.notify(outcome.message, title=f"{action.capitalize()}d", markup=False)
    screen.app.call_from_thread(on_done)


# --- the version lists of the dataset and model screens ----------------------------------------


def version_bindings(screen: str) -> list[Binding]:
    """``d`` and ``H`` for a screen's version list; ids ``<screen>-tidy-version`` and
    ``<screen>-toggle-archived``. Hidden from the footer: 80 columns are full there, as on
    the home screen; help and the palette list them."""
    return [
        Binding(
            "d",
            "tidy_row",
            "Archive/delete",
            show=False,
            tooltip="Archive, restore or delete the selected version (asks first, naming "
            "what blocks a delete)",
            id=f"{screen}-tidy-version",
        ),
        Binding(
            "H",
            "toggle_archived",
            "Archived",
            show=False,
            tooltip="Show or hide archived versions (shown dimmed, marked ⊘)",
            id=f"{screen}-toggle-archived",
        ),
    ]


class VersionHousekeeping:
    """The actions of :func:`version_bindings`, for a screen that lists versions.

    The screen says what ``d`` acts on (:meth:`tidy_target`) and reads its versions again
    in ``action_reload``, with ``archived`` (``hide`` or ``include``) passed to the core's
    ``list_versions``. Named as the home screen's actions, so the palette's "Archive or
    delete" and "Show archived" act here when this screen is on top.
    """

    workspace: Workspace
    #: archived versions: "hide" or "include" (H toggles)
    archived = "hide"

    def tidy_target(self) -> Target | None:
        raise NotImplementedError

    def action_reload(self) -> None:
        raise NotImplementedError

    def action_tidy_row(self) -> None:
        screen = cast("Screen[Any]", self)
        target = self.tidy_target()
        if target is None:
            screen.notify("No version to archive or delete", severity="warning")
            return
        ask_to_tidy(screen, self.workspace, target, self.action_reload)

    def action_toggle_archived(self) -> None:
        self.archived = "hide" if self.archived != "hide" else "include"
        shown = self.archived != "hide"
        cast("Screen[Any]", self).notify(
            f"Archived versions {'shown (dimmed, marked ⊘)' if shown else 'hidden'}",
            title=str(cast("Screen[Any]", self).title),
            markup=False,
        )
        self.action_reload()
