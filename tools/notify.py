"""Where material stories are announced for approval. Slack plugs in behind the same call."""

from __future__ import annotations

import logging
from typing import Any, Protocol

log = logging.getLogger("newsdesk.notify")


class Notifier(Protocol):
    def post_for_approval(self, item_id: str, summary: dict[str, Any]) -> str | None:
        """Announce a story awaiting a decision; return a message id when there is one.

        Must be idempotent on item_id: the node that calls it re-runs when a graph resumes.
        """
        ...


class LogNotifier:
    """The no-Slack default: the story waits in the approvals table (`newsdesk approvals`)."""

    def __init__(self) -> None:
        self._posted: set[str] = set()

    def post_for_approval(self, item_id: str, summary: dict[str, Any]) -> str | None:
        if item_id not in self._posted:
            self._posted.add(item_id)
            log.info("awaiting approval: %s %s", item_id, summary.get("headline", ""))
        return None
