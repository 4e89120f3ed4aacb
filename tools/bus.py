"""Publishing approved spread overrides to the quoting engine over NATS (when configured).

The database row is the record; the NATS message tells running quoters without polling.
A publish that fails is logged and leaves the override in place: nothing is lost.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Protocol

from core.views import OverrideView

log = logging.getLogger("newsdesk.bus")


class OverridePublisher(Protocol):
    def publish_overrides(self, overrides: list[OverrideView]) -> None: ...


class NoPublisher:
    def publish_overrides(self, overrides: list[OverrideView]) -> None:
        return None


class NatsPublisher:
    def __init__(self, url: str, subject: str, timeout_s: float = 5.0) -> None:
        self.url = url
        self.subject = subject
        self.timeout_s = timeout_s

    def publish_overrides(self, overrides: list[OverrideView]) -> None:
        if not overrides:
            return
        try:
            # Graph nodes run in worker threads without an event loop of their own.
            asyncio.run(asyncio.wait_for(self._publish(overrides), self.timeout_s))
        except Exception as exc:  # the override is stored; only the notification failed
            log.error("could not publish %d override(s) to %s: %s", len(overrides), self.url, exc)

    async def _publish(self, overrides: list[OverrideView]) -> None:
        import nats

        connection = await nats.connect(self.url, connect_timeout=2, max_reconnect_attempts=0)
        try:
            for override in overrides:
                await connection.publish(self.subject, json.dumps(override.as_dict()).encode())
            await connection.flush()
        finally:
            await connection.close()


def build_publisher(nats_url: str, subject: str) -> OverridePublisher:
    return NatsPublisher(nats_url, subject) if nats_url else NoPublisher()
