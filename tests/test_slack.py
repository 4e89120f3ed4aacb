"""The real Bolt app behind `newsdesk serve`, driven with requests signed like Slack's, against a
local stand-in for Slack's Web API."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from slack_sdk.signature import SignatureVerifier

from core.settings import Settings
from serving.desk import Desk
from serving.http_app import create_http_app
from serving.slack_app import build_slack_app
from tests.conftest import HACK, skip_or_fail
from tests.fake_slack import fake_slack_api

SECRET = "test-signing-secret"
APPROVER, OUTSIDER = "UTRADER1", "UINTERN9"
TARIFF = {
    "id": "tariff-1",
    "source": "truthsocial",
    "author": "realDonaldTrump",
    "text": "Starting Monday, 50% tariffs on all imports from the European Union. Crash incoming!",
    "published_at": "2025-05-23T12:00:00Z",
}


class Desktop:
    """A serving process: the desk, its HTTP app and a client that signs like Slack."""

    def __init__(self, settings: Settings) -> None:
        self.desk = Desk(settings)  # Slack settings give it a SlackNotifier
        notifier = self.desk.slack_notifier
        assert notifier is not None
        self.closed = False
        self.http = TestClient(
            create_http_app(self.desk, build_slack_app(settings, self.desk, notifier))
        )

    def close(self) -> None:
        if not self.closed:  # closing twice (a test's restart, then teardown) is a no-op
            self.closed = True
            self.http.close()
            self.desk.close()

    def ingest(self, *items: dict[str, Any]) -> None:
        response = self.http.post("/ingest", json=list(items))
        assert response.status_code == 202, response.text
        assert self.desk.wait_idle(120)

    def click(self, action: str, item_id: str, user: str, **signing: Any) -> int:
        return self.send(
            {
                "type": "block_actions",
                "team": {"id": "T1"},
                "api_app_id": "A1",
                "user": {"id": user, "team_id": "T1"},
                "channel": {"id": "CDESK"},
                "container": {"type": "message", "channel_id": "CDESK"},
                "trigger_id": "1.2.3",
                "token": "legacy",
                "actions": [
                    {
                        "type": "button",
                        "action_id": action,
                        "block_id": "decision",
                        "value": item_id,
                        "action_ts": str(time.time()),
                    }
                ],
            },
            **signing,
        ).status_code

    def submit_adjust(self, item_id: str, user: str, values: dict[str, str]) -> Any:
        return self.submit_view(
            "adjust_submit",
            item_id,
            user,
            {block: {"type": "number_input", "value": value} for block, value in values.items()},
        )

    def submit_view(
        self, callback_id: str, private_metadata: str, user: str, inputs: dict[str, Any]
    ) -> Any:
        """Submit a modal: `inputs` maps each input block id to its element's state."""
        return self.send(
            {
                "type": "view_submission",
                "team": {"id": "T1"},
                "api_app_id": "A1",
                "user": {"id": user, "team_id": "T1"},
                "trigger_id": "4.5.6",
                "token": "legacy",
                "view": {
                    "id": "V1",
                    "type": "modal",
                    "callback_id": callback_id,
                    "private_metadata": private_metadata,
                    "state": {"values": {b: {"value": v} for b, v in inputs.items()}},
                },
            }
        )

    def send(self, payload: dict[str, Any], *, secret: str = SECRET, age_s: float = 0) -> Any:
        """POST an interactivity payload signed the way Slack signs it."""
        body = urlencode({"payload": json.dumps(payload)})
        timestamp = str(int(time.time() - age_s))
        signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
        return self.http.post(
            "/slack/events",
            content=body,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Slack-Request-Timestamp": timestamp,
                "X-Slack-Signature": signature,
            },
        )


@pytest.fixture
def slack() -> Iterator[dict[str, Any]]:
    with fake_slack_api() as api:
        yield api


