"""A local HTTP server standing in for Slack's Web API, as bolt-python's own tests do.

It answers chat.postMessage / chat.update / chat.postEphemeral / auth.test like Slack would and
records every call, so tests can assert what the desk sent.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs

from tests.local_http import reply_json, serving


@contextmanager
def fake_slack_api() -> Iterator[dict[str, Any]]:
    calls: list[tuple[str, dict[str, Any]]] = []
    state: dict[str, Any] = {"calls": calls, "next_ts": 1700000000.000100}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            method = self.path.rstrip("/").rsplit("/", 1)[-1]
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
            if "json" in self.headers.get("Content-Type", ""):
                args = json.loads(raw or "{}")
            else:
                args = {k: v[0] for k, v in parse_qs(raw).items()}
            for key in ("blocks", "view"):  # form-encoded calls carry these as JSON text
                if isinstance(args.get(key), str):
                    args[key] = json.loads(args[key])
            with lock:
                calls.append((method, args))
                state["next_ts"] += 1
                ts = f"{state['next_ts']:.6f}"
            answer: dict[str, Any] = {"ok": True}
            if method == "chat.postMessage":
                answer.update(channel=args.get("channel"), ts=ts)
            elif method == "chat.update":
                answer.update(channel=args.get("channel"), ts=args.get("ts"))
            elif method == "chat.postEphemeral":
                answer.update(message_ts=ts)
            elif method == "auth.test":
                answer.update(user_id="UBOT", team_id="T1", bot_id="BBOT")
            reply_json(self, answer)

    def of(method: str) -> list[dict[str, Any]]:
        with lock:
            return [args for name, args in calls if name == method]

    def wait_for(method: str, count: int = 1, timeout_s: float = 30.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = of(method)
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"expected {count} {method} call(s), got {of(method)}")

    state["of"] = of
    state["wait_for"] = wait_for
    with serving(Handler) as url:
        state["url"] = f"{url}/"
        yield state
