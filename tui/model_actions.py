"""What the model screen does to a model: move or remove an alias, edit a version; and
what the home screen's ``M`` does: register a run as a model version.

Each action asks first (a prompt, and a confirmation where the command line would ask
too), then writes in a thread worker; a write that went through posts
:class:`ModelChanged` to the screen, which says so and reads the model again. ``core`` is
imported inside the workers, never at startup.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from textual.message import Message
from textual.screen import Screen

from dockyard.tui.errors import describe_error
from dockyard.tui.widgets.confirm import ConfirmModal
from dockyard.tui.widgets.prompt import PromptField, PromptModal

if TYPE_CHECKING:
    from dockyard.core.registry import VersionInfo
    from dockyard.core.workspace import Workspace


class ModelChanged(Message):
    """An alias move or an edit went through: say so and read the model again."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


def _in_worker(screen: Screen[Any], work: Any) -> None:
    screen.run_worker(work, thread=True, exit_on_error=False, group="model-write")


def parse_tags(text: str) -> dict[str, str] | str:
    """``"reviewed=yes owner=bob"`` -> a dict; a one-line problem for bad input."""
    tags: dict[str, str] = {}
    for part in text.split():
        key, sep, value = part.partition("=")
        if not sep or not key:
            return f"Tag {part!r} is not KEY=VALUE (KEY= removes a tag)"
        tags[key] = value
    return tags


# --- a sets an alias ----------------------------------------------------------------------------


def ask_to_set_alias(screen: Screen[Any], workspace: Workspace, ref: str) -> None:
    """Ask for the alias to point at ``ref`` (``NAME@VERSION``), then move it."""
    modal = PromptModal(
        f"Alias for {ref}",
        [
            PromptField(
                "alias",
                "Alias (moves it here if another version has it)",
                placeholder="champion",
            )
        ],
        hint="enter sets it · esc cancels · e.g. champion, challenger",
    )

    def done(values: dict[str, str] | None) -> None:
        if values is None:
            return
        if not values["alias"]:
            screen.notify("No alias given; nothing changed", severity="warning")
            return
        _in_worker(screen, lambda: _set_alias(screen, workspace, ref, values["alias"]))

    screen.app.push_screen(modal, done)


def _set_alias(
    screen: Screen[Any], workspace: Workspace, ref: str, alias: str, force: bool = False
) -> None:
    from dockyard.core.registry import GatesFailedError, gate_summary, set_alias

    try:
        info = set_alias(workspace, ref, alias, force=force)
    except GatesFailedError as error:
        screen.app.call_from_thread(
            _confirm_failing_alias, screen, workspace, ref, alias, gate_summary(error.failed)
        )
        return
    except Exception as error:
        screen.notify(describe_error(error), title="Alias not set", severity="error")
        return
    forced = " (forced past failing gates)" if force else ""
    screen.post_message(ModelChanged(f"{info.model}@{alias} -> v{info.version}{forced}"))


def _confirm_failing_alias(
    screen: Screen[Any], workspace: Workspace, ref: str, alias: str, failed: str
) -> None:
    """The version fails its gates: the same question the command line asks."""
    question = ConfirmModal(
        f"Make {ref} {alias} anyway?",
        f"{ref} fails its gates: {failed}. The move is recorded in the audit log as "
        "forced past failing gates.",
        confirm_label=f"Make {alias}",
    )

    def answer(yes: bool | None) -> None:
        if yes:
            _in_worker(screen, lambda: _set_alias(screen, workspace, ref, alias, force=True))
        else:
            screen.notify(f"{alias} not moved; nothing changed", severity="warning")

    screen.app.push_screen(question, answer)


# --- A removes an alias -------------------------------------------------------------------------