@pytest.fixture
def slack_settings(
    make_settings: Callable[..., Settings], slack: dict[str, Any]
) -> Callable[..., Settings]:
    def factory(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "slack_bot_token": "xoxb-test",
            "slack_signing_secret": SECRET,
            "slack_channel": "CDESK",
            "slack_approvers": {APPROVER},
            "slack_api_url": slack["url"],
        }
        return make_settings(
            **{**values, **overrides},
        )

    return factory


@pytest.fixture
def desktop(slack_settings: Callable[..., Settings]) -> Iterator[Callable[..., Desktop]]:
    """Open serving processes on demand; every one is closed at teardown."""
    opened: list[Desktop] = []

    def open_one(**overrides: Any) -> Desktop:
        opened.append(Desktop(slack_settings(**overrides)))
        return opened[-1]

    yield open_one
    for app in opened:
        app.close()


def wait_status(desk: Desk, item_id: str, status: str, timeout_s: float = 30) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        approval = desk.store.get_approval(item_id)
        if approval is not None and approval.status == status:
            return approval
        time.sleep(0.05)
    raise AssertionError(f"{item_id} never became {status}: {desk.store.get_approval(item_id)}")


def test_post_approve_resume_and_message_updated(
    desktop: Callable[..., Desktop], slack: dict[str, Any]
) -> None:
    app = desktop()
    app.ingest(HACK)
    [post] = slack["wait_for"]("chat.postMessage")
    assert post["channel"] == "CDESK"
    text = json.dumps(post["blocks"])
    assert "Bybit hacked" in text and "ETH" in text and "bps" in text
    assert {"approve", "reject", "adjust"} <= {
        e["action_id"] for b in post["blocks"] if b["type"] == "actions" for e in b["elements"]
    }
    assert app.click("approve", "hack-1", APPROVER) == 200
    [update] = slack["wait_for"]("chat.update")
    approval = wait_status(app.desk, "hack-1", "approved")
    assert approval.decided_by == APPROVER and approval.message_ts
    assert update["ts"] == approval.message_ts
    assert "approved" in json.dumps(update["blocks"])
    assert not any(b.get("block_id") == "decision" for b in update["blocks"])
    assert len(app.desk.store.decisions_for("hack-1")) == 1
    overrides = app.desk.store.active_overrides()
    assert {o.approver for o in overrides} == {APPROVER}
    assert "ETH" in {o.asset for o in overrides}

    # Double click, or Slack retrying: the recorded decision is the answer, nothing changes.
    assert app.click("approve", "hack-1", APPROVER) == 200
    [ephemeral] = slack["wait_for"]("chat.postEphemeral")
    assert "Already decided" in ephemeral["text"] and ephemeral["user"] == APPROVER
    assert len(app.desk.store.decisions_for("hack-1")) == 1
    assert len(slack["of"]("chat.update")) == 1


def test_reject_and_unauthorized_user(
    desktop: Callable[..., Desktop], slack: dict[str, Any]
) -> None:
    app = desktop()
    app.ingest(HACK)
    assert app.click("reject", "hack-1", OUTSIDER) == 200
    [ephemeral] = slack["wait_for"]("chat.postEphemeral")
    assert "not authorized" in ephemeral["text"] and ephemeral["user"] == OUTSIDER
    time.sleep(0.3)
    assert app.desk.store.get_approval("hack-1").status == "pending"
    assert app.click("reject", "hack-1", APPROVER) == 200
    assert "rejected" in json.dumps(slack["wait_for"]("chat.update")[0]["blocks"])
    assert wait_status(app.desk, "hack-1", "rejected").decided_by == APPROVER


