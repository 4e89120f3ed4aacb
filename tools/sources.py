"""Replay news items from JSONL or CSV files.

Input files come from scrapers, exports and hand edits, so nothing in them is trusted: every
record is either a validated `NewsItem` or a `Rejection` that says which line failed and why.
A bad record never stops the rest of the file from coming through.
"""

from __future__ import annotations

import csv
import json
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from core.records import NewsItem, Rejection

JSONL_SUFFIXES = frozenset({".jsonl", ".ndjson", ".json-lines"})
CSV_SUFFIXES = frozenset({".csv"})
EXCERPT_CHARS = 500
UTF8_BOM = b"\xef\xbb\xbf"

# C0 and C1 controls and DEL, except tab and newline: they break terminals, Slack messages and
# tokenizers, and never carry meaning in a headline or post. Lone surrogates ("\ud800" in
# JSON) are not text at all: they cannot even be encoded as UTF-8 for hashing or storage.
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
# Dates outside this range are typos or attacks, and break time arithmetic (window +/- a day).
_YEARS = range(1970, 2101)
_BOOLEAN_STRINGS = {"true": True, "false": False, "1": True, "0": False}


class ItemError(ValueError):
    """A record's content is not a valid news item; the message is the human-readable reason."""

    @property
    def reason(self) -> str:
        return str(self)


Record = NewsItem | Rejection


def parse_item(obj: Mapping[str, Any], max_text_chars: int) -> NewsItem:
    """Validate one decoded record (a JSON object or a CSV row) into a NewsItem.

    Oversized title/text is cut to max_text_chars and flagged `truncated` rather than rejected:
    a long article is still news, the models only need its beginning.
    """
    item_id = _required_str(obj, "id", allow_int=True)
    source = _required_str(obj, "source")
    published_at = _parse_timestamp(obj.get("published_at"))

    title, title_cut = _clean_text(obj.get("title"), "title", max_text_chars)
    text, text_cut = _clean_text(obj.get("text"), "text", max_text_chars)
    if title is None and text is None:
        raise ItemError("title and text are both empty: an item needs at least one of them")

    try:
        return NewsItem(
            id=item_id,
            source=source,
            author=_optional_str(obj, "author"),
            author_followers=_parse_followers(obj.get("author_followers")),
            author_verified=_parse_verified(obj.get("author_verified")),
            title=title,
            text=text,
            url=_optional_str(obj, "url"),
            published_at=published_at,
            truncated=title_cut or text_cut,
        )
    except ValidationError as exc:
        # Length limits on id/source live on the model; report them in the same terms.
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ItemError(f"invalid item: {problems}") from None