def ask_to_remove_alias(
    screen: Screen[Any], workspace: Workspace, model: str, current: VersionInfo
) -> None:
    """Ask which alias of ``model`` to remove (``current``'s first offered), confirm, remove."""
    modal = PromptModal(
        f"Remove an alias of {model}",
        [PromptField("alias", "Alias to remove", value=(current.aliases or [""])[0])],
        hint="enter removes it (its history stays) · esc cancels",
    )

    def confirm(values: dict[str, str] | None) -> None:
        if not values or not values["alias"]:
            return
        alias = values["alias"]
        question = ConfirmModal(
            f"Remove {model}@{alias}?",
            f"The alias {alias} will point at no version of {model} "
            "(its history stays). Anything that loads the model by this alias stops "
            "finding it until the alias is set again.",
            confirm_label="Remove alias",
        )

        def remove(yes: bool | None) -> None:
            if yes:
                _in_worker(screen, lambda: _remove_alias(screen, workspace, model, alias))

        screen.app.push_screen(question, remove)

    screen.app.push_screen(modal, confirm)


def _remove_alias(screen: Screen[Any], workspace: Workspace, model: str, alias: str) -> None:
    from dockyard.core.registry import remove_alias

    try:
        remove_alias(workspace, model, alias)
    except Exception as error:
        screen.notify(describe_error(error), title="Alias not removed", severity="error")
        return
    screen.post_message(ModelChanged(f"Removed alias {alias} from {model}"))


# --- e edits a version's description and tags ---------------------------------------------------


def ask_to_edit_version(screen: Screen[Any], workspace: Workspace, current: VersionInfo) -> None:
    """The description and tags of ``current`` in a form; saved in a worker."""
    tags = " ".join(f"{key}={value}" for key, value in sorted(current.tags.items()))
    modal = PromptModal(
        f"Edit {current.ref} (the model itself never changes)",
        [
            PromptField("description", "Description", value=current.description),
            PromptField(
                "tags",
                "Tags: KEY=VALUE separated by spaces; KEY= removes one",
                value=tags,
                placeholder="reviewed=yes",
            ),
        ],
    )
    ref, old_tags = current.ref, current.tags

    def done(values: dict[str, str] | None) -> None:
        if values is None:
            return
        parsed = parse_tags(values["tags"])
        if isinstance(parsed, str):
            screen.notify(parsed, title="Not saved", severity="error")
            return
        # Tags left out of the field are removed, as the field showed all of them.
        changes = {key: "" for key in old_tags if key not in parsed} | parsed
        description = values["description"]
        _in_worker(screen, lambda: _edit_version(screen, workspace, ref, description, changes))

    screen.app.push_screen(modal, done)


def _edit_version(
    screen: Screen[Any], workspace: Workspace, ref: str, description: str, tags: dict[str, str]
) -> None:
    from dockyard.core.registry import update_version

    try:
        info = update_version(workspace, ref, description, tags or None)
    except Exception as error:
        screen.notify(describe_error(error), title="Not saved", severity="error")
        return
    screen.post_message(ModelChanged(f"Updated {info.ref}"))


# --- M registers a run as a model version (the home screen's Runs pane) -------------------------


def ask_to_register_run(
    screen: Screen[Any],
    workspace: Workspace,
    run_id: int,
    project: str,
    *,
    on_done: Callable[[], None] | None = None,
) -> None:
    """Ask for the model's name (the run's project by default), then register the run."""
    modal = PromptModal(
        f"Register run {run_id} as a model version",
        [
            PromptField("name", "Model name (new or existing)", value=project),
            PromptField("description", "Description (optional)"),
        ],
        hint="enter registers · esc cancels",
    )

    def done(values: dict[str, str] | None) -> None:
        if values is None:
            return
        name, description = values["name"], values["description"]
        screen.run_worker(
            lambda: _register_run(screen, workspace, run_id, name, description, on_done),
            thread=True,
            exit_on_error=False,
            group="register-run",
        )

    screen.app.push_screen(modal, done)


def _register_run(
    screen: Screen[Any],
    workspace: Workspace,
    run_id: int,
    name: str,
    description: str,
    on_done: Callable[[], None] | None,
) -> None:
    from dockyard.core.registry import register_version

    try:
        info = register_version(workspace, run_id, name, description)
    except Exception as error:
        screen.notify(
            describe_error(error),
            title=f"Run {run_id} not registered",
            severity="error",
            timeout=8,
        )
        return
    screen.notify(f"Registered {info.ref} from run {run_id}", title="New model version")
    if on_done is not None:
        screen.app.call_from_thread(on_done)
