"""The home screen's keys, and which pane offers which.

Several panes use the same letter for their own action (``a`` adds a dataset on the
Datasets pane and approves a request on the Deployments pane, ``x`` cancels a run or
rejects a request): :data:`PANE_KEYS` says where each is offered, and the screen's
``check_action`` lets one of each pair through.
"""

from __future__ import annotations

from textual.binding import Binding, BindingType

from dockyard.core.overview import ARCHIVABLE_PANES, Pane

#: Panes whose rows ``space`` tags for ``c`` (compare): runs, and models (latest versions).
TAGGABLE_PANES = (Pane.RUNS, Pane.MODELS)

HOME_BINDINGS: list[BindingType] = [
    # Priority: the action runs as the key arrives, before the keys typed after it are
    # routed, so a burst like "/wine" (paste, slow SSH link) lands in the filter.
    Binding("slash", "filter", "Filter", id="filter", priority=True),
    Binding("escape", "back", "Clear", tooltip="Clear the filter, then the tags", id="back"),
    Binding("r", "refresh", "Refresh", id="refresh"),
    Binding("n", "new_run", "New run", tooltip="Launch a run (the launch form)", id="new-run"),
    Binding(
        "x",
        "cancel_run",
        "Cancel",
        tooltip="Cancel the highlighted run (asks first)",
        id="cancel-run",
    ),
    Binding(
        "R",
        "retry_run",
        "Retry",
        tooltip="Queue the highlighted run again (once it has ended)",
        id="retry-run",
    ),
    # space and M stay out of the footer (80 columns are full): help and the palette
    # list them, and c with nothing tagged says to tag with space.
    Binding("space", "toggle_tag", "Tag", show=False, id="tag"),
    Binding("c", "compare_tagged", "Compare", id="compare"),
    Binding("M", "register_run", "Register model", show=False, id="register-run"),
    Binding(
        "a",
        "add_dataset",
        "Add data",
        show=False,
        tooltip="Register a file as a dataset version (Datasets pane)",
        id="add-dataset",
    ),
    # Same letters as other panes' keys: check_action lets one of each pair through.
    Binding(
        "a",
        "approve_request",
        "Approve",
        tooltip="Approve the highlighted request (Deployments pane; asks first)",
        id="approve-request",
    ),
    Binding(
        "x",
        "reject_request",
        "Reject",
        tooltip="Reject the highlighted request, with a comment (Deployments pane)",
        id="reject-request",
    ),
    Binding(
        "b",
        "roll_back",
        "Roll back",
        tooltip="Roll the highlighted deployment back to the version before (asks first)",
        id="roll-back",
    ),
    Binding(
        "A",
        "acknowledge_alert",
        "Acknowledge",
        show=False,  # 80 columns are full; help and the palette list it
        tooltip="Acknowledge the highlighted alert, with a comment (Monitoring pane)",
        id="acknowledge-alert",
    ),
    Binding(
        "d",
        "tidy_row",
        "Archive/delete",
        show=False,  # 80 columns are full; help and the palette list it
        tooltip="Archive, restore or delete the highlighted dataset, run or model version "
        "(asks first, naming what blocks a delete)",
        id="tidy-row",
    ),
    Binding(
        "H",
        "toggle_archived",
        "Archived",
        show=False,
        tooltip="Show or hide archived rows in this pane (shown dimmed, marked ⊘)",
        id="toggle-archived",
    ),
    Binding(
        "D",
        "request_deployment",
        "Deploy",
        tooltip="Request a deployment of the highlighted model's latest version",
        id="request-deployment",
    ),
]

#: action -> the panes that offer its key (everywhere else it is hidden and inactive).
PANE_KEYS: dict[str, tuple[Pane, ...]] = {
    "cancel_run": (Pane.RUNS,),
    "retry_run": (Pane.RUNS,),
    "register_run": (Pane.RUNS,),
    "toggle_tag": TAGGABLE_PANES,
    "compare_tagged": TAGGABLE_PANES,
    "add_dataset": (Pane.DATASETS,),
    "approve_request": (Pane.DEPLOYMENTS,),
    "reject_request": (Pane.DEPLOYMENTS,),
    "roll_back": (Pane.DEPLOYMENTS,),
    "request_deployment": (Pane.MODELS,),
    "acknowledge_alert": (Pane.MONITORING,),
    "tidy_row": tuple(pane for pane in Pane if pane.value in ARCHIVABLE_PANES),
    "toggle_archived": tuple(pane for pane in Pane if pane.value in ARCHIVABLE_PANES),
}