def read_records(path: Path, max_text_chars: int, max_line_bytes: int) -> list[Record]:
    """Read every record of a JSONL or CSV file.

    Rejections come first, in file order, so an operator sees the problems before the replay
    starts; items follow sorted by published_at (stable, so equal times keep file order).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    data = path.read_bytes()
    if suffix in JSONL_SUFFIXES:
        records = _read_jsonl(data, str(path), max_text_chars, max_line_bytes)
    elif suffix in CSV_SUFFIXES:
        records = _read_csv(data, str(path), max_text_chars, max_line_bytes)
    else:
        known = ", ".join(sorted(JSONL_SUFFIXES | CSV_SUFFIXES))
        raise ValueError(f"unsupported news file type {path.suffix!r} for {path} (use {known})")

    rejections = [r for r in records if isinstance(r, Rejection)]
    items = sorted(
        (r for r in records if isinstance(r, NewsItem)), key=lambda item: item.published_at
    )
    return [*rejections, *items]


def replay(
    records: Iterable[Record],
    pace: Literal["max", "realtime"] = "max",
    speed: float = 1.0,
    max_gap_s: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[Record]:
    """Yield records, optionally waiting between items as their publication times did.

    The bundled sample spans years, so each wait is capped at max_gap_s to keep a realtime
    replay watchable. Rejections pass through without waiting.
    """
    if pace not in ("max", "realtime"):
        raise ValueError(f"pace must be 'max' or 'realtime', not {pace!r}")
    if speed <= 0:
        raise ValueError(f"speed must be positive, not {speed}")
    if max_gap_s < 0:
        raise ValueError(f"max_gap_s must not be negative, not {max_gap_s}")

    previous: datetime | None = None
    for record in records:
        if isinstance(record, NewsItem):
            if pace == "realtime" and previous is not None:
                gap = min((record.published_at - previous).total_seconds() / speed, max_gap_s)
                if gap > 0:
                    sleep(gap)
            previous = record.published_at
        yield record


# --- file formats ---------------------------------------------------------------------------


def _read_jsonl(
    data: bytes, source_file: str, max_text_chars: int, max_line_bytes: int
) -> list[Record]:
    records: list[Record] = []
    # Split on b"\n" only: JSON strings may legally contain U+2028 and friends, which
    # str.splitlines() would treat as line breaks.
    for line_no, raw in enumerate(data.removeprefix(UTF8_BOM).split(b"\n"), start=1):
        raw = raw.removesuffix(b"\r")
        if not raw.strip():
            continue
        result = _parse_json_line(raw, max_text_chars, max_line_bytes)
        if isinstance(result, str):
            result = Rejection(
                source_file=source_file, line_no=line_no, reason=result, raw_excerpt=_excerpt(raw)
            )
        records.append(result)
    return records


def _parse_json_line(raw: bytes, max_text_chars: int, max_line_bytes: int) -> NewsItem | str:
    """The item on one JSONL line, or the reason it was rejected."""
    problem = _check_bytes(raw, max_line_bytes)
    if problem:
        return problem
    try:
        obj = json.loads(raw.decode("utf-8"))
    except json.JSONDecodeError as exc:
        return f"malformed JSON: {exc}"
    if not isinstance(obj, dict):
        return f"expected a JSON object, got {type(obj).__name__}"
    try:
        return parse_item(obj, max_text_chars)
    except ItemError as exc:
        return exc.reason


def _read_csv(
    data: bytes, source_file: str, max_text_chars: int, max_line_bytes: int
) -> list[Record]:
    # A CSV record can span several physical lines (quoted newlines), so lines are decoded with
    # surrogateescape, which keeps undecodable bytes in place; each record's raw bytes are then
    # checked on their own, so one bad record does not take the file down.
    physical_lines = [line.removesuffix(b"\r") for line in data.removeprefix(UTF8_BOM).split(b"\n")]
    decoded = (line.decode("utf-8", errors="surrogateescape") + "\n" for line in physical_lines)
    # The csv module's per-field limit (128 KiB) is below max_line_bytes; raising it is
    # process-wide but harmless, and lowering it back could break a concurrent reader.
    csv.field_size_limit(max(csv.field_size_limit(), max_line_bytes))
    reader = csv.DictReader(decoded)
    try:
        if reader.fieldnames is None:  # reads the header; None means an empty file
            return []
    except csv.Error as exc:
        raw = physical_lines[0]
        return [
            Rejection(
                source_file=source_file,
                line_no=1,
                reason=f"malformed CSV header: {exc}",
                raw_excerpt=_excerpt(raw),
            )
        ]

    records: list[Record] = []
    end_line = reader.line_num
    while True:
        reason: str | None = None
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            reason = f"malformed CSV: {exc}"
        # DictReader skips blank lines silently, so a record starts at the first non-blank
        # line after the previous record; reader.line_num is the line it ended on.
        start_line, end_line = end_line + 1, reader.line_num
        while start_line < end_line and not physical_lines[start_line - 1].strip():
            start_line += 1
        raw = b"\n".join(physical_lines[start_line - 1 : end_line])

        reason = reason or _check_bytes(raw, max_line_bytes)
        if reason is None:
            try:
                records.append(parse_item(row, max_text_chars))
                continue
            except ItemError as exc:
                reason = exc.reason
        records.append(
            Rejection(
                source_file=source_file,
                line_no=start_line,
                reason=reason,
                raw_excerpt=_excerpt(raw),
            )
        )
    return records


def _check_bytes(raw: bytes, max_line_bytes: int) -> str | None:
    """The reason a raw record must be rejected before parsing, or None."""
    if len(raw) > max_line_bytes:
        return f"record is {len(raw)} bytes, longer than max_line_bytes={max_line_bytes}"
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"not valid UTF-8 at byte {exc.start}"
    return None


def _excerpt(raw: bytes) -> str:
    # backslashreplace shows undecodable bytes as \xff so the operator sees what was there;
    # only the head is decoded because an oversized line can be megabytes long.
    head = raw[: EXCERPT_CHARS * 4].decode("utf-8", errors="backslashreplace")
    return head[:EXCERPT_CHARS]


# --- field parsing --------------------------------------------------------------------------


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _required_str(obj: Mapping[str, Any], field: str, allow_int: bool = False) -> str:
    value = obj.get(field)
    if _is_blank(value):
        raise ItemError(f"missing required field {field!r}")
    if allow_int and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise ItemError(f"{field!r} must be a string, got {type(value).__name__}")
    return _CONTROL_CHARS.sub("", value).strip()


def _optional_str(obj: Mapping[str, Any], field: str) -> str | None:
    value = obj.get(field)
    if _is_blank(value):
        return None
    if not isinstance(value, str):
        raise ItemError(f"{field!r} must be a string, got {type(value).__name__}")
    return _CONTROL_CHARS.sub("", value).strip() or None


def _clean_text(value: Any, field: str, max_chars: int) -> tuple[str | None, bool]:
    """Strip control characters and cut to max_chars; returns (text or None, was_truncated)."""
    if _is_blank(value):
        return None, False
    if not isinstance(value, str):
        raise ItemError(f"{field!r} must be a string, got {type(value).__name__}")
    cleaned = _CONTROL_CHARS.sub("", value).strip()
    if not cleaned:
        return None, False
    if len(cleaned) > max_chars:
        return cleaned[:max_chars], True
    return cleaned, False


def _parse_timestamp(value: Any) -> datetime:
    if _is_blank(value):
        raise ItemError("missing required field 'published_at'")
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ItemError(f"published_at is not an ISO 8601 timestamp: {value!r}") from None
    else:
        # Epoch numbers are ambiguous (seconds or milliseconds?), so they are refused.
        raise ItemError(f"published_at must be an ISO 8601 string, got {type(value).__name__}")
    if parsed.year not in _YEARS:
        raise ItemError(f"published_at year {parsed.year} is outside {_YEARS[0]}-{_YEARS[-1]}")
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _parse_followers(value: Any) -> int | None:
    if _is_blank(value):
        return None
    if isinstance(value, bool):
        raise ItemError(f"author_followers must be a non-negative integer, got {value!r}")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        value = int(value)
    if not isinstance(value, int) or value < 0:
        raise ItemError(f"author_followers must be a non-negative integer, got {value!r}")
    return value


def _parse_verified(value: Any) -> bool | None:
    if _is_blank(value):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _BOOLEAN_STRINGS:
        return _BOOLEAN_STRINGS[value.strip().lower()]
    raise ItemError(f"author_verified must be true/false/1/0, got {value!r}")
