"""A misbehaving OpenAI-compatible endpoint on localhost, for the failure paths.

The real SmolLM2 server covers the happy path; this one answers garbage, errors, hangs past
the client's timeout, or returns a hostile (well-formed but out-of-bounds) answer, over real
HTTP, so the whole langchain-openai client path is exercised.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.local_http import reply_json, serving


def _completion(content: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": "fake",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


@contextmanager
def fake_llm(mode: str, answer: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """mode: garbage | error | hang | json (answers `answer` to every request)."""
    seen: dict[str, Any] = {"requests": []}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length", 0))
            seen["requests"].append(json.loads(self.rfile.read(length) or b"{}"))
            if mode == "hang":
                time.sleep(5)
                return
            if mode == "error":
                reply_json(self, {"error": "model crashed"}, status=500)
                return
            content = json.dumps(answer) if mode == "json" else "Sure! I think it is bullish :)"
            reply_json(self, _completion(content))

    with serving(Handler) as url:
        seen["base_url"] = f"{url}/v1"
        yield seen


@contextmanager
def gated_llm(holds: Callable[[str], bool] = lambda body: True) -> Iterator[dict[str, Any]]:
    """An endpoint that keeps the requests `holds` picks (by their raw body) waiting.

    A held request waits until state["gate"] is set (60 s at most); every other request, and
    every request once the gate is open, gets a non-JSON answer at once (the node falls back).
    state["held"] is set when the first request is held: the caller's graph is then inside
    that item, mid-node, for as long as the test likes.
    """
    state: dict[str, Any] = {
        "requests": [],
        "held_bodies": [],
        "held": threading.Event(),
        "gate": threading.Event(),
    }

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
            state["requests"].append(body)
            if holds(body) and not state["gate"].is_set():
                state["held_bodies"].append(body)
                state["held"].set()
                state["gate"].wait(60)
            reply_json(self, _completion("Sure! I think it is bullish :)"))

    with serving(Handler) as url:
        state["base_url"] = f"{url}/v1"
        try:
            yield state
        finally:
            state["gate"].set()  # let a held request go before the server shuts down
