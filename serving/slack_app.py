"""The Slack Bolt app: Approve / Reject buttons resume the waiting graph.

Bolt verifies every request with the signing secret (forged or older than five minutes:
rejected before any listener runs). Listeners ack() at once and do the work in a lazy
listener, because resuming a graph can take longer than Slack's three seconds.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App, BoltRequest, BoltResponse
from slack_sdk import WebClient

from core.settings import Settings
from serving.desk import DecisionResult, Desk
from tools.slack import (
    ADJUST_CALLBACK,
    FEEDBACK_CALLBACK,
    SlackNotifier,
    adjust_modal,
    feedback_modal,
    read_adjustments,
)

log = logging.getLogger("newsdesk.slack")


def _ack(ack: Ack) -> None:
    ack()


def _reply(result: DecisionResult) -> str:
    approval = result.approval
    if result.outcome == "unknown_item" or approval is None:
        return "This story is not awaiting a decision here."
    who = f"<@{approval.decided_by}>" if approval.decided_by else "nobody"
    when = approval.decided_at.strftime("%H:%M:%S UTC") if approval.decided_at else "?"
    if result.outcome == "expired":
        return f"Too late: this story expired at {approval.expires_at:%H:%M:%S UTC}."
    return f"Already decided: *{approval.status}* by {who} at {when}."


def build_slack_app(settings: Settings, desk: Desk, notifier: SlackNotifier) -> App:
    app = App(
        signing_secret=settings.slack_signing_secret,
        client=notifier.client,
        # Bolt would call auth.test at start-up; the token is checked by the first post.
        token_verification_enabled=False,
    )

    @app.middleware
    def refuse_replays(request: BoltRequest, response: BoltResponse, next: Any) -> Any:
        # Runs after Bolt verified the signature: a copy of a signed request is refused too.
        signature = (request.headers.get("x-slack-signature") or [""])[0]
        if signature and not desk.store.first_sighting(signature):
            log.warning("replayed Slack request refused")
            return BoltResponse(status=401, body="replayed request")
        return next()

    def authorized(user: str, channel: str, client: WebClient) -> bool:
        if user in settings.slack_approvers:
            return True
        log.warning("user %s is not an approver; ignored", user)
        client.chat_postEphemeral(
            channel=channel, user=user, text="You are not authorized to decide on stories."
        )
        return False

    def report(result: DecisionResult, user: str, channel: str, client: WebClient) -> None:
        """The message shows the outcome to everyone; a refused clicker also hears why."""
        if result.approval is not None and result.outcome in ("applied", "expired"):
            notifier.show_decision(result.approval)
        if result.outcome != "applied":
            client.chat_postEphemeral(channel=channel, user=user, text=_reply(result))

    def decide(body: dict[str, Any], client: WebClient, kind: str) -> None:
        user = body["user"]["id"]
        channel = body.get("channel", {}).get("id", settings.slack_channel)
        if authorized(user, channel, client):
            result = desk.decide(body["actions"][0]["value"], kind, user)  # type: ignore[arg-type]
            report(result, user, channel, client)

    def approve(body: dict[str, Any], client: WebClient) -> None:
        decide(body, client, "approve")

    def reject(body: dict[str, Any], client: WebClient) -> None:
        decide(body, client, "reject")

    def open_adjust(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        # views.open needs the trigger id within three seconds: this listener is not lazy.
        ack()
        user = body["user"]["id"]
        item_id = body["actions"][0]["value"]
        approval = desk.store.get_approval(item_id)
        channel = body.get("channel", {}).get("id", settings.slack_channel)
        if not authorized(user, channel, client):
            return
        if approval is None or not approval.pending:
            outcome = "already_decided" if approval else "unknown_item"
            report(DecisionResult(outcome, approval), user, channel, client)
            return
        client.views_open(
            trigger_id=body["trigger_id"],
            view=adjust_modal(item_id, approval.summary, desk.adjust_bounds(item_id)),
        )

    def check_adjust(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        item_id = view["private_metadata"]
        if body["user"]["id"] not in settings.slack_approvers:
            ack(
                response_action="errors",
                errors={
                    next(iter(view["state"]["values"]), "adj"): "You are not authorized to decide."
                },
            )
            return
        _, errors = read_adjustments(view["state"]["values"], desk.adjust_bounds(item_id))
        if errors:
            ack(response_action="errors", errors=errors)
            return
        ack()

    def submit_adjust(body: dict[str, Any], view: dict[str, Any], client: WebClient) -> None:
        item_id = view["private_metadata"]
        user = body["user"]["id"]
        if user not in settings.slack_approvers:
            return
        adjustments, errors = read_adjustments(view["state"]["values"], desk.adjust_bounds(item_id))
        if errors:
            return
        result = desk.decide(item_id, "adjust", user, adjustments=adjustments)
        channel = (result.approval.channel if result.approval else None) or settings.slack_channel
        report(result, user, channel, client)

    def feedback(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        # The verdict is one click; the modal only adds an optional note to it.
        ack()
        action = body["actions"][0]
        useful = action["action_id"] == "feedback_useful"
        client.views_open(
            trigger_id=body["trigger_id"], view=feedback_modal(action["value"], useful)
        )

    def save_feedback(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        ack()
        item_id, verdict = view["private_metadata"].rsplit("|", 1)
        note = (view["state"]["values"].get("note", {}).get("value", {}).get("value") or "").strip()
        desk.store.add_feedback(item_id, body["user"]["id"], verdict == "useful", note)

    app.action("feedback_useful")(feedback)
    app.action("feedback_not_useful")(feedback)
    app.view(FEEDBACK_CALLBACK)(save_feedback)
    app.action("approve")(ack=_ack, lazy=[approve])
    app.action("reject")(ack=_ack, lazy=[reject])
    app.action("adjust")(open_adjust)
    app.view(ADJUST_CALLBACK)(ack=check_adjust, lazy=[submit_adjust])
    return app
