"""Slack: the Block Kit approval message, posting it, and writing the decision back into it."""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from core.records import ApprovalSummary
from core.views import ApprovalView
from tools.spread_policy import adjustment_error

log = logging.getLogger("newsdesk.slack")
MAX_RECS_SHOWN = 6


def _text(markdown: str) -> dict[str, Any]:
    # Section text is capped at 3,000 characters by Slack.
    return {"type": "section", "text": {"type": "mrkdwn", "text": markdown[:2900]}}


def _escape(value: object) -> str:
    """News text is untrusted: it must not ping channels or forge links in the message."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def story_blocks(summary: ApprovalSummary) -> list[dict[str, Any]]:
    """Everything a trader needs to decide, in the order they read it."""
    sentiment, urgency, impact = summary.sentiment, summary.urgency, summary.impact
    votes = ", ".join(
        f"{name} {vote.label} {vote.score:+.2f}" for name, vote in sorted(sentiment.votes.items())
    )
    direct = ", ".join(a.symbol for a in impact.direct) or "none named"
    knock_on = ", ".join(
        f"{a.symbol} ({a.relation} {a.via or ''})".replace(" )", ")") for a in impact.spillover
    )
    recs = summary.recommendations
    lines = [
        f"*{r.symbol}* widen {r.widen_bps:.1f} bps for {r.horizon_minutes} min "
        f"(move p {r.move_probability:.2f}, conf {r.confidence:.2f})"
        for r in recs[:MAX_RECS_SHOWN]
    ]
    if len(recs) > MAX_RECS_SHOWN:
        lines.append(f"... and {len(recs) - MAX_RECS_SHOWN} more")
    byline = " · ".join(_escape(p) for p in (summary.source, summary.author) if p)
    blocks = [
        _text(f"*{_escape(summary.headline)}*\n{byline}"),
        _text(
            f"*Assets:* {_escape(direct)}\n"
            f"*Urgency:* {urgency.level} ({urgency.score:.2f})\n"
            f"*Sentiment:* {sentiment.label} {sentiment.score:+.2f}, "
            f"confidence {sentiment.confidence:.2f} — votes: {votes or 'none'}"
            + (f"\n*Knock-on:* {_escape(knock_on)}" if knock_on else "")
        ),
        _text("*Recommendation*\n" + ("\n".join(lines) or "no widening")),
    ]
    if recs:
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": _escape(recs[0].rationale)[:2900]}],
            }
        )
    if summary.degraded:
        blocks.append(
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": ":warning: degraded: non-LLM fallback used for "
                        + ", ".join(summary.degraded),
                    }
                ],
            }
        )
    return blocks


def feedback_block(item_id: str) -> dict[str, Any]:
    return {
        "type": "actions",
        "block_id": "feedback",
        "elements": [
            {
                "type": "button",
                "action_id": "feedback_useful",
                "value": item_id,
                "text": {"type": "plain_text", "text": ":+1: Useful"},
            },
            {
                "type": "button",
                "action_id": "feedback_not_useful",
                "value": item_id,
                "text": {"type": "plain_text", "text": ":-1: Not useful"},
            },
        ],
    }


def approval_blocks(item_id: str, summary: ApprovalSummary) -> list[dict[str, Any]]:
    buttons = [
        {
            "type": "button",
            "action_id": "approve",
            "value": item_id,
            "style": "primary",
            "text": {"type": "plain_text", "text": "Approve"},
        },
        {
            "type": "button",
            "action_id": "reject",
            "value": item_id,
            "style": "danger",
            "text": {"type": "plain_text", "text": "Reject"},
        },
        {
            "type": "button",
            "action_id": "adjust",
            "value": item_id,
            "text": {"type": "plain_text", "text": "Adjust"},
        },
    ]
    return [
        *story_blocks(summary),
        {"type": "actions", "block_id": "decision", "elements": buttons},
        feedback_block(item_id),
    ]


def decided_blocks(approval: ApprovalView) -> list[dict[str, Any]]:
    """The story with its buttons replaced by who decided what, and when."""
    when = approval.decided_at.strftime("%Y-%m-%d %H:%M:%S UTC") if approval.decided_at else "?"
    who = f"<@{approval.decided_by}>" if approval.decided_by else "nobody"
    return [
        *story_blocks(approval.summary),
        _text(f":lock: *{approval.status}* by {who} at {when}"),
        feedback_block(approval.item_id),
    ]


def slack_client(token: str, api_url: str) -> WebClient:
    """A Web API client; api_url points at Slack, or at a local stand-in in tests."""
    return WebClient(token=token, base_url=api_url)


class SlackNotifier:
    """Posts approval requests to one channel; the desk stores the returned message ts.

    A Slack API error (rate limit, missing channel, network) is logged and never breaks the
    graph: the story still waits in the approvals table, on the web desk and in the CLI.
    """

    def __init__(self, client: WebClient, channel: str) -> None:
        self.client = client
        self.channel = channel

    def post_for_approval(self, item_id: str, summary: ApprovalSummary) -> tuple[str, str] | None:
        try:
            response = self.client.chat_postMessage(
                channel=self.channel,
                text=_escape(f"Approval needed: {summary.headline or item_id}"[:300]),
                blocks=approval_blocks(item_id, summary),
            )
        except (SlackApiError, OSError) as exc:  # an API error, or Slack unreachable
            log.error("could not post %s to Slack: %s", item_id, exc)
            return None
        return str(response["channel"]), str(response["ts"])

    def update_copies(self, approval: ApprovalView, copies: int) -> str | None:
        if not approval.channel or not approval.message_ts:
            return None
        text = f":repeat: {copies} later cop{'y' if copies == 1 else 'ies'} of this story"
        try:
            if approval.copies_ts is None:
                response = self.client.chat_postMessage(
                    channel=approval.channel, thread_ts=approval.message_ts, text=text
                )
                return str(response["ts"])
            self.client.chat_update(channel=approval.channel, ts=approval.copies_ts, text=text)
        except (SlackApiError, OSError) as exc:  # an API error, or Slack unreachable
            log.error("could not count copies of %s: %s", approval.item_id, exc)
        return None

    def show_decision(self, approval: ApprovalView) -> None:
        if not approval.channel or not approval.message_ts:
            return
        try:
            self.client.chat_update(
                channel=approval.channel,
                ts=approval.message_ts,
                text=f"{approval.status} by {approval.decided_by}",
                blocks=decided_blocks(approval),
            )
        except (SlackApiError, OSError) as exc:  # an API error, or Slack unreachable
            log.error("could not update the message of %s: %s", approval.item_id, exc)


ADJUST_CALLBACK = "adjust_submit"
MAX_ADJUSTABLE = 8


def adjust_modal(
    item_id: str, summary: ApprovalSummary, bounds: dict[str, tuple[float, int, int]]
) -> dict[str, Any]:
    """A modal to edit bps and horizon per asset; bounds[symbol] = (max bps, min h, max h)."""
    blocks: list[dict[str, Any]] = [_text(f"*{_escape(summary.headline)}*")]
    for rec in summary.recommendations[:MAX_ADJUSTABLE]:
        symbol = rec.symbol
        max_bps, min_h, max_h = bounds[symbol]
        blocks += [
            {
                "type": "input",
                "block_id": f"adj:{symbol}:bps",
                "label": {"type": "plain_text", "text": f"{symbol} widen (bps, max {max_bps:g})"},
                "element": {
                    "type": "number_input",
                    "action_id": "value",
                    "is_decimal_allowed": True,
                    "initial_value": f"{rec.widen_bps:g}",
                    "min_value": "0",
                    "max_value": f"{max_bps:g}",
                },
            },
            {
                "type": "input",
                "block_id": f"adj:{symbol}:horizon_minutes",
                "label": {"type": "plain_text", "text": f"{symbol} horizon (minutes)"},
                "element": {
                    "type": "number_input",
                    "action_id": "value",
                    "is_decimal_allowed": False,
                    "initial_value": str(rec.horizon_minutes),
                    "min_value": str(min_h),
                    "max_value": str(max_h),
                },
            },
        ]
    return {
        "type": "modal",
        "callback_id": ADJUST_CALLBACK,
        "private_metadata": item_id,
        "title": {"type": "plain_text", "text": "Adjust widening"},
        "submit": {"type": "plain_text", "text": "Apply"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks,
    }


def read_adjustments(
    values: dict[str, dict[str, Any]], bounds: dict[str, tuple[float, int, int]]
) -> tuple[dict[str, dict[str, float]], dict[str, str]]:
    """Parse the submitted modal; returns (adjustments, errors by block id).

    Slack's number inputs enforce their limits in the client, but a request can be crafted:
    every value is checked again here against the configured bounds.
    """
    adjustments: dict[str, dict[str, float]] = {}
    errors: dict[str, str] = {}
    for block_id, fields in values.items():
        parts = block_id.split(":")
        if len(parts) != 3 or parts[0] != "adj" or parts[1] not in bounds:
            continue
        _, symbol, field = parts
        raw = str(fields.get("value", {}).get("value", "")).strip()
        max_bps, min_h, max_h = bounds[symbol]
        try:
            number = float(raw)
        except ValueError:
            errors[block_id] = "enter a number"
            continue
        problem = adjustment_error(field, number, max_bps, min_h, max_h)
        if problem:
            errors[block_id] = problem
        else:
            adjustments.setdefault(symbol, {})[field] = number
    return adjustments, errors


FEEDBACK_CALLBACK = "feedback_submit"


def feedback_modal(item_id: str, useful: bool) -> dict[str, Any]:
    verdict = "useful" if useful else "not useful"
    return {
        "type": "modal",
        "callback_id": FEEDBACK_CALLBACK,
        "private_metadata": f"{item_id}|{'useful' if useful else 'not_useful'}",
        "title": {"type": "plain_text", "text": "Feedback"},
        "submit": {"type": "plain_text", "text": "Save"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            _text(f"You marked this call *{verdict}*. It is kept for evaluating the desk."),
            {
                "type": "input",
                "block_id": "note",
                "optional": True,
                "label": {"type": "plain_text", "text": "Note (optional)"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": "value",
                    "multiline": True,
                    "max_length": 2000,
                },
            },
        ],
    }
