"""Where material stories are announced for approval. Slack plugs in behind the same call."""

from __future__ import annotations

import logging
from typing import Any, Protocol

log = logging.getLogger("newsdesk.notify")


class Notifier(Protocol):
    def post_for_approval(self, item_id: str, summary: dict[str, Any]) -> tuple[str, str] | None:
        """Announce a story awaiting a decision; return (channel, message id) when posted.

        The caller posts only while the approval has no stored message id, so a node re-run on
        resume or a restart does not post twice.
        """
        ...


class LogNotifier:
    """The no-Slack default: the story waits in the approvals table (`newsdesk approvals`)."""

    def post_for_approval(self, item_id: str, summary: dict[str, Any]) -> tuple[str, str] | None:
        log.info("awaiting approval: %s %s", item_id, summary.get("headline", ""))
        return None
