"""`newsdesk worker`: analysts pulling unique stories from the JetStream work queue, with the
PostgreSQL checkpointer, as real processes on the real NATS and PostgreSQL of this machine."""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from core.records import Decision, NewsItem
from core.settings import Settings
from graph.runner import open_runner
from serving.analysts import Analyst, ThreadLocks, child_env
from tests.conftest import HACK, settings_env
from tests.fake_llm import gated_llm
from tests.processes import newsdesk, wait_until
from tools.db import Store
from tools.db.models import Analysis
from tools.queues import consumer_for, item_message, open_bus

pytestmark = pytest.mark.postgres

TARIFF = {
    "id": "tariff-1",
    "source": "truthsocial",
    "author": "realDonaldTrump",
    "text": "Starting Monday, 50% tariffs on all imports from the European Union. Crash incoming!",
    "published_at": "2025-05-23T12:00:00Z",
}
# Distinct stories, as the triage stage hands them on: each one is analysed.
STORIES = [
    "Fed holds rates steady, signals two cuts later this year",
    "Nvidia shares jump 8% after record data-center revenue",
    "SEC approves spot ether ETFs for trading next week",
    "Tesla recalls 2 million vehicles over Autopilot safety concerns",
    "Tether briefly loses its dollar peg as redemptions spike",
    "Apple unveils its own AI models at the developer conference",
    "Coinbase suffers outage as bitcoin trading volume surges",
    "MicroStrategy buys another 10,000 bitcoin for its treasury",
    "Solana validators halt the network after a consensus bug",
    "Amazon to invest $10 billion in new data centers in Ohio",
    "Binance founder sentenced to four months in prison",
    "Oil jumps 4% after drone strikes on Saudi refineries",
]
FINISHED = re.compile(r"pid (\d+) finished (\S+): (\w+).*\(delivery (\d+)\)")


def finished(log: str) -> dict[str, list[tuple[int, str, int]]]:
    """item id -> every (pid, verdict, delivery) a worker logged for it."""
    seen: dict[str, list[tuple[int, str, int]]] = defaultdict(list)
    for pid, item_id, verdict, delivery in FINISHED.findall(log):
        seen[item_id].append((int(pid), verdict, int(delivery)))
    return seen


def worker_settings(
    make_settings: Callable[..., Settings], pg_url: str, nats_bus: dict[str, Any], **more: Any
) -> Settings:
    return make_settings(
        database_url=pg_url,
        dedup_verifier="none",
        # One delivery at a time per worker, and a dead worker's item back after 2 s.
        bus_batch_size=1,
        bus_ack_wait_s=2.0,
        **nats_bus,
        **more,
    )


def publish_unique(settings: Settings, records: list[dict[str, Any]]) -> None:
    bus = open_bus(settings)
    try:
        queue = bus.queue("unique")
        assert queue.publish([item_message(NewsItem.model_validate(r)) for r in records])
    finally:
        bus.close()


def unique_depth(settings: Settings) -> int:
    bus = open_bus(settings)
    try:
        return bus.queue("unique").depth()
    finally:
        bus.close()


def analysed(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(Analysis)) or 0)


def test_two_workers_share_the_work_queue_with_no_loss_and_no_repeat(
    make_settings: Callable[..., Settings],
    pg_schema_url: str,
    nats_bus: dict[str, Any],
    tmp_path: Path,
) -> None:
    settings = worker_settings(make_settings, pg_schema_url, nats_bus)
    records = [
        {"id": f"story-{i:02d}", "source": "wire", "title": title, "published_at": "2025-03-03"}
        for i, title in enumerate(STORIES)
    ]
    store = Store(pg_schema_url)
    try:
        with newsdesk(
            ["-v", "worker", "--processes", "2"], settings_env(settings), tmp_path / "pool.log"
        ) as pool:
            wait_until(lambda: pool.log().count("consuming unique") == 2, 120, "two workers", pool)
            publish_unique(settings, records)
            wait_until(
                lambda: analysed(store) == len(records) and unique_depth(settings) == 0,
                180,
                "every story analysed",
                pool,
            )
            log = pool.log()
        runs = finished(log)
        assert sorted(runs) == [r["id"] for r in records]  # none lost
        assert all(len(r) == 1 for r in runs.values()), runs  # none processed twice
        assert {verdict for [(_, verdict, _)] in runs.values()} == {"unique"}
        assert len({pid for [(pid, _, _)] in runs.values()}) == 2  # both took a share
    finally:
        store.close()


