"""`newsdesk serve`: Slack events, the ingest endpoint and a health check in one process."""

from __future__ import annotations

from typing import Any

from fastapi import Body, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from slack_bolt import App
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from starlette.concurrency import run_in_threadpool

from serving.desk import Desk
from tools.sources import ItemError, parse_item

MAX_BATCH = 1_000


def create_http_app(desk: Desk, slack_app: App | None) -> FastAPI:
    api = FastAPI(title="newsdesk", docs_url="/docs")

    @api.get("/healthz")
    def healthz() -> dict[str, Any]:
        counts = desk.store.counts()
        return {
            "ok": True,
            "pending_approvals": counts.get("approvals_pending", 0),
            "items": counts.get("items", 0),
        }

    @api.post("/ingest", status_code=202)
    def ingest(payload: Any = Body(...)) -> JSONResponse:  # noqa: B008 - FastAPI's idiom
        """One item (an object) or a batch (a list); each is validated on its own."""
        records = payload if isinstance(payload, list) else [payload]
        if len(records) > MAX_BATCH:
            return JSONResponse({"error": f"at most {MAX_BATCH} items per request"}, 413)
        accepted, rejected = [], []
        for index, record in enumerate(records):
            try:
                if not isinstance(record, dict):
                    raise ItemError(f"item must be a JSON object, got {type(record).__name__}")
                item = parse_item(record, desk.settings.max_text_chars)
            except ItemError as exc:
                reason = str(exc)
                desk.store.save_rejection("ingest", index, reason, repr(record)[:500])
                rejected.append({"index": index, "reason": reason})
                continue
            desk.submit(item)
            accepted.append(item.id)
        status = 202 if accepted or not rejected else 400
        return JSONResponse({"accepted": accepted, "rejected": rejected}, status)

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
