"""Durable intake: POST /ingest answers 202 only once the items are on the bus, refuses bad
items with their reason, answers 503 + Retry-After when the bus is full, and a serving process
killed right after a 202 loses nothing once restarted."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from core.records import NewsItem
from core.settings import Settings
from serving.desk import Desk
from serving.http_app import create_http_app
from tests.conftest import HACK, free_port, settings_env
from tests.fake_llm import gated_llm
from tests.processes import healthz, http_json, newsdesk, wait_until
from tools.db import Store
from tools.db.models import Item

# Ten real-looking stories; the 500-item batch re-posts each of them 50 times, as a wire does.
HEADLINES = [
    "Bybit hacked: $1.4 billion in ether drained, withdrawals halted",
    "Fed holds rates steady, signals two cuts later this year",
    "Nvidia shares jump 8% after record data-center revenue",
    "SEC approves spot ether ETFs for trading next week",
    "Tesla recalls 2 million vehicles over Autopilot safety concerns",
    "Tether briefly loses its dollar peg as redemptions spike",
    "Apple unveils its own AI models at the developer conference",
    "US announces 50% tariffs on steel imports from the European Union",
    "Coinbase suffers outage as bitcoin trading volume surges",
    "MicroStrategy buys another 10,000 bitcoin for its treasury",
]


@pytest.fixture
def open_desk(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., Desk]]:
    opened: list[Desk] = []

    def factory(**overrides: Any) -> Desk:
        opened.append(Desk(make_settings(**overrides)))
        return opened[-1]

    yield factory
    for desk in opened:
        desk.close()


def test_bad_items_are_refused_with_their_reason_and_the_rest_goes_through(
    open_desk: Callable[..., Desk],
) -> None:
    desk = open_desk(max_line_bytes=5_000)
    http = TestClient(create_http_app(desk, None))
    oversized = {**HACK, "id": "huge", "text": "Bybit " * 1_000}
    response = http.post(
        "/ingest",
        json=[
            HACK,
            {"id": "no-source", "title": "A headline", "published_at": "2025-02-21T14:00:00Z"},
            oversized,
            "not an item",
            {**HACK, "id": "bad-date", "published_at": "yesterday"},
        ],
    )
    assert response.status_code == 202
    body = response.json()
    assert body["accepted"] == ["hack-1"]
    reasons = {r["index"]: r["reason"] for r in body["rejected"]}
    assert set(reasons) == {1, 2, 3, 4}
    assert "missing required field 'source'" in reasons[1]
    assert "longer than max_line_bytes=5000" in reasons[2]
    assert "must be a JSON object" in reasons[3]
    assert "ISO 8601" in reasons[4]
    assert desk.wait_idle(120)
    assert desk.store.item_exists("hack-1") and not desk.store.item_exists("huge")
    assert [r.reason for r in desk.store.rejections()] == [reasons[i] for i in (1, 2, 3, 4)]


@pytest.mark.parametrize("bus", ["inbox", "nats"])
def test_a_full_bus_answers_503_with_retry_after(
    open_desk: Callable[..., Desk], bus: str, request: pytest.FixtureRequest
) -> None:
    overrides: dict[str, Any] = {"bus_max_pending": 3, "bus_retry_after_s": 7}
    if bus == "nats":
        overrides.update(request.getfixturevalue("nats_bus"))
    desk = open_desk(**overrides)
    http = TestClient(create_http_app(desk, None))
    batch = [{**HACK, "id": f"copy-{i}", "source": f"outlet-{i}"} for i in range(4)]
    refused = http.post("/ingest", json=[*batch, {"id": "no-source"}])
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "7"
    assert "retry later" in refused.json()["error"]
    assert [r["index"] for r in refused.json()["rejected"]] == [4]  # still told why
    assert desk.queued == 0  # nothing of the refused batch was taken
    accepted = http.post("/ingest", json=batch[:3])
    assert accepted.status_code == 202 and len(accepted.json()["accepted"]) == 3
    assert desk.wait_idle(120)
    assert desk.store.counts().items == 3


def test_a_decision_never_waits_for_another_story_in_the_graph(
    open_desk: Callable[..., Desk],
) -> None:
    """The intake consumer is stuck inside a slow story (its LLM call hangs); a trader's
    decision on another story still goes through at once."""
    slow = {
        "id": "slow-1",
        "source": "wire",
        "title": "Solana validators halt the network after a consensus bug",
        "published_at": "2025-02-21T15:00:00Z",
    }
    with gated_llm(lambda body: "Solana validators" in body) as llm:
        desk = open_desk(
            llm_provider="openai",
            llm_base_url=llm["base_url"],
            llm_nodes={"sentiment"},
            llm_timeout_s=60,
        )
        desk.submit([NewsItem.model_validate(HACK)])
        assert desk.wait_idle(120)
        assert desk.store.get_approval("hack-1").pending
        desk.submit([NewsItem.model_validate(slow)])
        assert llm["held"].wait(60), "the slow story never reached its LLM call"
        started = time.monotonic()
        result = desk.decide("hack-1", "approve", "UTRADER1")
        took = time.monotonic() - started
        assert result.outcome == "applied" and result.approval.status == "approved"
        assert took < 5, f"the decision waited {took:.1f}s"
        assert desk.queued == 1  # the slow story was in the graph the whole time
        llm["gate"].set()
        assert desk.wait_idle(60)


def wire_batch(count: int) -> list[dict[str, Any]]:
    start = datetime(2025, 3, 3, 14, 0, tzinfo=UTC)
    return [
        {
            "id": f"wire-{i:03d}",
            "source": f"outlet-{i % 25}",
            "title": HEADLINES[i % len(HEADLINES)],
            "published_at": (start + timedelta(seconds=i)).isoformat(),
        }
        for i in range(count)
    ]


@pytest.mark.slow
@pytest.mark.parametrize("bus", ["inbox", "nats"])
def test_serve_killed_right_after_202_loses_none_of_500_items(
    make_settings: Callable[..., Settings],
    bus: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    # A short ack wait: the killed server's in-flight items come back seconds after the restart.
    overrides: dict[str, Any] = {"bus_ack_wait_s": 3.0, "dedup_verifier": "none"}
    if bus == "nats":
        overrides.update(request.getfixturevalue("nats_bus"))
    settings = make_settings(**overrides)
    env = settings_env(settings)
    base = f"http://127.0.0.1:{free_port()}"
    command = ["serve", "--port", base.rsplit(":", 1)[1]]
    batch = wire_batch(500)

    with newsdesk(command, env, tmp_path / "serve-1.log") as first:
        wait_until(lambda: healthz(base), 120, "serve to start", first)
        status, body, _ = http_json(f"{base}/ingest", batch)
        first.kill()
    assert status == 202, body
    assert len(body["accepted"]) == 500

    store = Store(settings.resolved_database_url)
    try:
        finished_before = stored_ids(store)
        assert len(finished_before) < 500  # the kill really cut the work short

        with newsdesk(command, env, tmp_path / "serve-2.log") as second:
            wait_until(
                lambda: (h := healthz(base)) is not None and h["queued"] == 0,
                400,
                "the restarted serve to finish the batch",
                second,
            )
        assert stored_ids(store) == {item["id"] for item in batch}
        assert store.counts().rejections == 0
        assert store.counts().unique == len(HEADLINES)  # each story analysed once, copies linked
    finally:
        store.close()
    print(json.dumps({"bus": bus, "finished_before_the_kill": len(finished_before)}))


def stored_ids(store: Store) -> set[str]:
    with store.engine.connect() as conn:
        return set(conn.scalars(select(Item.id)))