def test_a_worker_killed_mid_item_loses_nothing_and_posts_nothing_twice(
    make_settings: Callable[..., Settings],
    pg_schema_url: str,
    nats_bus: dict[str, Any],
    tmp_path: Path,
) -> None:
    from tests.fake_slack import fake_slack_api

    with fake_slack_api() as slack, gated_llm() as llm:
        settings = worker_settings(
            make_settings,
            pg_schema_url,
            nats_bus,
            # The model endpoint holds the first call, so the worker is inside an item (in its
            # sentiment node) for as long as the test needs to kill it there.
            llm_provider="openai",
            llm_base_url=llm["base_url"],
            llm_nodes={"sentiment"},
            llm_timeout_s=60,
            slack_bot_token="xoxb-test",
            slack_signing_secret="test-secret",
            slack_channel="CDESK",
            slack_api_url=slack["url"],
        )
        env = settings_env(settings)
        publish_unique(settings, [HACK, TARIFF])
        with newsdesk(["-v", "worker"], env, tmp_path / "worker-1.log") as first:
            wait_until(llm["held"].is_set, 120, "the worker to be mid-item", first)
            first.kill()
        [held_request] = llm["held_bodies"]
        killed_item = "hack-1" if "Bybit" in held_request else "tariff-1"
        llm["gate"].set()  # from now on the model answers at once (and badly: degraded)

        store = Store(pg_schema_url)
        try:
            with newsdesk(["-v", "worker"], env, tmp_path / "worker-2.log") as second:
                wait_until(
                    lambda: (
                        len(store.list_approvals("pending")) == 2 and unique_depth(settings) == 0
                    ),
                    120,
                    "both stories to wait for a trader",
                    second,
                )
                log = second.log()
            runs = finished(log)
            # The killed item came back (a second delivery) and was finished by the restart.
            assert [delivery for _, _, delivery in runs[killed_item]] == [2]
            posts = [p for p in slack["of"]("chat.postMessage") if "thread_ts" not in p]
            posted = sorted(i for p in posts for i in ("hack-1", "tariff-1") if i in json.dumps(p))
            assert posted == ["hack-1", "tariff-1"]  # each story posted exactly once
            assert analysed(store) == 2

            # Any process resumes any waiting thread: this one approves a worker's story.
            quiet = settings.model_copy(update={"llm_provider": "none"})
            with open_runner(quiet) as runner:
                runner.resume(killed_item, Decision(decision="approve", user="UTRADER1"))
            approval = store.get_approval(killed_item)
            assert approval is not None and approval.status == "approved"
            assert len(store.decisions_for(killed_item)) == 1
        finally:
            store.close()


def test_a_redelivered_story_waits_while_another_process_works_on_it(
    make_settings: Callable[..., Settings], pg_schema_url: str
) -> None:
    """A consumer that stalled past its ack wait still holds its story's lock: the redelivery
    steps back (Busy, nak'ed for later) instead of running the same graph thread twice."""
    settings = make_settings(
        database_url=pg_schema_url, bus_url="memory://", dedup_verifier="none", bus_ack_wait_s=0.5
    )
    elsewhere = Store(pg_schema_url)  # the stalled process
    bus = open_bus(settings)
    queue = bus.queue("unique")
    stop = threading.Event()
    try:
        with open_runner(settings) as runner:
            analyst = Analyst(runner, ThreadLocks(), "worker:unique")
            consumer = consumer_for(settings, queue, analyst.handle, analyst.give_up)
            queue.publish([item_message(NewsItem.model_validate(HACK))])
            thread = threading.Thread(target=consumer.run, args=(stop,), daemon=True)
            with elsewhere.exclusively("news-hack-1", wait=False) as held:
                assert held
                thread.start()
                time.sleep(2.0)
                assert not analyst.outcomes and not runner.deps.store.item_exists("hack-1")
                assert queue.depth() == 1
            wait_until(lambda: queue.depth() == 0, 60, "the story to be finished")
            stop.set()
            thread.join(10)
            [outcome] = analyst.outcomes
            assert outcome.item_id == "hack-1" and outcome.pending_approval
    finally:
        stop.set()
        bus.close()
        elsewhere.close()


def test_a_pools_workers_use_its_model_server_and_split_the_cores(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Children get the pool's server URL, so none starts its own on the fixed port."""
    monkeypatch.delenv("NEWSDESK_LLM_BASE_URL", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    bundled = make_settings(llm_provider="llamacpp", llm_port=8765)
    assert bundled.manages_llm_server
    env = child_env(bundled, None, processes=2)
    assert env["NEWSDESK_LLM_BASE_URL"] == "http://127.0.0.1:8765/v1"
    assert Settings(llm_provider="llamacpp", llm_base_url=env["NEWSDESK_LLM_BASE_URL"]).llm_config
    assert not Settings(llm_base_url=env["NEWSDESK_LLM_BASE_URL"]).manages_llm_server
    assert env["OMP_NUM_THREADS"] == str(max(1, (os.cpu_count() or 1) // 2))
    # A configured endpoint (SGLang on a GPU host) is the children's as it is the pool's.
    external = make_settings(llm_provider="sglang", llm_base_url="http://gpu-host:30000/v1")
    assert "NEWSDESK_LLM_BASE_URL" not in child_env(external, None, processes=2)
