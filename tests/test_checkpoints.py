"""Checkpoints written before the records moved from graph.state to core.records still resume."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import pytest

from core.records import Decision, NewsItem
from core.settings import Settings
from graph.runner import open_runner

# A story waiting for approval, written by the code of commit f382f33 (llm_provider none).
WAITING_STORY = Path(__file__).parent / "fixtures" / "waiting_story_f382f33"


def test_a_story_waiting_since_before_the_move_resumes(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    data_dir = tmp_path / "var"
    shutil.copytree(WAITING_STORY, data_dir)
    with ExitStack() as stack:
        runner = stack.enter_context(open_runner(make_settings(data_dir=data_dir)))
        snapshot = runner.graph.get_state({"configurable": {"thread_id": "news-hack-1"}})
        assert snapshot.next == ("await_approval",)
        item = snapshot.values["item"]
        # Rebuilt as the record it was, from its old module name, not left as a dict.
        assert isinstance(item, NewsItem) and item.id == "hack-1"
        approval = runner.deps.store.get_approval("hack-1")
        assert approval is not None and approval.summary.recommendations[0].symbol == "ETH"

        final = runner.resume("hack-1", Decision(decision="approve", user="U1"))

        assert final["applied"] is True
        overrides = {o.asset for o in runner.deps.store.active_overrides()}
        assert {"ETH", "ETHA", "COIN"} <= overrides


@pytest.mark.postgres
def test_workers_starting_together_set_the_postgres_checkpointer_up_once(
    pg_schema_url: str,
) -> None:
    """Pooled workers open the PostgreSQL checkpointer of a fresh database at the same time."""
    from concurrent.futures import ThreadPoolExecutor

    from tools.checkpoints import open_checkpointer

    def open_one(_: int) -> None:
        with open_checkpointer(pg_schema_url) as saver:
            assert saver.get_tuple({"configurable": {"thread_id": "none"}}) is None

    with ThreadPoolExecutor(3) as pool:
        list(pool.map(open_one, range(3)))  # raises if any of them failed
