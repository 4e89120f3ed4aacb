"""The Store on SQLite and PostgreSQL: every test runs against both backends.

PostgreSQL tests use a fresh schema per test on NEWSDESK_TEST_PG_URL (default: the local `test`
database). They skip when the server is unreachable, unless CI is set: then they fail.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.orm import Session

from core.records import (
    ApprovalSummary,
    Decision,
    DedupVerdict,
    Impact,
    NewsItem,
    Recommendation,
    Sentiment,
    TaggedAsset,
    Urgency,
)
from tests.conftest import PG_URL
from tools.db import MAX_EXCERPT_CHARS, MIGRATIONS_DIR, Base, Store
from tools.db.models import Run

TABLES = {
    "items",
    "stories",
    "duplicate_links",
    "rejections",
    "analyses",
    "recommendations",
    "approvals",
    "decisions",
    "runs",
    "spread_overrides",
    "feedback",
    "seen_requests",
    "rss_feeds",
    "rss_seen_entries",
    "inbox",
}
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def head_revision() -> str:
    """The one head of the migration chain (get_current_head refuses a forked chain)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


HEAD = head_revision()
UNIQUE = DedupVerdict(verdict="unique", method="none")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        # A nested path: the Store must create the missing directory itself.
        return f"sqlite:///{tmp_path / 'nested' / 'newsdesk.db'}"
    return str(request.getfixturevalue("pg_schema_url"))


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store(db_url)
    s.migrate()
    yield s
    s.close()


def news(item_id: str, minutes: int = 0, **kw: object) -> NewsItem:
    fields: dict[str, object] = {
        "id": item_id,
        "source": "wire",
        "title": f"Headline {item_id}",
        "text": "Body text",
        "published_at": T0 + timedelta(minutes=minutes),
    }
    fields.update(kw)
    return NewsItem.model_validate(fields)


def decision(kind: str = "approve", user: str = "alice") -> Decision:
    return Decision.model_validate({"decision": kind, "user": user, "ts": T0})


def summary(item_id: str, symbol: str = "BTC") -> ApprovalSummary:
    return ApprovalSummary(
        item_id=item_id,
        headline=f"Headline {item_id}",
        source="wire",
        urgency=Urgency(level="high", score=0.8),
        sentiment=Sentiment(label="bearish", score=-0.6, confidence=0.8),
        impact=Impact(),
        recommendations=[
            Recommendation(
                symbol=symbol,
                widen_bps=12.0,
                horizon_minutes=30,
                move_probability=0.6,
                confidence=0.7,
                rationale="exchange hack",
                policy_bps=12.0,
            )
        ],
    )


def add_pending(store: Store, item_id: str) -> None:
    store.save_item(news(item_id), f"h-{item_id}", None, UNIQUE)
    expires = T0 + timedelta(minutes=10)
    assert store.create_approval(item_id, f"thread-{item_id}", expires, summary(item_id))


def test_migrate_from_empty(db_url: str) -> None:
    s = Store(db_url)
    try:
        assert not TABLES & set(inspect(s.engine).get_table_names())
        s.migrate()
        s.migrate()  # a second upgrade is a no-op
        assert TABLES <= set(inspect(s.engine).get_table_names())
        with s.engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == HEAD
    finally:
        s.close()


def test_processes_starting_together_migrate_one_at_a_time(db_url: str) -> None:
    """Pooled workers open the same fresh database at once; every one of them must start."""
    from concurrent.futures import ThreadPoolExecutor

    stores = [Store(db_url) for _ in range(3)]
    try:
        with ThreadPoolExecutor(len(stores)) as pool:
            list(pool.map(Store.migrate, stores))  # raises if any of them failed
        with stores[0].engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == HEAD
    finally:
        for s in stores:
            s.close()


def test_a_story_is_worked_on_by_one_process_at_a_time(db_url: str, store: Store) -> None:
    other = Store(db_url)  # another process's store: its own connections
    try:
        with store.exclusively("news-a", wait=False) as first:
            assert first
            with other.exclusively("news-a", wait=False) as second:
                # PostgreSQL: held elsewhere. SQLite (one machine): always granted.
                assert second is (store.engine.dialect.name != "postgresql")
            with other.exclusively("news-b", wait=False) as unrelated:
                assert unrelated
        with other.exclusively("news-a", wait=False) as after:
            assert after
    finally:
        other.close()


def test_models_match_migration(store: Store) -> None:
    with store.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


