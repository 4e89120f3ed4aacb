"""dedup: duplicate, related (gray zone) or unique, without spending LLM tokens on copies.

Order of checks, cheapest first: the exact hash; the nearest item inside the time window;
for anything not a clear duplicate, the nearest historical unique item. A pair in the gray zone
between the cosine thresholds is read jointly by the pair verifier (a cross-encoder): a
confident answer decides it; only an unsure one reaches the gray-zone policy. Thresholds, the
verifier and the policy are settings. The verdict is registered (stored, indexed, linked to its
story) here so the very next item already sees it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel

from core.records import DedupMethod, DedupVerdict, NewsItem
from core.settings import GrayZonePolicy
from graph.deps import Deps
from graph.nodes._common import NodeFn, ask_llm, timed
from graph.state import ANALYSIS_NODES, AnalysisNode, NewsState
from tools.llm import fence
from tools.news_index import Neighbor
from tools.pair_verifier import material_difference


class SameEventAnswer(BaseModel):
    same_event: bool


def classify(similarity: float, duplicate_threshold: float, unique_threshold: float) -> str:
    if similarity > duplicate_threshold:
        return "duplicate"
    if similarity < unique_threshold:
        return "unique"
    return "gray"


def make_dedup(deps: Deps) -> NodeFn:
    settings = deps.settings
    dup_t, uniq_t = settings.dedup_duplicate_threshold, settings.dedup_unique_threshold

    def verdict_from(
        neighbor: Neighbor, kind: str, method: DedupMethod, probability: float | None = None
    ) -> DedupVerdict:
        reason = f"cosine {neighbor.similarity:.3f} to {neighbor.item_id} ({neighbor.collection})"
        if probability is not None:
            reason += f"; verifier P(same story) {probability:.2f}"
        return DedupVerdict(
            verdict="duplicate" if kind == "duplicate" else "related",
            method=method,
            nearest_id=neighbor.item_id,
            similarity=round(neighbor.similarity, 4),
            story_id=neighbor.story_id,
            verifier_probability=None if probability is None else round(probability, 4),
            reason=reason,
        )

    def unique_from(
        neighbor: Neighbor, method: DedupMethod, probability: float | None, why: str
    ) -> DedupVerdict:
        """A gray-zone pair judged two different stories (by the verifier or the LLM)."""
        return DedupVerdict(
            verdict="unique",
            method=method,
            nearest_id=neighbor.item_id,
            similarity=round(neighbor.similarity, 4),
            verifier_probability=None if probability is None else round(probability, 4),
            reason=f"gray zone ({neighbor.similarity:.3f}); {why}",
        )

    def earlier_text(neighbor: Neighbor) -> str:
        earlier = deps.store.item_view(neighbor.item_id)
        return "" if earlier is None else " ".join(filter(None, [earlier.title, earlier.text]))

    def ask_same_event(item: NewsItem, neighbor: Neighbor) -> tuple[bool, dict[str, Any]]:
        """True when the LLM thinks both items report one event, or cannot tell.

        Unsure, or no model to ask: linking to the story costs nothing and loses nothing.
        """
        update: dict[str, Any] = {}
        if deps.llm_for("gray_zone") is None:
            return True, update
        answer = ask_llm(
            deps,
            "gray_zone",
            item.body,
            SameEventAnswer,
            update,
            earlier=fence(earlier_text(neighbor)[:1000]),
        )
        return (answer.same_event if answer is not None else True), update

    def gray_zone(
        item: NewsItem, best: Neighbor, method: DedupMethod
    ) -> tuple[DedupVerdict, dict[str, Any]]:
        probability = None
        verifier = deps.verifier()
        if verifier is not None:
            earlier = earlier_text(best)
            probability = float(verifier.probability([(item.body, earlier)])[0])
            if probability > verifier.same_cut:
                difference = material_difference(earlier, item.body)
                if difference is None:
                    return verdict_from(best, "duplicate", method, probability), {}
                # Not a copy: the policy below decides, and the reason says why.
                verdict, extra = policy(item, best, method, probability)
                return verdict.model_copy(
                    update={"reason": f"{verdict.reason}; not a copy: {difference}"}
                ), extra
            if probability < verifier.distinct_cut:
                why = f"verifier P(same story) {probability:.2f}: a different story"
                return unique_from(best, method, probability, why), {}
        return policy(item, best, method, probability)

    def policy(
        item: NewsItem, best: Neighbor, method: DedupMethod, probability: float | None
    ) -> tuple[DedupVerdict, dict[str, Any]]:
        if settings.gray_zone_policy == "llm":
            same, extra = ask_same_event(item, best)
            if not same:
                return unique_from(best, method, probability, "LLM: a different event"), extra
            return verdict_from(best, "related", method, probability), extra
        return verdict_from(best, "related", method, probability), {}

    def decide(item: NewsItem, vector: np.ndarray, digest: str) -> tuple[DedupVerdict, dict]:
        exact = deps.store.find_by_hash(digest)
        if exact is not None:
            original_id, story_id = exact
            return DedupVerdict(
                verdict="duplicate",
                method="exact_hash",
                nearest_id=original_id,
                similarity=1.0,
                story_id=story_id,
                reason=f"same text as {original_id}",
            ), {}
        recent = deps.index().nearest_recent(vector, item.published_at)
        if recent is not None and classify(recent.similarity, dup_t, uniq_t) == "duplicate":
            return verdict_from(recent, "duplicate", "window"), {}
        # Not a clear copy of anything recent: an old story resurfacing is still not news.
        historical = deps.index().nearest_unique(vector)
        candidates = [n for n in (recent, historical) if n is not None]
        best = max(candidates, key=lambda n: n.similarity, default=None)
        if best is None or classify(best.similarity, dup_t, uniq_t) == "unique":
            return DedupVerdict(
                verdict="unique",
                method="historical" if historical else "none",
                nearest_id=best.item_id if best else None,
                similarity=round(best.similarity, 4) if best else None,
                reason="no similar item"
                if best is None
                else f"nearest cosine {best.similarity:.3f} is below {uniq_t}",
            ), {}
        method = "window" if best.collection == "recent" else "historical"
        kind = classify(best.similarity, dup_t, uniq_t)
        if kind == "duplicate":
            return verdict_from(best, "duplicate", method), {}
        return gray_zone(item, best, method)

    @timed("dedup")
    def dedup(state: NewsState) -> dict[str, Any]:
        item = state["item"]
        earlier = deps.store.stored_verdict(item.id)
        if earlier is not None:
            # A re-run (resume after a crash, a retried request) must not match the item
            # against itself or count it twice: the first verdict stands.
            return {"dedup": earlier}
        vector = np.asarray(state["embedding"], dtype=np.float32)
        verdict, extra = decide(item, vector, state["content_hash"])
        if verdict.verdict == "unique":
            verdict = verdict.model_copy(update={"story_id": deps.store.create_story(item)})
        deps.store.save_item(item, state["content_hash"], vector, verdict)
        if verdict.verdict != "unique":
            deps.store.link_to_story(item.id, verdict)
        deps.index().add(
            item.id, verdict.story_id, vector, item.published_at, verdict.verdict == "unique"
        )
        return {"dedup": verdict, **extra}

    return dedup


AfterDedup = Literal["record_duplicate"] | list[AnalysisNode]


def after_dedup(policy: GrayZonePolicy) -> Callable[[NewsState], AfterDedup]:
    """Duplicates stop here; related items stop or continue by policy; uniques fan out."""

    def route(state: NewsState) -> AfterDedup:
        verdict = state["dedup"].verdict
        if verdict == "duplicate" or (verdict == "related" and policy != "link_continue"):
            return "record_duplicate"
        return list(ANALYSIS_NODES)

    return route
