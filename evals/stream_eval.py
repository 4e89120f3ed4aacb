"""`newsdesk eval stream`: replay labelled items through the real dedup node in time order.

A duplicate verdict is right when the item it was matched to belongs to the same group (story).
Recall counts the items whose group had already been seen: those a perfect desk would drop.
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evals.tables import field, read_rows
from graph.deps import build_deps
from graph.nodes.dedup import make_dedup
from graph.state import NewsItem
from newsdesk.settings import Settings
from tools.text import content_hash

ANALYSIS_LLM_NODES = {
    "asset_tagging",
    "urgency",
    "sentiment",
    "impact_reasoning",
    "spread_recommendation",
}


def parse_time(value: Any) -> datetime:
    """ISO 8601, or epoch seconds / milliseconds (the news aggregator uses milliseconds)."""
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        parsed = datetime.fromisoformat(text)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return datetime.fromtimestamp(number / 1000 if number > 1e11 else number, tz=UTC)


def evaluate_stream(
    data: Path,
    text_field: str,
    time_field: str,
    group_field: str,
    settings: Settings,
    limit: int | None = None,
) -> dict[str, Any]:
    rows = read_rows(data, limit)
    rows.sort(key=lambda r: parse_time(field(r, time_field)))
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
            texts = [str(field(r, text_field)) for r in rows]
            started = time.perf_counter()
            vectors = deps.embedder.encode(texts, show_progress=True)
            dedup = make_dedup(deps)
            group_of: dict[str, str] = {}
            seen_groups: set[str] = set()
            tp = fp = should_drop = 0
            verdicts = {"duplicate": 0, "related": 0, "unique": 0}
            for i, (row, text, vector) in enumerate(zip(rows, texts, vectors, strict=True)):
                item_id = f"row-{i}"
                group = str(field(row, group_field))
                group_of[item_id] = group
                item = NewsItem(
                    id=item_id,
                    source="eval",
                    title=text,
                    published_at=parse_time(field(row, time_field)),
                )
                verdict = dedup(
                    {"item": item, "embedding": vector.tolist(), "content_hash": content_hash(text)}
                )["dedup"]
                verdicts[verdict.verdict] += 1
                should_drop += group in seen_groups
                seen_groups.add(group)
                if verdict.verdict == "duplicate":
                    if group_of.get(verdict.nearest_id or "") == group:
                        tp += 1
                    else:
                        fp += 1
            elapsed = time.perf_counter() - started
        finally:
            deps.store.close()
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / should_drop if should_drop else 0.0
    calls_per_item = len(ANALYSIS_LLM_NODES & settings.llm_nodes)
    skipped = verdicts["duplicate"] + (
        verdicts["related"] if settings.gray_zone_policy == "link_stop" else 0
    )
    return {
        "data": str(data),
        "n": len(rows),
        "groups": len(seen_groups),
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(2 * precision * recall / (precision + recall), 4) if tp else 0.0,
        "verdicts": verdicts,
        "llm_calls_saved": skipped * calls_per_item,
        "threshold": settings.dedup_duplicate_threshold,
        "unique_threshold": settings.dedup_unique_threshold,
        "latency_ms_per_item": round(1000 * elapsed / max(len(rows), 1), 2),
        "llm_tokens_per_item": 0,
    }