def test_save_and_find_by_hash(store: Store) -> None:
    assert store.find_by_hash("abc") is None
    assert not store.item_exists("a")
    store.save_item(news("b", minutes=5), "abc", None, UNIQUE)
    store.save_item(news("a", minutes=0), "abc", None, UNIQUE)
    store.save_item(news("c"), "other", None, UNIQUE)
    assert store.item_exists("a")
    assert store.find_by_hash("abc") == ("a", None)  # the earliest published wins


def test_save_item_is_idempotent(store: Store) -> None:
    store.save_item(news("a"), "h1", np.ones(4, dtype=np.float32), UNIQUE)
    sid = store.create_story(news("a"))
    related = DedupVerdict(
        verdict="related", method="window", nearest_id="x", similarity=0.6, story_id=None
    )
    store.save_item(news("a"), "h1", None, related)
    view = store.item_view("a")
    assert view is not None
    assert (view.verdict, view.dedup_method, view.similarity) == ("related", "window", 0.6)
    assert view.story_id == sid  # a None story_id does not wipe the link
    assert view.embedding_dim == 4  # a None embedding keeps the stored one
    assert view.status == "received"
    counts = store.counts()
    assert (counts.items, counts.related, counts.unique) == (1, 1, 0)


def test_story_creation_and_linking(store: Store) -> None:
    store.save_item(news("a", title="Fed cuts rates"), "h-a", None, UNIQUE)
    sid = store.create_story(news("a", title="Fed cuts rates"))
    assert store.create_story(news("a")) == sid  # replay-safe
    assert store.story_for("a") == sid
    story = store.story_view(sid)
    assert story is not None
    assert (story.headline, story.item_count, story.duplicate_count) == (
        "Fed cuts rates",
        1,
        0,
    )

    dup = DedupVerdict(
        verdict="duplicate", method="window", nearest_id="a", similarity=0.9, story_id=sid
    )
    rel = DedupVerdict(verdict="related", method="window", nearest_id="a", similarity=0.6)
    store.save_item(news("b", minutes=1), "h-b", None, dup)
    store.link_to_story("b", dup)
    store.link_to_story("b", dup)  # replay does not count twice
    store.save_item(news("c", minutes=2), "h-c", None, rel)
    store.link_to_story("c", rel)  # story found through the nearest item

    story = store.story_view(sid)
    assert story is not None
    assert (story.item_count, story.duplicate_count) == (3, 1)
    assert story.last_seen_at >= story.created_at
    assert store.story_for("c") == sid
    assert store.counts().stories == 1


