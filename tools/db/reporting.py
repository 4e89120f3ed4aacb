"""Views over everything stored about an item, counts for health checks, and run reports."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update

from core.records import Recommendation
from core.views import AnalysisView, ApprovalView, ItemView, StoreCounts
from tools.db.engine import StoreBase
from tools.db.models import (
    APPROVAL_STATUSES,
    VERDICTS,
    Analysis,
    Approval,
    Item,
    RecommendationRow,
    RejectionRow,
    Run,
    Story,
    utcnow,
)


class ReportingStore(StoreBase):
    def item_view(self, item_id: str) -> ItemView | None:
        """Item, analysis, recommendations and approval."""
        with self._sessions() as s:
            item = s.get(Item, item_id)
            if item is None:
                return None
            analysis = s.get(Analysis, item_id)
            recs = s.scalars(
                select(RecommendationRow)
                .where(RecommendationRow.item_id == item_id)
                .order_by(RecommendationRow.id)
            )
            approval = s.get(Approval, item_id)
            columns = {attr.key: getattr(item, attr.key) for attr in item.__mapper__.column_attrs}
            return ItemView.model_validate(
                {
                    **columns,
                    "embedding_dim": None if item.embedding is None else len(item.embedding) // 4,
                    "analysis": None if analysis is None else AnalysisView.model_validate(analysis),
                    "recommendations": [
                        Recommendation.model_validate(r, from_attributes=True) for r in recs
                    ],
                    "approval": None if approval is None else ApprovalView.model_validate(approval),
                }
            )

    def counts(self) -> StoreCounts:
        """Items per verdict, stories, rejections and approvals per status."""
        with self._sessions() as s:
            verdicts = dict(
                s.execute(select(Item.verdict, func.count()).group_by(Item.verdict)).all()
            )
            approvals = dict(
                s.execute(select(Approval.status, func.count()).group_by(Approval.status)).all()
            )
            return StoreCounts(
                items=sum(verdicts.get(v, 0) for v in VERDICTS),
                **{v: verdicts.get(v, 0) for v in VERDICTS},
                stories=s.scalar(select(func.count()).select_from(Story)) or 0,
                rejections=s.scalar(select(func.count()).select_from(RejectionRow)) or 0,
                approvals={status: approvals.get(status, 0) for status in APPROVAL_STATUSES},
            )

    def start_run(self, source: str) -> int:
        with self._sessions.begin() as s:
            run = Run(started_at=utcnow(), source=source)
            s.add(run)
            s.flush()
            return run.id

    def finish_run(self, run_id: int, report: dict[str, Any]) -> None:
        with self._sessions.begin() as s:
            s.execute(
                update(Run).where(Run.id == run_id).values(finished_at=utcnow(), report=report)
            )
