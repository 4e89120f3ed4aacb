"""A misbehaving OpenAI-compatible endpoint on localhost, for the failure paths.

The real SmolLM2 server covers the happy path; this one answers garbage, errors, hangs past
the client's timeout, or returns a hostile (well-formed but out-of-bounds) answer, over real
HTTP, so the whole langchain-openai client path is exercised.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


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
                self.send_response(500)
                self.end_headers()
                self.wfile.write(b'{"error": "model crashed"}')
                return
            content = json.dumps(answer) if mode == "json" else "Sure! I think it is bullish :)"
            body = json.dumps(_completion(content)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    seen["base_url"] = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield seen
    finally:
        server.shutdown()
        server.server_close()
