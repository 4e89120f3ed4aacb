"""`newsdesk eval stream`: replay labelled items through the real dedup node in time order.

A duplicate verdict is right when the item it was matched to belongs to the same group (story).
Recall counts the items whose group had already been seen: those a perfect desk would drop.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.eval_reports import PrecisionRecall, StreamReport, VerdictCounts
from core.records import DedupVerdict, NewsItem
from core.settings import Settings
from evals.tables import field, read_rows
from graph.deps import build_deps
from graph.nodes.dedup import make_dedup
from graph.state import ANALYSIS_NODES
from tools.text import content_hash

# The nodes a copy skips that may ask the LLM: the fan-out, then the two that follow it.
ANALYSIS_LLM_NODES = {*ANALYSIS_NODES, "impact_reasoning", "spread_recommendation"}


def parse_time(value: Any) -> datetime:
    """ISO 8601, or epoch seconds / milliseconds (the news aggregator uses milliseconds)."""
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        parsed = datetime.fromisoformat(text)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return datetime.fromtimestamp(number / 1000 if number > 1e11 else number, tz=UTC)


@dataclass(frozen=True)
class StreamStep:
    """One replayed item: the dedup verdict, whether its match shares its group, and whether
    an earlier item of its group had been seen (a perfect desk drops exactly those)."""

    text: str
    verdict: DedupVerdict
    matched_same_group: bool
    group_seen_before: bool


def replay_stream(
    texts: Sequence[str],
    times: Sequence[datetime],
    groups: Sequence[str],
    settings: Settings,
    show_progress: bool = True,
) -> list[StreamStep]:
    """Every item through the real dedup node in time order, in a throwaway store."""
    order = sorted(range(len(texts)), key=lambda i: times[i])
    with tempfile.TemporaryDirectory() as scratch:
        # A throwaway store: the eval must not see (or write into) the desk's own history.
        deps = build_deps(
            settings.model_copy(
                update={
                    "data_dir": Path(scratch),
                    "database_url": "",
                    "llm_provider": "none",
                }
            )
        )
        try:
            vectors = deps.embedder().encode([texts[i] for i in order], show_progress=show_progress)
            dedup = make_dedup(deps)
            group_of: dict[str, str] = {}
            seen_groups: set[str] = set()
            steps: list[StreamStep] = []
            for i, vector in zip(order, vectors, strict=True):
                item_id = f"row-{i}"
                group_of[item_id] = groups[i]
                item = NewsItem(id=item_id, source="eval", title=texts[i], published_at=times[i])
                verdict = dedup(
                    {
                        "item": item,
                        "embedding": vector.tolist(),
                        "content_hash": content_hash(texts[i]),
                    }
                )["dedup"]
                steps.append(
                    StreamStep(
                        texts[i],
                        verdict,
                        group_of.get(verdict.nearest_id or "") == groups[i],
                        groups[i] in seen_groups,
                    )
                )
                seen_groups.add(groups[i])
        finally:
            deps.store.close()
    return steps


def stream_scores(steps: Sequence[StreamStep]) -> PrecisionRecall:
    """Precision of the duplicate verdicts, and recall over the items a perfect desk drops."""
    duplicates = [s for s in steps if s.verdict.verdict == "duplicate"]
    tp = sum(s.matched_same_group for s in duplicates)
    should_drop = sum(s.group_seen_before for s in steps)
    precision = tp / len(duplicates) if duplicates else 0.0
    recall = tp / should_drop if should_drop else 0.0
    return PrecisionRecall(
        precision=round(precision, 4),
        recall=round(recall, 4),
        f1=round(2 * precision * recall / (precision + recall), 4) if tp else 0.0,
    )


def evaluate_stream(
    data: Path,
    text_field: str,
    time_field: str,
    group_field: str,
    settings: Settings,
    limit: int | None = None,
) -> StreamReport:
    rows = read_rows(data, limit)
    started = time.perf_counter()
    steps = replay_stream(
        [str(field(r, text_field)) for r in rows],
        [parse_time(field(r, time_field)) for r in rows],
        [str(field(r, group_field)) for r in rows],
        settings,
    )
    elapsed = time.perf_counter() - started
    counted = Counter(step.verdict.verdict for step in steps)
    verdicts = VerdictCounts(
        duplicate=counted["duplicate"], related=counted["related"], unique=counted["unique"]
    )
    calls_per_item = len(ANALYSIS_LLM_NODES & settings.llm_nodes)
    skipped = verdicts.duplicate + (
        verdicts.related if settings.gray_zone_policy == "link_stop" else 0
    )
    return StreamReport(
        data=str(data),
        n=len(rows),
        groups=len({str(field(r, group_field)) for r in rows}),
        **stream_scores(steps).model_dump(),
        verdicts=verdicts,
        verifier_calls=sum(s.verdict.verifier_probability is not None for s in steps),
        llm_calls_saved=skipped * calls_per_item,
        threshold=settings.dedup_duplicate_threshold,
        unique_threshold=settings.dedup_unique_threshold,
        latency_ms_per_item=round(1000 * elapsed / max(len(rows), 1), 2),
        llm_tokens_per_item=0,
    )
