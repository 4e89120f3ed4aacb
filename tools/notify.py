"""Where material stories are announced for approval. Slack plugs in behind the same call."""

from __future__ import annotations

import logging
from typing import Protocol

from core.records import ApprovalSummary
from core.views import ApprovalView

log = logging.getLogger("newsdesk.notify")


class Notifier(Protocol):
    def post_for_approval(self, item_id: str, summary: ApprovalSummary) -> tuple[str, str] | None:
        """Announce a story awaiting a decision; return (channel, message id) when posted.

        The caller posts only while the approval has no stored message id, so a node re-run on
        resume or a restart does not post twice.
        """
        ...

    def update_copies(self, approval: ApprovalView, copies: int) -> str | None:
        """Show how many later copies a posted story has had, without posting it again.

        Returns the id of a newly posted counter message (stored by the caller), else None.
        """
        ...


class LogNotifier:
    """The no-Slack default: the story waits in the approvals table (`newsdesk approvals`)."""

    def post_for_approval(self, item_id: str, summary: ApprovalSummary) -> tuple[str, str] | None:
        log.info("awaiting approval: %s %s", item_id, summary.headline)
        return None

    def update_copies(self, approval: ApprovalView, copies: int) -> str | None:
        log.info("story of %s: %d later copies", approval.item_id, copies)
        return None
