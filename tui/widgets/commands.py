"""Every action of the app, by name: the ``:`` command bar and the ``ctrl+p`` palette.

One table, :data:`APP_COMMANDS`, feeds both, so a new action added here is reachable
from both at once. Actions are ``DockyardApp`` action strings; they work from any screen
(the app goes back to the home screen first when the action belongs there).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider


@dataclass(frozen=True)
class AppCommand:
    """A named action: ``title`` in the palette, ``aliases`` after ``:`` in the command bar."""

    title: str
    help: str
    action: str
    aliases: tuple[str, ...] = ()


APP_COMMANDS: tuple[AppCommand, ...] = (
    AppCommand("Datasets", "Focus the Datasets pane", "show_pane('datasets')", ("data", "ds")),
    AppCommand("Runs", "Focus the Runs pane", "show_pane('runs')", ("runs", "run")),
    AppCommand("Models", "Focus the Models pane", "show_pane('models')", ("models", "model")),
    AppCommand(
        "Deployments",
        "Focus the Deployments pane (pending requests first)",
        "show_pane('deployments')",
        ("deploy", "deployments", "dep"),
    ),
    AppCommand(
        "Monitoring",
        "Focus the Monitoring pane (open alerts first)",
        "show_pane('monitoring')",
        ("mon", "monitoring", "monitors"),
    ),
    AppCommand("Open", "Open the highlighted item", "open_selected", ("open",)),
    AppCommand("Filter", "Filter the focused pane", "filter", ("filter",)),
    AppCommand("Clear filter", "Clear the focused pane's filter", "clear_filter", ("nofilter",)),
    AppCommand("First row", "Move to the first row of the focused pane", "first_row", ("top",)),
    AppCommand("Last row", "Move to the last loaded row", "last_row", ("bottom",)),
    AppCommand("Refresh", "Reload every pane now", "refresh", ("refresh", "reload")),
    AppCommand(
        "Tag",
        "Tag or untag the highlighted run, model or version (space); c compares the tagged",
        "toggle_tag",
        ("tag",),
    ),
    AppCommand(
        "Compare tagged",
        "Compare the tagged runs, models or versions side by side (2 to 10)",
        "compare_tagged",
        ("compare", "cmp"),
    ),
    AppCommand(
        "Register model version",
        "Register the highlighted finished run as a new model version (M)",
        "register_run",
        ("register", "reg"),
    ),
    AppCommand(
        "New run",
        "Launch a training run: project, parameters (a,b,c sweeps), dataset version (n)",
        "new_run",
        ("new", "launch"),
    ),
    AppCommand(
        "Add dataset",
        "Register a CSV/TSV/Parquet file or folder as a dataset version (a)",
        "add_dataset",
        ("add", "data-add"),
    ),
    AppCommand(
        "Cancel run",
        "Cancel the run on screen or highlighted in the Runs pane, after confirming (x)",
        "cancel_run",
        ("cancel",),
    ),
    AppCommand(
        "Retry run",
        "Queue an ended run again with the same parameters and data (R)",
        "retry_run",
        ("retry",),
    ),
    AppCommand(
        "Approve request",
        "Approve the deployment request on screen or highlighted in Deployments (a)",
        "approve_request",
        ("approve",),
    ),
    AppCommand(
        "Reject request",
        "Reject the deployment request on screen or highlighted, with a comment (x)",
        "reject_request",
        ("reject",),
    ),
    AppCommand(
        "Roll back",
        "Roll the highlighted deployment (or the request's) back to the version before (b)",
        "roll_back",
        ("rollback",),
    ),
    AppCommand(
        "Request deployment",
        "Request a deployment of the highlighted model version: environment, reason (D)",
        "request_deployment",
        ("deploy-request", "request"),
    ),
    AppCommand(
        "Acknowledge alert",
        "Acknowledge the alert on screen or highlighted in Monitoring, with a comment (A)",
        "acknowledge_alert",
        ("ack",),
    ),
    AppCommand(
        "Archive or delete",
        "Archive, restore or delete the highlighted dataset, run or model version, "
        "after confirming (d)",
        "tidy_row",
        ("archive", "delete", "rm"),
    ),
    AppCommand(
        "Show archived",
        "Show or hide archived rows in the focused Datasets, Runs or Models pane, or "
        "archived versions on a dataset or model screen (H)",
        "toggle_archived",
        ("archived",),
    ),
    AppCommand("Back", "Close this screen", "back", ("back",)),
    AppCommand("Help", "Show every key binding of this screen", "help", ("help", "h", "?")),
    AppCommand("Command bar", "Type a command such as :runs", "command_bar", ()),
    AppCommand("Quit", "Quit Dockyard", "quit", ("q", "quit", "q!")),
)


def command_aliases(commands: Iterable[AppCommand] = APP_COMMANDS) -> list[str]:
    """Every alias, in table order, for completion in the command bar."""
    return [alias for command in commands for alias in command.aliases]


def resolve_command(text: str, commands: Iterable[AppCommand] = APP_COMMANDS) -> AppCommand | None:
    """The command an alias (``runs``, ``:mon``) or a title (``Refresh``) names, if any."""
    wanted = text.strip().removeprefix(":").strip().lower()
    if not wanted:
        return None
    for command in commands:
        if wanted in command.aliases or wanted == command.title.lower():
            return command
    return None


class DockyardCommands(Provider):
    """The palette's view of :data:`APP_COMMANDS`, fuzzy-matched on title and aliases."""

    async def _run(self, command: AppCommand) -> None:
        await self.app.run_action(command.action)

    def _help(self, command: AppCommand) -> str:
        if not command.aliases:
            return command.help
        return f"{command.help}  (:{command.aliases[0]})"

    async def discover(self) -> Hits:
        for command in APP_COMMANDS:
            yield DiscoveryHit(command.title, partial(self._run, command), help=self._help(command))

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in APP_COMMANDS:
            candidates = [command.title, *command.aliases]
            score = max(matcher.match(candidate) for candidate in candidates)
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(command.title),
                    partial(self._run, command),
                    text=command.title,
                    help=self._help(command),
                )
