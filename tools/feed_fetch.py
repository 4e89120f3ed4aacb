"""Polite HTTP for feeds: a conditional GET with a User-Agent, a timeout for the whole answer,
a size cap and gzip, whose failures are one clear sentence for the operator."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http.client import HTTPException, HTTPResponse

USER_AGENT = "newsdesk/0.1 (RSS/Atom poller; conditional GET)"
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.8, text/xml;q=0.8, */*;q=0.1"
)
_CHUNK = 64 * 1024


class FeedFailure(Exception):
    """Why one feed could not be taken this time; the message is for the operator."""

    def __init__(self, reason: str, retry_after_s: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class Answer:
    body: bytes
    # Lower-case names.
    headers: dict[str, str]


def fetch(
    url: str, etag: str | None, last_modified: str | None, timeout_s: float, max_bytes: int
) -> Answer | None:
    """GET a feed, conditionally when validators are known; None means 304 Not Modified."""
    headers = {"User-Agent": USER_AGENT, "Accept": ACCEPT, "Accept-Encoding": "gzip"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    request = urllib.request.Request(url, headers=headers)
    deadline = time.monotonic() + timeout_s
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            answer_headers = {name.lower(): value for name, value in response.headers.items()}
            body = _read_body(response, max_bytes, deadline, timeout_s)
            # feedparser resolves relative links against it: the URL after any redirect.
            answer_headers.setdefault("content-location", response.url)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 304:
            return None
        retry_after = _retry_after(exc.headers.get("Retry-After"))
        raise FeedFailure(f"HTTP {exc.code} {exc.reason}", retry_after) from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise FeedFailure(f"timed out: no answer within {timeout_s:g} s") from None
        raise FeedFailure(f"cannot reach the feed: {exc.reason}") from None
    except TimeoutError:
        raise FeedFailure(f"timed out: no answer within {timeout_s:g} s") from None
    except (OSError, HTTPException) as exc:
        raise FeedFailure(f"the connection failed: {exc!r}") from None
    if answer_headers.get("content-encoding", "").lower() == "gzip":
        body = _gunzip(body, max_bytes)
    return Answer(body=body, headers=answer_headers)


def _read_body(response: HTTPResponse, max_bytes: int, deadline: float, timeout_s: float) -> bytes:
    # The socket timeout only bounds each read; a server trickling bytes must still end in
    # time, and one sending an endless body must not fill the memory.
    chunks: list[bytes] = []
    size = 0
    while chunk := response.read1(_CHUNK):
        size += len(chunk)
        if size > max_bytes:
            raise FeedFailure(f"the feed is larger than {max_bytes} bytes")
        if time.monotonic() > deadline:
            raise FeedFailure(f"timed out: the answer took longer than {timeout_s:g} s")
        chunks.append(chunk)
    return b"".join(chunks)


def _gunzip(body: bytes, max_bytes: int) -> bytes:
    inflater = zlib.decompressobj(wbits=31)  # gzip framing
    try:
        data = inflater.decompress(body, max_bytes + 1)
    except zlib.error as exc:
        raise FeedFailure(f"the gzip body is damaged: {exc}") from None
    if len(data) > max_bytes:
        raise FeedFailure(f"the feed is larger than {max_bytes} bytes unpacked")
    return data


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (a number of seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