def test_concurrent_links_all_count(store: Store) -> None:
    store.save_item(news("root"), "h", None, UNIQUE)
    sid = store.create_story(news("root"))
    verdict = DedupVerdict(verdict="duplicate", method="window", nearest_id="root", story_id=sid)
    ids = [f"d{i}" for i in range(8)]
    for item_id in ids:
        store.save_item(news(item_id), "h", None, verdict)
    threads = [threading.Thread(target=store.link_to_story, args=(i, verdict)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    story = store.story_view(sid)
    assert story is not None
    assert (story.item_count, story.duplicate_count) == (9, 8)


def test_indexed_embeddings(store: Store) -> None:
    assert store.indexed_embeddings(384) == []

    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((3, 384)).astype(np.float32)
    store.save_item(news("old", minutes=-120), "h0", vectors[0], UNIQUE)
    store.save_item(news("new", minutes=10), "h1", vectors[1], UNIQUE)
    dup = DedupVerdict(verdict="duplicate", method="window", nearest_id="new")
    store.save_item(news("dup", minutes=20), "h2", vectors[2], dup)
    store.save_item(news("noemb", minutes=30), "h3", None, UNIQUE)
    # A vector from another embedding model is not comparable and must be skipped.
    store.save_item(news("other", minutes=40), "h4", vectors[0][:128], UNIQUE)

    rows = store.indexed_embeddings(384)
    assert [r.item_id for r in rows] == ["old", "new", "dup"]
    assert [r.verdict for r in rows] == ["unique", "unique", "duplicate"]
    assert all(r.published_at.tzinfo is not None for r in rows)
    assert all(r.vector.dtype == np.float32 for r in rows)
    assert np.array_equal(np.vstack([r.vector for r in rows]), vectors)
    assert [r.item_id for r in store.indexed_embeddings(128)] == ["other"]


def test_create_approval_is_idempotent(store: Store) -> None:
    store.save_item(news("a"), "h", None, UNIQUE)
    expires = T0 + timedelta(minutes=10)
    assert store.create_approval("a", "thread-a", expires, summary("a", "BTC")) is True
    assert store.create_approval("a", "thread-a", expires, summary("a", "ETH")) is False
    approval = store.get_approval("a")
    assert approval is not None and approval.pending
    assert approval.summary == summary("a", "BTC")
    assert store.get_approval_by_thread("thread-a") == approval
    assert store.list_approvals() == [approval]
    assert store.counts().approvals["pending"] == 1
    # Listed after its expiry, a story nobody decided reads as expired.
    assert approval.status_at(expires - timedelta(seconds=1)) == "pending"
    assert approval.status_at(expires + timedelta(minutes=40)) == "expired"

    store.set_approval_message("a", "C123", "1700000000.000100")
    approval = store.get_approval("a")
    assert approval is not None
    assert (approval.channel, approval.message_ts) == ("C123", "1700000000.000100")


def test_decide_exactly_once(store: Store) -> None:
    add_pending(store, "a")
    applied, approval = store.decide("a", decision("approve", "alice"))
    assert applied
    assert (approval.status, approval.decided_by) == ("approved", "alice")

    applied, approval = store.decide("a", decision("reject", "bob"))
    assert not applied
    assert (approval.status, approval.decided_by) == ("approved", "alice")
    audit = store.decisions_for("a")
    assert [(d.decision, d.user) for d in audit] == [("approve", "alice")]
    assert store.list_approvals() == []
    assert [a.item_id for a in store.list_approvals(None)] == ["a"]

    with pytest.raises(KeyError):
        store.decide("missing", decision())


def test_decide_race(store: Store) -> None:
    for round_no in range(3):
        item_id = f"race{round_no}"
        add_pending(store, item_id)
        barrier = threading.Barrier(2)
        results: dict[str, bool] = {}

        def worker(
            item_id: str, user: str, kind: str, barrier: threading.Barrier, results: dict[str, bool]
        ) -> None:
            barrier.wait()
            applied, _ = store.decide(item_id, decision(kind, user))
            results[user] = applied

        threads = [
            threading.Thread(target=worker, args=(item_id, user, kind, barrier, results))
            for user, kind in (("alice", "approve"), ("bob", "reject"))
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

        assert sorted(results.values()) == [False, True]
        winner = next(user for user, applied in results.items() if applied)
        audit = store.decisions_for(item_id)
        assert [d.user for d in audit] == [winner]
        approval = store.get_approval(item_id)
        assert approval is not None and approval.decided_by == winner


def test_timestamps_are_tz_aware_utc(store: Store) -> None:
    plus_two = timezone(timedelta(hours=2))
    store.save_item(
        news("a", published_at=datetime(2025, 3, 1, 14, 0, tzinfo=plus_two)), "h", None, UNIQUE
    )
    view = store.item_view("a")
    assert view is not None
    assert view.published_at == datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    assert view.published_at.utcoffset() == view.received_at.utcoffset() == timedelta(0)

    expires = datetime(2025, 3, 1, 9, 30, tzinfo=timezone(timedelta(hours=-5)))
    store.create_approval("a", "t", expires, summary("a"))
    approval = store.get_approval("a")
    assert approval is not None
    assert approval.expires_at.tzinfo == UTC and approval.requested_at.tzinfo == UTC
    assert approval.expires_at == expires
    store.decide("a", decision())
    approval = store.get_approval("a")
    assert approval is not None and approval.decided_at is not None
    assert approval.decided_at.tzinfo == UTC
    assert store.decisions_for("a")[0].ts == T0


def test_rejections_saved(store: Store) -> None:
    store.save_rejection("feed.jsonl", 3, "invalid json", "{oops")
    store.save_rejection("feed.jsonl", 9, "missing id", "x" * 10_000)
    assert store.counts().rejections == 2
    first, second = store.rejections()
    assert (first.line_no, first.reason, first.raw_excerpt) == (3, "invalid json", "{oops")
    # A megabyte line is kept as an excerpt a human can read, not stored whole.
    assert second.raw_excerpt == "x" * MAX_EXCERPT_CHARS


def test_item_view_has_analysis_and_recommendations(store: Store) -> None:
    assert store.item_view("nope") is None
    store.save_item(news("a"), "h", None, UNIQUE)
    asset = TaggedAsset(symbol="BTC", name="Bitcoin", asset_class="crypto", vol_class="high")
    urgency = Urgency(level="high", score=0.8, reasons=["hack"])
    sentiment = Sentiment(label="bearish", score=-0.7, confidence=0.9)
    store.save_analysis(
        "a",
        assets=[asset],
        urgency=None,
        sentiment=None,
        impact=None,
        route=None,
        degraded_nodes=["impact"],
        errors=["timeout"],
        timings_ms={"impact": 1.0},
        llm_calls=0,
    )
    store.save_analysis(
        "a",
        assets=[asset],
        urgency=urgency,
        sentiment=sentiment,
        impact=None,
        route="material",
        degraded_nodes=[],
        errors=[],
        timings_ms={"urgency": 1.5},
        llm_calls=2,
    )
    rec = Recommendation(
        symbol="BTC",
        widen_bps=12.0,
        horizon_minutes=30,
        move_probability=0.6,
        confidence=0.7,
        rationale="exchange hack",
        policy_bps=10.0,
        llm_adjusted=True,
    )
    store.save_recommendations("a", [rec, rec.model_copy(update={"symbol": "ETH"})])
    store.save_recommendations("a", [rec])  # replaces
    store.set_item_status("a", "analysed")

    view = store.item_view("a")
    assert view is not None
    assert view.status == "analysed" and view.degraded is False
    analysis = view.analysis
    assert analysis is not None
    assert analysis.route == "material" and analysis.llm_calls == 2
    assert analysis.assets == [asset]
    assert analysis.urgency == urgency and analysis.sentiment == sentiment
    assert analysis.impact is None
    assert analysis.timings_ms == {"urgency": 1.5}
    assert view.recommendations == [rec]
    assert view.approval is None

    with pytest.raises(ValueError):
        store.set_item_status("a", "bogus")


def test_runs(store: Store) -> None:
    run_id = store.start_run("sample_news.jsonl")
    store.finish_run(run_id, {"items": 3})
    with Session(store.engine) as s:
        run = s.scalar(select(Run).where(Run.id == run_id))
        assert run is not None
        assert run.report == {"items": 3}
        assert run.finished_at is not None and run.finished_at.tzinfo == UTC


@pytest.mark.postgres
def test_store_survives_dropped_postgres_connections(pg_schema_url: str) -> None:
    """What a PostgreSQL restart does to a worker: every pooled connection dies at once."""
    store = Store(pg_schema_url)
    store.migrate()
    store.save_item(news("before"), "h1", None, UNIQUE)
    with store.engine.connect() as conn:
        own_pid = conn.execute(text("select pg_backend_pid()")).scalar()
    killer = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with killer.connect() as conn:
        killed = conn.execute(text("select pg_terminate_backend(:pid)"), {"pid": own_pid}).scalar()
    killer.dispose()
    assert killed is True
    # The pooled connection is dead; pre-ping replaces it and nothing is lost.
    store.save_item(news("after", minutes=1), "h2", None, UNIQUE)
    assert store.item_exists("before") and store.item_exists("after")
    store.close()


def test_a_request_signature_is_accepted_once(store: Store) -> None:
    assert store.first_sighting("v0=abc") is True
    assert store.first_sighting("v0=abc") is False
    assert store.first_sighting("v0=def") is True


def test_rss_feed_state(store: Store) -> None:
    url = "https://status.northgate.example/history.atom"
    keep = timedelta(days=30)
    assert store.feed_state(url).etag is None and store.feed_state(url).seen_ids == frozenset()

    store.record_feed_fetch(
        url, T0, '"v1"', "Sat, 01 Mar 2025 12:00:00 GMT", ["a", "b"], ["a", "b"], keep
    )
    store.record_feed_unchanged(url, T0 + timedelta(minutes=1))
    store.record_feed_error(url, T0 + timedelta(minutes=2), "HTTP 503 Service Unavailable")
    store.record_feed_error(url, T0 + timedelta(minutes=3), "timed out: no answer within 10 s")

    state = store.feed_state(url)
    # Failures keep the validators and the seen ids: the next poll asks for the same document.
    assert (state.etag, state.last_modified) == ('"v1"', "Sat, 01 Mar 2025 12:00:00 GMT")
    assert state.seen_ids == {"a", "b"}
    assert state.last_polled_at == T0 + timedelta(minutes=3)
    assert state.last_success_at == T0 + timedelta(minutes=1)
    assert (state.last_error, state.consecutive_errors) == ("timed out: no answer within 10 s", 2)

    # 40 days on, "a" has left the feed and is past the retention; "b" is still listed.
    later = T0 + timedelta(days=40)
    store.record_feed_fetch(url, later, None, None, ["c"], ["b", "c"], keep)
    state = store.feed_state(url)
    assert state.seen_ids == {"b", "c"}
    assert (state.etag, state.last_error, state.consecutive_errors) == (None, None, 0)
    assert store.feed_state("https://other.example/rss").seen_ids == frozenset()
