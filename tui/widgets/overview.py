"""The home screen's five panes and their reads of the store (the container ``#panes``).

Every read happens in a thread worker; results come back as messages from
:mod:`tui.messages` and are shown here. The screen decides when to read (its poll, its
resume, a key); this widget reads, shows, and backs off when the store keeps failing: a
failure is one notification per streak, never a traceback.

What the status line shows (the agent, the requests waiting, the open alerts) is the
screen's: :class:`AgentStatusLoaded` and :class:`WaitingLoaded` bubble up to it unread,
and so does every :class:`PaneLoaded`, after its page is shown here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial

from textual import work
from textual.app import ComposeResult
from textual.containers import Container
from textual.message import Message
from textual.worker import get_current_worker

from dockyard.core.overview import PAGE_SIZE, Pane, agent_status, load_pane, waiting_for
from dockyard.store.queries import Reader
from dockyard.tui.errors import describe_error
from dockyard.tui.messages import (
    AgentStatusLoaded,
    FilterChanged,
    LoadFailed,
    MoreRowsWanted,
    PaneLoaded,
    WaitingLoaded,
)
from dockyard.tui.widgets.pane import OverviewPane

#: After repeated failures, wait at most this many polls before trying again.
MAX_BACKOFF_POLLS = 15

#: The group of the worker that reads every pane (one at a time).
REFRESH_GROUP = "home-refresh"


class Overview(Container):
    """``Overview(open_reader=..., now=..., actor=...)``: one :class:`OverviewPane` per
    :class:`Pane`, read through ``open_reader``; ``actor()`` (called in a worker thread:
    on PostgreSQL it asks the server) is whose waiting requests the status line counts."""

    def __init__(
        self,
        *,
        open_reader: Callable[[], Reader],
        now: Callable[[], datetime],
        actor: Callable[[], str],
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self._open_reader = open_reader
        self._now = now
        self._actor = actor
        self._failing: set[str] = set()
        self._failed_polls = 0
        #: polls still to skip before the next read (back-off after failures)
        self.skip_polls = 0

    def compose(self) -> ComposeResult:
        for pane in Pane:
            yield OverviewPane(pane)

    def pane(self, pane: Pane | str) -> OverviewPane:
        return self.query_one(f"#pane-{Pane(pane).value}", OverviewPane)

    def panes(self) -> list[OverviewPane]:
        return list(self.query(OverviewPane))

    # --- when to read -----------------------------------------------------------------------

    def poll_due(self) -> bool:
        """Whether a poll should read now: not while backing off (each call uses up one
        skipped poll) nor while the last full read is still running."""
        if self.skip_polls > 0:
            self.skip_polls -= 1
            return False
        return not any(
            worker.group == REFRESH_GROUP and worker.is_running for worker in self.workers
        )

    # --- reading ----------------------------------------------------------------------------

    def refresh_panes(self) -> None:
        """Re-read what every pane shows (its filter, as many rows as it has loaded)."""
        requests = [
            (pane.pane, pane.filter_text, pane.refresh_limit, pane.archived)
            for pane in self.panes()
        ]
        self._load_panes(requests)

    @work(thread=True, exclusive=True, exit_on_error=False, group=REFRESH_GROUP)
    def _load_panes(self, requests: list[tuple[Pane, str, int, str]]) -> None:
        worker = get_current_worker()
        try:
            reader = self._open_reader()
            now = self._now()
            status = agent_status(reader, now)
        except Exception as error:
            self.post_message(LoadFailed("the store", describe_error(error)))
            return
        for pane, filter_text, limit, archived in requests:
            if worker.is_cancelled:
                return
            try:
                page = load_pane(reader, pane, filter_text, limit=limit, now=now, archived=archived)
            except Exception as error:
                self.post_message(LoadFailed(pane.heading, describe_error(error), pane=pane))
                continue
            self.post_message(PaneLoaded(page))
        if not worker.is_cancelled:
            self.post_message(AgentStatusLoaded(status))
            self._post_waiting(reader)

    def _post_waiting(self, reader: Reader) -> None:
        try:
            actor = self._actor()
            self.post_message(WaitingLoaded(waiting_for(reader, actor), actor))
        except Exception as error:
            self.post_message(LoadFailed("the requests", describe_error(error)))

    def refresh_deployments(self, read: Callable[[str, int], list[Message]]) -> None:
        """Re-read the Deployments pane and the header's count only, with ``read``
        (:meth:`read_deployments`, or the screen's hook over it)."""
        pane = self.pane(Pane.DEPLOYMENTS)
        self._load_deployments(read, pane.filter_text, pane.refresh_limit)

    @work(thread=True, exclusive=True, exit_on_error=False, group="home-deployments")
    def _load_deployments(
        self, read: Callable[[str, int], list[Message]], filter_text: str, limit: int
    ) -> None:
        for message in read(filter_text, limit):
            self.post_message(message)

    def read_deployments(self, filter_text: str, limit: int) -> list[Message]:
        """The Deployments pane's page and the header's count, as the messages that show
        them (in a worker thread; never raises)."""
        try:
            reader = self._open_reader()
            page = load_pane(reader, Pane.DEPLOYMENTS, filter_text, limit=limit, now=self._now())
        except Exception as error:
            heading = Pane.DEPLOYMENTS.heading
            return [LoadFailed(heading, describe_error(error), pane=Pane.DEPLOYMENTS)]
        try:
            actor = self._actor()
            return [PaneLoaded(page), WaitingLoaded(waiting_for(reader, actor), actor)]
        except Exception as error:
            return [PaneLoaded(page), LoadFailed("the requests", describe_error(error))]

    def load_page(self, pane: Pane, filter_text: str, *, offset: int, append: bool) -> None:
        """Start a worker for one page of one pane; a newer request for it cancels this one."""
        archived = self.pane(pane).archived
        self.run_worker(
            partial(self._read_page, pane, filter_text, offset, append, archived),
            thread=True,
            exclusive=True,
            exit_on_error=False,
            group=f"{'more' if append else 'filter'}-{pane.value}",
            name=f"load {pane.value}",
        )

    def _read_page(
        self, pane: Pane, filter_text: str, offset: int, append: bool, archived: str = "hide"
    ) -> None:
        worker = get_current_worker()
        try:
            page = load_pane(
                self._open_reader(),
                pane,
                filter_text,
                limit=PAGE_SIZE,
                offset=offset,
                now=self._now(),
                archived=archived,
            )
        except Exception as error:
            self.post_message(LoadFailed(pane.heading, describe_error(error), pane=pane))
            return
        if not worker.is_cancelled:
            self.post_message(PaneLoaded(page, append=append))

    # --- results ----------------------------------------------------------------------------

    def on_pane_loaded(self, message: PaneLoaded) -> None:
        """Show the page (the message goes on up to the screen, for the status line)."""
        self._failing.discard(message.page.pane.heading)
        self._failing.discard("the store")
        if not self._failing:
            self._failed_polls = 0
        self.pane(message.page.pane).apply_page(message.page, append=message.append)

    def on_load_failed(self, message: LoadFailed) -> None:
        message.stop()
        targets = [self.pane(message.pane)] if message.pane else self.panes()
        for pane in targets:
            pane.show_error(message.error)
        if message.what not in self._failing:
            self._failing.add(message.what)
            self.notify(
                f"Cannot read {message.what}: {message.error}",
                title="Load failed",
                severity="error",
                timeout=8,
            )
        # Back off: 1, 2, 4, ... polls skipped, up to MAX_BACKOFF_POLLS.
        self._failed_polls += 1
        self.skip_polls = min(2 ** (self._failed_polls - 1), MAX_BACKOFF_POLLS)

    def on_filter_changed(self, message: FilterChanged) -> None:
        message.stop()
        self.load_page(message.pane, message.text, offset=0, append=False)

    def on_more_rows_wanted(self, message: MoreRowsWanted) -> None:
        message.stop()
        filter_text = self.pane(message.pane).filter_text
        self.load_page(message.pane, filter_text, offset=message.offset, append=True)
