"""The /metrics page counts what the desk did: node latency, verdicts, refusals, degraded runs."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client.parser import text_string_to_metric_families

from core.settings import Settings
from serving.desk import Desk
from serving.http_app import create_http_app
from tests.conftest import HACK


def scrape(client: object) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    page = client.get("/metrics")  # type: ignore[attr-defined]
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(page.text)
        for sample in family.samples
    }


def test_metrics_count_one_story_and_one_refusal(make_settings: Callable[..., Settings]) -> None:
    from fastapi.testclient import TestClient

    desk = Desk(make_settings())
    try:
        http = TestClient(create_http_app(desk, None))
        before = scrape(http)
        malformed = {"id": "bad-1", "source": "x"}  # no time, no text
        response = http.post("/ingest", json=[HACK, malformed])
        assert response.status_code == 202
        assert desk.wait_idle(60)
        after = scrape(http)
    finally:
        desk.close()

    def grew(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert grew("newsdesk_dedup_verdicts_total", verdict="unique") == 1
    assert grew("newsdesk_rejected_total", stage="intake") == 1
    # Every node the story went through observed its time once.
    for node in ("normalize", "embed", "dedup", "sentiment", "spread_recommendation", "notify"):
        assert grew("newsdesk_node_seconds_count", node=node) == 1, node
    assert grew("newsdesk_node_seconds_count", node="record") == 0  # material: notify instead
