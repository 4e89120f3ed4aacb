"""Approvals and the trader's side of the desk: decisions (the audit trail), spread overrides,
feedback, and the Slack requests already handled."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from core.records import DECISION_STATUS, ApprovalStatus, ApprovalSummary, Decision
from core.views import ApprovalView, DecisionRecord, FeedbackView, OverrideView
from tools.db.engine import StoreBase
from tools.db.models import (
    Approval,
    DecisionRow,
    Feedback,
    SeenRequest,
    SpreadOverride,
    Story,
    utcnow,
)


class ApprovalStore(StoreBase):
    def create_approval(
        self, item_id: str, thread_id: str, expires_at: datetime, summary: ApprovalSummary
    ) -> bool:
        """Idempotent: True only when this call created the row."""
        try:
            with self._sessions.begin() as s:
                exists = s.scalar(
                    select(Approval.item_id).where(
                        (Approval.item_id == item_id) | (Approval.thread_id == thread_id)
                    )
                )
                if exists is not None:
                    return False
                s.add(
                    Approval(
                        item_id=item_id,
                        thread_id=thread_id,
                        status="pending",
                        requested_at=utcnow(),
                        expires_at=expires_at,
                        summary=summary.model_dump(mode="json"),
                    )
                )
            return True
        except IntegrityError:
            # Lost a race with another worker creating the same approval.
            if self.get_approval(item_id) or self.get_approval_by_thread(thread_id):
                return False
            raise

    def set_approval_message(self, item_id: str, channel: str, message_ts: str) -> None:
        """Where the approval request was posted (Slack), so it can be updated later."""
        with self._sessions.begin() as s:
            s.execute(
                update(Approval)
                .where(Approval.item_id == item_id)
                .values(channel=channel, message_ts=message_ts)
            )

    def get_approval(self, item_id: str) -> ApprovalView | None:
        with self._sessions() as s:
            row = s.get(Approval, item_id)
            return None if row is None else ApprovalView.model_validate(row)

    def get_approval_by_thread(self, thread_id: str) -> ApprovalView | None:
        with self._sessions() as s:
            row = s.scalar(select(Approval).where(Approval.thread_id == thread_id))
            return None if row is None else ApprovalView.model_validate(row)

    def list_approvals(self, status: ApprovalStatus | None = "pending") -> list[ApprovalView]:
        stmt = select(Approval).order_by(Approval.requested_at, Approval.item_id)
        if status is not None:
            stmt = stmt.where(Approval.status == status)
        with self._sessions() as s:
            return [ApprovalView.model_validate(row) for row in s.scalars(stmt)]

    def decide(self, item_id: str, decision: Decision) -> tuple[bool, ApprovalView]:
        """Apply a decision exactly once; returns (applied, the approval as it now stands).

        Only a pending approval changes, and only an applied decision gets an audit row.
        """
        new_status = DECISION_STATUS[decision.decision]
        with self._sessions.begin() as s:
            # Row lock on PostgreSQL: a concurrent decide waits here, then sees the new status.
            row = s.scalar(select(Approval).where(Approval.item_id == item_id).with_for_update())
            if row is None:
                raise KeyError(f"no approval for item {item_id}")
            applied = False
            if row.status == "pending":
                # SQLite ignores FOR UPDATE, so this compare-and-set is what makes it
                # exactly-once there: the loser of the write lock updates no row.
                result = s.execute(
                    update(Approval)
                    .where(Approval.item_id == item_id, Approval.status == "pending")
                    .values(status=new_status, decided_at=decision.ts, decided_by=decision.user)
                    .execution_options(synchronize_session=False)
                )
                applied = result.rowcount == 1
                if applied:
                    s.add(
                        DecisionRow(
                            item_id=item_id,
                            thread_id=row.thread_id,
                            decision=decision.decision,
                            user=decision.user,
                            ts=decision.ts,
                            adjustments=decision.adjustments,
                            note=decision.note,
                            created_at=utcnow(),
                        )
                    )
                    s.flush()
                s.refresh(row)
            return applied, ApprovalView.model_validate(row)

    def add_overrides(self, item_id: str, overrides: list[dict[str, Any]]) -> list[OverrideView]:
        """Record a story's approved overrides once; returns only the rows this call created.

        (item_id, asset) is unique, so a re-run or a second process applying the same decision
        inserts nothing and publishes nothing twice.
        """
        try:
            with self._sessions.begin() as s:
                now = utcnow()
                rows = [SpreadOverride(item_id=item_id, created_at=now, **o) for o in overrides]
                s.add_all(rows)
                s.flush()
                return [OverrideView.model_validate(o) for o in rows]
        except IntegrityError:
            return []

    def add_feedback(self, item_id: str, user: str, useful: bool, note: str = "") -> None:
        with self._sessions.begin() as s:
            s.add(
                Feedback(
                    item_id=item_id, user=user, useful=useful, note=note[:2000], created_at=utcnow()
                )
            )

    def feedback_for(self, item_id: str) -> list[FeedbackView]:
        stmt = select(Feedback).where(Feedback.item_id == item_id).order_by(Feedback.id)
        with self._sessions() as s:
            return [FeedbackView.model_validate(row) for row in s.scalars(stmt)]

    def story_approval(self, story_id: str) -> ApprovalView | None:
        """The approval of the story's first item: where its later copies are counted."""
        with self._sessions() as s:
            story = s.get(Story, story_id)
            row = s.get(Approval, story.first_item_id) if story else None
            return None if row is None else ApprovalView.model_validate(row)

    def set_copies_message(self, item_id: str, copies_ts: str) -> None:
        with self._sessions.begin() as s:
            s.execute(
                update(Approval).where(Approval.item_id == item_id).values(copies_ts=copies_ts)
            )

    def first_sighting(self, signature: str, keep: timedelta = timedelta(minutes=10)) -> bool:
        """True the first time a request signature is seen; False for a replay.

        Slack signs each delivery (a retry included) with a fresh timestamp, so an identical
        signature can only be a copy of a request already handled. Signatures older than the
        five-minute signing window are refused by Bolt anyway, so old rows are pruned.
        """
        now = utcnow()
        try:
            with self._sessions.begin() as s:
                s.execute(delete(SeenRequest).where(SeenRequest.seen_at < now - keep))
                s.add(SeenRequest(signature=signature, seen_at=now))
            return True
        except IntegrityError:
            return False

    def active_overrides(self, at: datetime | None = None) -> list[OverrideView]:
        at = at or utcnow()
        stmt = (
            select(SpreadOverride)
            .where(SpreadOverride.starts_at <= at, SpreadOverride.until > at)
            .order_by(SpreadOverride.until, SpreadOverride.asset)
        )
        with self._sessions() as s:
            return [OverrideView.model_validate(o) for o in s.scalars(stmt)]

    def decisions_for(self, item_id: str) -> list[DecisionRecord]:
        stmt = select(DecisionRow).where(DecisionRow.item_id == item_id).order_by(DecisionRow.id)
        with self._sessions() as s:
            return [DecisionRecord.model_validate(row) for row in s.scalars(stmt)]
