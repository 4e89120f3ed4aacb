"""The compiled news graph: real items end to end, interrupt/resume, restarts, PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

import pytest

from core.records import Decision, NewsItem
from core.settings import Settings
from graph.runner import open_runner, run_records
from tests.conftest import HACK as HACK_RAW
from tests.conftest import SAMPLE
from tools.sources import read_records

HACK = NewsItem.model_validate(HACK_RAW)


def test_interrupt_and_resume_across_a_restart(make_settings: Callable[..., Settings]) -> None:
    with open_runner(make_settings()) as runner:
        outcome = runner.process(HACK)
        assert outcome.verdict == "unique" and outcome.route == "material"
        assert outcome.pending_approval
        pending = runner.deps.store.list_approvals("pending")
        assert [a.item_id for a in pending] == ["hack-1"]
        assert pending[0].thread_id == "news-hack-1"
    # A new process: fresh deps and a fresh checkpointer on the same files.
    with open_runner(make_settings()) as runner:
        state = runner.graph.get_state({"configurable": {"thread_id": "news-hack-1"}})
        assert state.next == ("await_approval",)
        decision = Decision(decision="approve", user="U123", ts=datetime.now(UTC))
        final = runner.resume("hack-1", decision)
        assert final["applied"] is True and final["decision"].user == "U123"
        approval = runner.deps.store.get_approval("hack-1")
        assert approval is not None and approval.status == "approved"
        assert approval.decided_by == "U123"
        assert len(runner.deps.store.decisions_for("hack-1")) == 1
        # A second click resumes nothing: the thread is finished and the record unchanged.
        runner.resume("hack-1", Decision(decision="reject", user="U999", ts=datetime.now(UTC)))
        assert runner.deps.store.get_approval("hack-1").status == "approved"
        assert len(runner.deps.store.decisions_for("hack-1")) == 1


class ManualClock:
    """The server's clock, moved by the test instead of by sleeping."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def test_decision_after_expiry_is_recorded_as_expired(
    make_settings: Callable[..., Settings],
) -> None:
    clock = ManualClock(datetime(2025, 2, 21, 14, 0, tzinfo=UTC))
    with open_runner(make_settings(approval_expiry_minutes=10)) as runner:
        runner.deps.clock = clock
        runner.process(HACK)
        sec = "SEC sues Coinbase, calls it an unregistered exchange"
        assert runner.process(
            HACK.model_copy(update={"id": "sec-1", "title": sec})
        ).pending_approval
        assert runner.deps.store.get_approval("hack-1").expires_at == clock.now + timedelta(
            minutes=10
        )
        clock.advance(minutes=9, seconds=59)
        in_time = runner.resume("sec-1", Decision(decision="approve", user="U1"))
        assert in_time["applied"] is True
        clock.advance(seconds=2)
        # The caller's timestamp claims the click was in time; the server's clock decides.
        backdated = Decision(decision="approve", user="U1", ts=clock.now - timedelta(minutes=5))
        final = runner.resume("hack-1", backdated)
        assert final["applied"] is False and final["decision"].decision == "expired"
        assert runner.deps.store.get_approval("hack-1").status == "expired"
        assert runner.deps.store.get_approval("sec-1").status == "approved"


def test_postgres_store_and_checkpointer(
    make_settings: Callable[..., Settings], pg_schema_url: str
) -> None:
    with open_runner(make_settings(database_url=pg_schema_url)) as runner:
        assert runner.deps.settings.resolved_checkpoint_url == pg_schema_url
        assert runner.process(HACK).pending_approval
    with open_runner(make_settings(database_url=pg_schema_url)) as runner:
        copy = HACK.model_copy(update={"id": "hack-2", "author": "someone-else"})
        assert runner.process(copy).verdict == "duplicate"  # index rebuilt from PostgreSQL
        final = runner.resume(
            "hack-1", Decision(decision="reject", user="U7", ts=datetime.now(UTC))
        )
        assert final["applied"] is False
        assert runner.deps.store.get_approval("hack-1").status == "rejected"


@pytest.mark.llm
@pytest.mark.slow
def test_real_items_through_the_real_graph_with_the_local_llm(
    make_settings: Callable[..., Settings], llm_settings: dict[str, Any]
) -> None:
    """A slice of the bundled sample: copies cost no tokens, every item is accounted for."""
    records = read_records(SAMPLE, 8000, 2_000_000)
    # The GM-recall story re-posted by many outlets, then a run of crypto headlines and posts.
    sample = [r for r in records if r.id.startswith("story-")][:12]
    sample += list(islice((r for r in records if r.id.startswith(("cp-", "musk-"))), 10))
    with open_runner(make_settings(**llm_settings)) as runner:
        report = run_records(runner, sample, "sample-slice")
    assert (
        report.items
        == len(sample)
        == (report.rejected + report.duplicates + report.related + report.unique)
    )
    assert report.duplicates > 0
    assert report.llm_calls > 0
    assert report.llm_calls_on_duplicates == 0
    assert report.recommendations_out_of_bounds == 0
    assert report.analysed == report.material + report.routine
    analysis = runner.deps.store.item_view(sample[0].id)
    assert analysis is not None
    llm_votes = [
        o
        for o in (runner.deps.store.item_view(r.id) for r in sample)
        if o and o.analysis and o.analysis.sentiment and "llm" in o.analysis.sentiment.votes
    ]
    # The local model answered sentiment questions in valid JSON (its grammar sees to that).
    assert llm_votes


def test_rejected_input_and_a_failing_node_are_recorded_and_recovered(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    with open_runner(make_settings()) as runner:
        # Nothing but markup: normalize rejects it and the graph stops there.
        empty = HACK.model_copy(update={"id": "empty-1", "title": "<b></b><br/>"})
        outcome = runner.process(empty)
        assert outcome.verdict == "rejected" and "no text left" in outcome.reason
        assert not runner.deps.store.item_exists("empty-1")

        # A node that blows up: the item is recorded as rejected and the stream goes on.
        real_match = runner.deps.catalog.match

        def broken(text: str) -> list:
            raise RuntimeError("catalog unavailable")

        monkeypatch.setattr(runner.deps.catalog, "match", broken)
        failed = runner.process(HACK)
        assert failed.verdict == "rejected" and "catalog unavailable" in failed.reason
        assert runner.deps.store.counts().rejections == 2

        # Replaying the item resumes its thread where it stopped, instead of calling it a copy.
        monkeypatch.setattr(runner.deps.catalog, "match", real_match)
        recovered = runner.process(HACK)
        assert recovered.verdict == "unique" and recovered.route == "material"
        assert recovered.pending_approval
