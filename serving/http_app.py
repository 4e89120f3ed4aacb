"""`newsdesk serve`: Slack events, the ingest endpoint, the web desk and a health check.

The web desk is for a trader on the same machine (it listens on 127.0.0.1 by default);
deciding there needs an id from NEWSDESK_SLACK_APPROVERS, like a Slack click does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import Body, FastAPI, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import AwareDatetime, BaseModel, Field
from slack_bolt import App
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from starlette.concurrency import run_in_threadpool

from core.records import NewsItem, Recommendation
from core.settings import Settings
from core.views import FeedEntry
from serving.desk import Desk
from tools.metrics import REJECTED, exposition
from tools.queues import BusUnavailable, QueueFull
from tools.sources import ItemError, parse_item
from tools.spread_policy import adjustment_error

MAX_BATCH = 1_000
DESK_PAGE = Path(__file__).parent / "static" / "desk.html"


class PendingApproval(BaseModel):
    """A story waiting for a decision, as the web desk lists it."""

    item_id: str
    headline: str
    recommendations: list[Recommendation]
    expires_at: AwareDatetime


class WebDecision(BaseModel):
    user: str = ""
    adjustments: dict[str, dict[str, float]] = Field(default_factory=dict)


def intake_item(record: Any, settings: Settings) -> NewsItem:
    """One record of an ingest request as an item, or ItemError with the reason it is refused.

    The same rules as a replay file's line: a record larger than max_line_bytes (as JSON) is
    refused whole; a long title or text is cut to max_text_chars and marked truncated.
    """
    if not isinstance(record, dict):
        raise ItemError(f"item must be a JSON object, got {type(record).__name__}")
    size = len(json.dumps(record, default=str))
    if size > settings.max_line_bytes:
        raise ItemError(
            f"item is {size} bytes as JSON, longer than max_line_bytes={settings.max_line_bytes}"
        )
    return parse_item(record, settings.max_text_chars)


def create_http_app(desk: Desk, slack_app: App | None) -> FastAPI:
    api = FastAPI(title="newsdesk", docs_url="/docs")

    @api.get("/healthz")
    def healthz() -> JSONResponse:
        counts = desk.store.counts()
        try:
            queued: int | None = desk.queued
        except BusUnavailable:
            queued = None
        ok = desk.healthy and queued is not None
        body = {
            "ok": ok,
            "queued": queued,
            "pending_approvals": counts.approvals.get("pending", 0),
            "items": counts.items,
        }
        return JSONResponse(body, 200 if ok else 503)

    @api.get("/metrics")
    def metrics() -> Response:
        return Response(exposition(), media_type=CONTENT_TYPE_LATEST)

    @api.post("/ingest", status_code=202)
    def ingest(payload: Any = Body(...)) -> JSONResponse:  # noqa: B008 - FastAPI's idiom
        """One item (an object) or a batch (a list); each is validated on its own.

        202 means every accepted item is durable on the bus. A full or unreachable bus answers
        503 with Retry-After; resending the whole batch is safe, because the bus drops ids it
        already holds (a JetStream stream filled by a concurrent publisher may have taken part
        of it).
        """
        records = payload if isinstance(payload, list) else [payload]
        if len(records) > MAX_BATCH:
            return JSONResponse({"error": f"at most {MAX_BATCH} items per request"}, 413)
        items: list[NewsItem] = []
        rejected: list[dict[str, Any]] = []
        for index, record in enumerate(records):
            try:
                item = intake_item(record, desk.settings)
            except ItemError as exc:
                reason = str(exc)
                desk.store.save_rejection("ingest", index, reason, repr(record)[:500])
                REJECTED.labels("intake").inc()
                rejected.append({"index": index, "reason": reason})
                continue
            items.append(item)
        if items:
            try:
                desk.submit(items)
            except (QueueFull, BusUnavailable) as exc:
                body = {"error": f"not accepted, retry later: {exc}", "rejected": rejected}
                retry_after = str(desk.settings.bus_retry_after_s)
                return JSONResponse(body, 503, headers={"Retry-After": retry_after})
        accepted = [item.id for item in items]
        status = 202 if accepted or not rejected else 400
        return JSONResponse({"accepted": accepted, "rejected": rejected}, status)

    @api.get("/", response_class=HTMLResponse)
    @api.get("/desk", response_class=HTMLResponse)
    def web_desk() -> str:
        return DESK_PAGE.read_text(encoding="utf-8")

    @api.get("/api/feed")
    def feed(limit: int = 50) -> list[FeedEntry]:
        return desk.store.analysed_feed(min(max(limit, 1), 500))

    @api.get("/api/approvals")
    def pending() -> list[PendingApproval]:
        return [
            PendingApproval(
                item_id=a.item_id,
                headline=a.summary.headline,
                recommendations=a.summary.recommendations,
                expires_at=a.expires_at,
            )
            for a in desk.store.list_approvals("pending")
        ]

    @api.post("/api/approvals/{item_id}/{action}")
    def decide(item_id: str, action: str, body: WebDecision) -> JSONResponse:
        if action not in ("approve", "reject", "adjust"):
            raise HTTPException(404, f"unknown action {action!r}")
        if body.user not in desk.settings.slack_approvers:
            raise HTTPException(403, f"{body.user or 'anonymous'} is not an approver")
        adjustments: dict[str, dict[str, float]] = {}
        if action == "adjust":
            bounds = desk.adjust_bounds(item_id)
            for symbol, edit in body.adjustments.items():
                if symbol not in bounds:
                    raise HTTPException(422, f"{symbol} is not part of this story")
                for field, value in edit.items():
                    problem = adjustment_error(field, value, *bounds[symbol])
                    if problem:
                        raise HTTPException(422, f"{symbol} {field}: {problem}")
            adjustments = body.adjustments
        result = desk.decide(item_id, action, body.user, adjustments=adjustments)  # type: ignore[arg-type]
        if result.approval is None:
            raise HTTPException(404, f"no approval for {item_id}")
        if desk.slack_notifier is not None and result.outcome in ("applied", "expired"):
            desk.slack_notifier.show_decision(result.approval)
        return JSONResponse(
            {
                "outcome": result.outcome,
                "status": result.approval.status,
                "decided_by": result.approval.decided_by,
            },
            200 if result.outcome == "applied" else 409,
        )

    if slack_app is not None:

        @api.post("/slack/events")
        async def slack_events(request: Request) -> Response:
            body = await request.body()
            # Bolt's dispatch is synchronous (it verifies, acks and starts lazy listeners).
            bolt_response = await run_in_threadpool(
                slack_app.dispatch, to_bolt_request(request, body)
            )
            return to_starlette_response(bolt_response)

    return api
