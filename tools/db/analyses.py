"""What the graph concluded about an item: its analysis, recommendations and status."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from core.records import Impact, ItemStatus, Recommendation, Sentiment, TaggedAsset, Urgency
from core.views import FeedEntry, FeedRecommendation
from tools.db.engine import StoreBase
from tools.db.models import ITEM_STATUSES, Analysis, Item, RecommendationRow, utcnow


class AnalysisStore(StoreBase):
    def save_analysis(
        self,
        item_id: str,
        *,
        assets: list[TaggedAsset],
        urgency: Urgency | None,
        sentiment: Sentiment | None,
        impact: Impact | None,
        route: str | None,
        degraded_nodes: list[str],
        errors: list[str],
        timings_ms: dict[str, float],
        llm_calls: int,
    ) -> None:
        """Replaces any earlier analysis of the item; also marks the item degraded or not."""
        values: dict[str, Any] = {
            "assets": [a.model_dump(mode="json") for a in assets],
            "urgency": urgency.model_dump(mode="json") if urgency else None,
            "sentiment": sentiment.model_dump(mode="json") if sentiment else None,
            "impact": impact.model_dump(mode="json") if impact else None,
            "route": route,
            "degraded_nodes": list(degraded_nodes),
            "errors": list(errors),
            "timings_ms": dict(timings_ms),
            "llm_calls": llm_calls,
            "created_at": utcnow(),
        }
        for attempt in range(2):
            try:
                with self._sessions.begin() as s:
                    row = s.get(Analysis, item_id)
                    if row is None:
                        s.add(Analysis(item_id=item_id, **values))
                    else:
                        for key, value in values.items():
                            setattr(row, key, value)
                    s.execute(
                        update(Item).where(Item.id == item_id).values(degraded=bool(degraded_nodes))
                    )
                return
            except IntegrityError:
                if attempt == 1:
                    raise

    def save_recommendations(self, item_id: str, recs: list[Recommendation]) -> None:
        """Replaces this item's recommendations."""
        now = utcnow()
        with self._sessions.begin() as s:
            s.execute(delete(RecommendationRow).where(RecommendationRow.item_id == item_id))
            s.add_all(
                RecommendationRow(item_id=item_id, created_at=now, **rec.model_dump(mode="json"))
                for rec in recs
            )

    def set_item_status(self, item_id: str, status: ItemStatus) -> None:
        if status not in ITEM_STATUSES:
            raise ValueError(f"unknown item status {status!r}")
        with self._sessions.begin() as s:
            result = s.execute(update(Item).where(Item.id == item_id).values(status=status))
            if result.rowcount != 1:
                raise KeyError(f"item {item_id} not found")

    def analysed_feed(self, limit: int = 50) -> list[FeedEntry]:
        """The latest analysed items for the web desk, newest first."""
        stmt = (
            select(Item, Analysis)
            .join(Analysis, Analysis.item_id == Item.id)
            .order_by(Analysis.created_at.desc(), Item.id)
            .limit(limit)
        )
        with self._sessions() as s:
            feed = []
            for item, analysis in s.execute(stmt).all():
                recs = s.scalars(
                    select(RecommendationRow)
                    .where(RecommendationRow.item_id == item.id)
                    .order_by(RecommendationRow.widen_bps.desc())
                    .limit(3)
                ).all()
                feed.append(
                    FeedEntry(
                        item_id=item.id,
                        headline=(item.title or item.text or "")[:200],
                        source=item.source,
                        author=item.author,
                        verdict=item.verdict,
                        status=item.status,
                        route=analysis.route,
                        urgency=(analysis.urgency or {}).get("level"),
                        sentiment=(analysis.sentiment or {}).get("label"),
                        degraded=bool(analysis.degraded_nodes),
                        recommendations=[FeedRecommendation.model_validate(r) for r in recs],
                    )
                )
            return feed