def test_forged_stale_and_unsigned_requests_are_refused(
    desktop: Callable[..., Desktop], slack: dict[str, Any]
) -> None:
    app = desktop()
    app.ingest(HACK)
    assert app.click("approve", "hack-1", APPROVER, secret="not-the-secret") == 401
    assert app.click("approve", "hack-1", APPROVER, age_s=6 * 60) == 401
    # A valid request sent twice: the copy is refused before any listener runs.
    payload = {
        "type": "block_actions",
        "team": {"id": "T1"},
        "api_app_id": "A1",
        "user": {"id": OUTSIDER, "team_id": "T1"},
        "channel": {"id": "CDESK"},
        "trigger_id": "1.2.3",
        "token": "legacy",
        "actions": [
            {
                "type": "button",
                "action_id": "feedback_useful",
                "block_id": "feedback",
                "value": "hack-1",
            }
        ],
    }
    body = urlencode({"payload": json.dumps(payload)})
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": SignatureVerifier(SECRET).generate_signature(
            timestamp=timestamp, body=body
        ),
    }
    assert app.http.post("/slack/events", content=body, headers=headers).status_code == 200
    assert app.http.post("/slack/events", content=body, headers=headers).status_code == 401
    assert len(slack["wait_for"]("views.open")) == 1
    unsigned = app.http.post(
        "/slack/events",
        content="payload=%7B%7D",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert unsigned.status_code == 401
    time.sleep(0.3)
    assert app.desk.store.get_approval("hack-1").status == "pending"
    assert slack["of"]("chat.postEphemeral") == [] and slack["of"]("chat.update") == []
    assert len(slack["of"]("views.open")) == 1  # the replay opened nothing


def test_decision_after_expiry_is_refused(
    desktop: Callable[..., Desktop], slack: dict[str, Any]
) -> None:
    app = desktop(approval_expiry_minutes=0.01)
    app.ingest(HACK)
    time.sleep(1.0)
    assert app.click("approve", "hack-1", APPROVER) == 200
    approval = wait_status(app.desk, "hack-1", "expired")
    [update] = slack["wait_for"]("chat.update")
    assert "expired" in json.dumps(update["blocks"])
    [ephemeral] = slack["wait_for"]("chat.postEphemeral")
    assert "expired" in ephemeral["text"]
    assert approval.decided_at is not None


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_restart_between_post_and_click(
    desktop: Callable[..., Desktop],
    slack: dict[str, Any],
    backend: str,
    request: pytest.FixtureRequest,
) -> None:
    overrides = {}
    if backend == "postgresql":
        overrides["database_url"] = request.getfixturevalue("pg_schema_url")
    first = desktop(**overrides)
    first.ingest(HACK, TARIFF)
    posts = slack["wait_for"]("chat.postMessage", 2)
    first.close()

    second = desktop(**overrides)  # a new process on the same database
    second.ingest(HACK)  # the same story again after the restart: no second post
    assert len(slack["of"]("chat.postMessage")) == len(posts) == 2
    assert second.click("approve", "tariff-1", APPROVER) == 200
    slack["wait_for"]("chat.update")  # sent once the resumed graph has finished
    approval = wait_status(second.desk, "tariff-1", "approved")
    assert approval.thread_id == "news-tariff-1"
    state = second.desk.runner.graph.get_state({"configurable": {"thread_id": "news-tariff-1"}})
    assert state.next == () and state.values["applied"] is True
    assert second.desk.store.get_approval("hack-1").status == "pending"


def test_ingest_validates_each_item(desktop: Callable[..., Desktop]) -> None:
    app = desktop()
    response = app.http.post("/ingest", json=[HACK, {"id": "x", "title": "no source"}, 42])
    assert response.status_code == 202
    body = response.json()
    assert body["accepted"] == ["hack-1"]
    assert [r["index"] for r in body["rejected"]] == [1, 2]
    assert "source" in body["rejected"][0]["reason"]
    assert app.http.post("/ingest", json={"id": "y"}).status_code == 400
    assert app.desk.wait_idle(60)
    health = app.http.get("/healthz").json()
    assert health["ok"] and health["pending_approvals"] == 1
    assert app.desk.store.counts().rejections == 3


def test_adjusted_decision_is_clamped_and_published_on_nats(
    desktop: Callable[..., Desktop],
) -> None:
    """An adjust (here from the desk API) stays inside the bounds; overrides reach NATS."""
    import asyncio
    import threading

    nats_url = "nats://127.0.0.1:4222"
    received: list[dict[str, Any]] = []
    ready, done = threading.Event(), threading.Event()

    async def listen() -> None:
        import nats

        try:
            connection = await nats.connect(nats_url, connect_timeout=2, max_reconnect_attempts=0)
        except Exception:
            ready.set()
            return

        async def on_message(msg: Any) -> None:
            received.append(json.loads(msg.data))
            if any(m["asset"] == "ETH" for m in received):
                done.set()

        await connection.subscribe("newsdesk.test.overrides", cb=on_message)
        await connection.flush()
        ready.set()
        await asyncio.get_running_loop().run_in_executor(None, done.wait, 30)
        await connection.close()

    listener = threading.Thread(target=asyncio.run, args=(listen(),), daemon=True)
    listener.start()
    ready.wait(10)
    if not listener.is_alive():
        skip_or_fail(f"NATS not reachable at {nats_url}")

    app = desktop(nats_url=nats_url, nats_subject="newsdesk.test.overrides")
    try:
        app.ingest(HACK)
        pending = app.desk.store.get_approval("hack-1")
        eth = next(r for r in pending.summary.recommendations if r.symbol == "ETH")
        result = app.desk.decide(
            "hack-1",
            "adjust",
            APPROVER,
            adjustments={"ETH": {"bps": 10_000, "horizon_minutes": 15}},
        )
        assert result.outcome == "applied" and result.approval.status == "adjusted"
        overrides = {o.asset: o for o in app.desk.store.active_overrides()}
        cap = app.desk.settings.bps_cap(app.desk.deps.catalog.vol_class("ETH"))
        assert overrides["ETH"].bps == cap < 10_000 and cap >= eth.widen_bps
        assert done.wait(30), "no override arrived on NATS"
        assert {"ETH"} <= {m["asset"] for m in received}
    finally:
        done.set()


def test_adjust_via_the_modal_is_validated_against_the_bounds(
    desktop: Callable[..., Desktop], slack: dict[str, Any]
) -> None:
    app = desktop()
    app.ingest(HACK)
    assert app.click("adjust", "hack-1", APPROVER) == 200
    [opened] = slack["wait_for"]("views.open")
    view = opened["view"]
    assert view["private_metadata"] == "hack-1" and view["callback_id"] == "adjust_submit"
    block_ids = {b.get("block_id") for b in view["blocks"]}
    assert {"adj:ETH:bps", "adj:ETH:horizon_minutes"} <= block_ids
    cap = app.desk.settings.bps_cap(app.desk.deps.catalog.vol_class("ETH"))

    # Out of bounds (a crafted request past the client-side limits): errors, nothing applied.
    refused = app.submit_adjust(
        "hack-1", APPROVER, {"adj:ETH:bps": str(cap + 1), "adj:ETH:horizon_minutes": "9999"}
    )
    assert refused.status_code == 200
    assert refused.json()["response_action"] == "errors"
    assert set(refused.json()["errors"]) == {"adj:ETH:bps", "adj:ETH:horizon_minutes"}
    time.sleep(0.3)
    assert app.desk.store.get_approval("hack-1").status == "pending"

    ok = app.submit_adjust(
        "hack-1", APPROVER, {"adj:ETH:bps": "7.5", "adj:ETH:horizon_minutes": "20"}
    )
    assert ok.status_code == 200 and not ok.content.strip(b" {}")
    # The message is updated once the resumed graph has finished (overrides written).
    assert "adjusted" in json.dumps(slack["wait_for"]("chat.update")[0]["blocks"])
    approval = wait_status(app.desk, "hack-1", "adjusted")
    assert approval.decided_by == APPROVER
    eth = next(o for o in app.desk.store.active_overrides() if o.asset == "ETH")
    assert eth.bps == 7.5


def test_copies_update_a_counter_in_the_thread_and_feedback_is_stored(
    desktop: Callable[..., Desktop], slack: dict[str, Any]
) -> None:
    app = desktop()
    app.ingest(HACK)
    [post] = slack["wait_for"]("chat.postMessage")
    copies = [
        {**HACK, "id": "hack-2", "source": "telegram"},
        {
            **HACK,
            "id": "hack-3",
            "title": "BYBIT HACKED: $1.4 billion in ether drained, "
            "withdrawals halted https://t.co/x",
        },
    ]
    app.ingest(*copies)
    posts = slack["of"]("chat.postMessage")
    top_level = [p for p in posts if "thread_ts" not in p]
    assert len(top_level) == 1, "a copy must never be posted as a new story"
    [counter] = [p for p in posts if "thread_ts" in p]
    approval = app.desk.store.get_approval("hack-1")
    assert counter["thread_ts"] == approval.message_ts and "1 later copy" in counter["text"]
    [update] = slack["wait_for"]("chat.update")
    assert update["ts"] == approval.copies_ts and "2 later copies" in update["text"]

    feedback_ids = {
        e["action_id"]
        for b in post["blocks"]
        if b.get("block_id") == "feedback"
        for e in b["elements"]
    }
    assert feedback_ids == {"feedback_useful", "feedback_not_useful"}
    assert app.click("feedback_not_useful", "hack-1", APPROVER) == 200
    [modal] = slack["wait_for"]("views.open")
    view = modal["view"]
    assert view["private_metadata"] == "hack-1|not_useful"
    for user, verdict, note in (
        (APPROVER, "not_useful", "ETH moved less than 5 bps"),
        (OUTSIDER, "useful", None),
    ):
        submitted = app.submit_view(
            "feedback_submit",
            f"hack-1|{verdict}",
            user,
            {"note": {"type": "plain_text_input", "value": note}},
        )
        assert submitted.status_code == 200
    stored = app.desk.store.feedback_for("hack-1")
    assert [(f.user, f.useful, f.note) for f in stored] == [
        (APPROVER, False, "ETH moved less than 5 bps"),
        (OUTSIDER, True, ""),
    ]
    assert app.desk.store.get_approval("hack-1").status == "pending"


def test_two_approvers_racing_apply_one_decision(
    desktop: Callable[..., Desktop], slack: dict[str, Any]
) -> None:
    import threading

    second_approver = "UTRADER2"
    app = desktop(slack_approvers={APPROVER, second_approver})
    app.ingest(HACK)
    clicks = [
        threading.Thread(target=app.click, args=("approve", "hack-1", APPROVER)),
        threading.Thread(target=app.click, args=("reject", "hack-1", second_approver)),
    ]
    for click in clicks:
        click.start()
    for click in clicks:
        click.join()
    [ephemeral] = slack["wait_for"]("chat.postEphemeral")
    [update] = slack["wait_for"]("chat.update")
    approval = app.desk.store.get_approval("hack-1")
    assert approval.status in {"approved", "rejected"}
    assert len(app.desk.store.decisions_for("hack-1")) == 1
    loser = second_approver if approval.decided_by == APPROVER else APPROVER
    assert ephemeral["user"] == loser and "Already decided" in ephemeral["text"]
    assert approval.status in json.dumps(update["blocks"])


def test_slack_unreachable_never_loses_the_story(desktop: Callable[..., Desktop]) -> None:
    from tests.conftest import free_port

    app = desktop(slack_api_url=f"http://127.0.0.1:{free_port()}/")
    app.ingest(HACK)
    approval = app.desk.store.get_approval("hack-1")
    assert approval is not None and approval.pending and approval.message_ts is None
    assert app.desk.store.counts().rejections == 0
    health = app.http.get("/healthz")
    assert health.status_code == 200 and health.json()["pending_approvals"] == 1
    # Deciding elsewhere still works while Slack is down.
    assert app.desk.decide("hack-1", "approve", APPROVER).outcome == "applied"
