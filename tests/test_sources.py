"""tools.sources: file replay, bad-input handling, pacing, and the bundled sample."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.records import NewsItem, Rejection
from core.settings import Settings
from tools.sources import ItemError, parse_item, read_records, replay

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLE = REPO_ROOT / "tools" / "data" / "sample_news.jsonl"
# The defaults, not get_settings(): a developer's NEWSDESK_* environment must not change tests.
MAX_TEXT = Settings.model_fields["max_text_chars"].default
MAX_LINE = Settings.model_fields["max_line_bytes"].default


def good(item_id: str, published_at: str = "2024-05-01T12:00:00Z", **extra: object) -> dict:
    return {
        "id": item_id,
        "source": "news",
        "author": "Reuters",
        "title": f"Headline {item_id}",
        "published_at": published_at,
        **extra,
    }


def write_jsonl(path: Path, *lines: dict | bytes | str) -> Path:
    """One record per line; bytes are written verbatim so tests can plant broken input."""
    chunks = []
    for line in lines:
        if isinstance(line, dict):
            line = json.dumps(line)
        chunks.append(line if isinstance(line, bytes) else line.encode("utf-8"))
    path.write_bytes(b"\n".join(chunks) + b"\n")
    return path


def split(records: list) -> tuple[list[NewsItem], list[Rejection]]:
    items = [r for r in records if isinstance(r, NewsItem)]
    rejections = [r for r in records if isinstance(r, Rejection)]
    return items, rejections


# --- the bundled sample ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample() -> list[NewsItem]:
    records = read_records(SAMPLE, MAX_TEXT, MAX_LINE)
    items, rejections = split(records)
    assert rejections == []
    return items


def test_sample_parses_sorted_and_unique(sample: list[NewsItem]) -> None:
    assert len(sample) >= 200
    assert SAMPLE.stat().st_size <= 1_000_000
    times = [item.published_at for item in sample]
    assert times == sorted(times)
    assert all(t.tzinfo is not None and t.utcoffset().total_seconds() == 0 for t in times)
    ids = [item.id for item in sample]
    assert len(set(ids)) == len(ids)
    # Spans the 2014 aggregator stories to the 2025 Truth Social posts.
    assert times[0].year == 2014 and times[-1].year == 2025


def test_sample_has_all_five_origins(sample: list[NewsItem]) -> None:
    prefixes = Counter(item.id.split("-", 1)[0] for item in sample)
    assert set(prefixes) == {"story", "cp", "musk", "trump", "tfn"}
    sources = {item.source for item in sample}
    assert sources == {"news", "cryptopanic", "x", "truthsocial", "twitter_financial_news"}
    assert all(item.author == "elonmusk" for item in sample if item.source == "x")
    trump_texts = [item.text or "" for item in sample if item.source == "truthsocial"]
    assert sum("tariff" in text.lower() for text in trump_texts) >= 20
    assert not any("<span" in text or "href=" in text for text in trump_texts)


def test_sample_has_stories_reposted_by_many_outlets(sample: list[NewsItem]) -> None:
    # Story ids look like "story-<STORY>-<row ID>": the prefix before the row id is the story.
    stories = Counter(item.id.rsplit("-", 1)[0] for item in sample if item.id.startswith("story-"))
    assert len(stories) >= 5
    assert max(stories.values()) >= 5
    for story, _ in stories.most_common(1):
        outlets = {item.author for item in sample if item.id.startswith(story + "-")}
        assert len(outlets) >= 5  # re-posted by different outlets, not one outlet's updates


def test_rebuilding_the_sample_is_byte_identical(tmp_path: Path, shared_data: Path) -> None:
    shared = shared_data
    out = tmp_path / "sample_news.jsonl"
    subprocess.run(
        [sys.executable, "-m", "evals.build_sample", "--shared", str(shared), "--out", str(out)],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
    )
    assert out.read_bytes() == SAMPLE.read_bytes()


# --- bad input --------------------------------------------------------------------------------


def test_malformed_json_line_is_rejected_and_good_lines_survive(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "feed.jsonl",
        good("a", "2024-05-01T12:00:02Z"),
        '{"id": "b", "source": "news", "title": ',
        good("c", "2024-05-01T12:00:01Z"),
    )
    records = read_records(path, MAX_TEXT, MAX_LINE)
    items, rejections = split(records)
    assert [item.id for item in items] == ["c", "a"]  # sorted by published_at
    assert len(rejections) == 1
    assert records[0] is rejections[0]  # rejections come first
    assert rejections[0].line_no == 2
    assert rejections[0].reason.startswith("malformed JSON")
    assert rejections[0].source_file == str(path)
    assert '"id": "b"' in rejections[0].raw_excerpt


def test_missing_source_is_rejected(tmp_path: Path) -> None:
    record = good("a")
    del record["source"]
    path = write_jsonl(tmp_path / "feed.jsonl", record, good("b"))
    items, rejections = split(read_records(path, MAX_TEXT, MAX_LINE))
    assert [item.id for item in items] == ["b"]
    assert len(rejections) == 1
    assert "source" in rejections[0].reason
    assert rejections[0].line_no == 1


def test_empty_title_and_text_is_rejected(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "feed.jsonl", good("a", title="  ", text=""))
    items, rejections = split(read_records(path, MAX_TEXT, MAX_LINE))
    assert items == []
    assert len(rejections) == 1
    assert "title" in rejections[0].reason and "text" in rejections[0].reason


def test_non_utf8_bytes_are_rejected_with_escaped_excerpt(tmp_path: Path) -> None:
    bad = b'{"id": "x", "source": "news", "title": "caf\xff\xfe", "published_at": "2024-01-01"}'
    path = write_jsonl(tmp_path / "feed.jsonl", good("a"), bad)
    items, rejections = split(read_records(path, MAX_TEXT, MAX_LINE))
    assert [item.id for item in items] == ["a"]
    assert len(rejections) == 1
    rejection = rejections[0]
    assert rejection.line_no == 2
    assert rejection.reason == f"not valid UTF-8 at byte {bad.index(0xFF)}"
    assert "\\xff\\xfe" in rejection.raw_excerpt  # shown escaped, not dropped or replaced
    assert '"id": "x"' in rejection.raw_excerpt


def test_huge_text_is_truncated_not_rejected(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "feed.jsonl", good("big", text="x" * 1_000_000))
    items, rejections = split(read_records(path, MAX_TEXT, MAX_LINE))
    assert rejections == []
    assert len(items) == 1
    assert items[0].truncated is True
    assert items[0].text is not None and len(items[0].text) == MAX_TEXT


def test_line_longer_than_max_line_bytes_is_rejected(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "feed.jsonl", good("a"), good("long", text="y" * 5_000))
    items, rejections = split(read_records(path, MAX_TEXT, max_line_bytes=2_000))
    assert [item.id for item in items] == ["a"]
    assert len(rejections) == 1
    assert "max_line_bytes=2000" in rejections[0].reason
    assert len(rejections[0].raw_excerpt) == 500


def test_bad_published_at_and_followers_are_rejected(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "feed.jsonl",
        good("when", published_at="yesterday"),
        good("neg", author_followers=-5),
        good("frac", author_followers=2.5),
        good("ok", author_followers=120, author_verified=True),
    )
    items, rejections = split(read_records(path, MAX_TEXT, MAX_LINE))
    assert [item.id for item in items] == ["ok"]
    assert items[0].author_followers == 120 and items[0].author_verified is True
    reasons = [r.reason for r in rejections]
    assert "published_at" in reasons[0]
    assert "author_followers" in reasons[1] and "author_followers" in reasons[2]


def test_blank_lines_are_skipped_silently(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "feed.ndjson", "", good("a"), "   ", b"\r", good("b"))
    records = read_records(path, MAX_TEXT, MAX_LINE)
    assert [r.id for r in records if isinstance(r, NewsItem)] == ["a", "b"]
    assert len(records) == 2


def test_unknown_suffix_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "feed.txt"
    path.write_text("{}\n")
    with pytest.raises(ValueError, match="unsupported"):
        read_records(path, MAX_TEXT, MAX_LINE)


# --- parse_item -------------------------------------------------------------------------------


def test_parse_item_normalises_time_and_strips_control_characters() -> None:
    naive = parse_item(good("a", published_at="2024-05-01T12:00:00", text="a\x00b\x1bc\n\td"), 200)
    assert naive.published_at == datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert naive.text == "abc\n\td"
    offset = parse_item(good("b", published_at="2024-05-01T14:00:00+02:00"), 200)
    assert offset.published_at == datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert offset.published_at.tzinfo == UTC


def test_parse_item_raises_item_error_with_reason() -> None:
    with pytest.raises(ItemError, match="'id'"):
        parse_item({"source": "news", "title": "t", "published_at": "2024-01-01"}, 200)
    with pytest.raises(ItemError, match="published_at"):
        parse_item({"id": "a", "source": "news", "title": "t"}, 200)


# --- CSV --------------------------------------------------------------------------------------


def test_csv_input(tmp_path: Path) -> None:
    path = tmp_path / "feed.csv"
    path.write_bytes(
        b"id,source,author,author_followers,author_verified,title,text,url,published_at\n"
        b'1,x,elonmusk,,true,,"Doge to the moon,\nsays me",,2021-02-04T08:15:00Z\n'
        b"\n"
        b"2,news,Reuters,5000,0,Fed holds rates,,https://example.com/a,2021-02-04T08:00:00\n"
        b"3,news,Reuters,,maybe,Bad flag,,,2021-02-04T09:00:00Z\n"
        b"4,news,Reuters,,,Broken \xff,,,2021-02-04T09:00:00Z\n"
        b"5,,Reuters,,,No source,,,2021-02-04T09:00:00Z\n"
    )
    records = read_records(path, MAX_TEXT, MAX_LINE)
    items, rejections = split(records)
    assert [item.id for item in items] == ["2", "1"]
    fed, doge = items
    assert fed.author_followers == 5000 and fed.author_verified is False
    assert fed.url == "https://example.com/a" and fed.title == "Fed holds rates"
    assert doge.author_verified is True and doge.author_followers is None
    assert doge.text == "Doge to the moon,\nsays me" and doge.title is None
    # Line numbers are physical lines: the quoted newline and the blank line both count.
    assert [(r.line_no, r.reason.split(" ")[0]) for r in rejections] == [
        (6, "author_verified"),
        (7, "not"),
        (8, "missing"),
    ]
    assert "UTF-8" in rejections[1].reason and "\\xff" in rejections[1].raw_excerpt
    assert "'source'" in rejections[2].reason


# --- replay -----------------------------------------------------------------------------------


def make_items(*times: str) -> list[NewsItem]:
    return [parse_item(good(f"i{n}", t), MAX_TEXT) for n, t in enumerate(times)]


def test_realtime_replay_sleeps_capped_gaps() -> None:
    items = make_items(
        "2024-01-01T00:00:00Z",
        "2024-01-01T00:00:02Z",  # 2 s gap
        "2024-01-01T00:00:02Z",  # no gap: no sleep
        "2024-01-01T03:00:00Z",  # hours: capped
        "2024-01-01T03:00:01Z",  # 1 s
    )
    rejection = Rejection(
        source_file="f.jsonl", line_no=9, reason="malformed JSON", raw_excerpt="{"
    )
    slept: list[float] = []
    out = list(
        replay([rejection, *items], pace="realtime", speed=2.0, max_gap_s=5.0, sleep=slept.append)
    )
    assert out == [rejection, *items]
    assert slept == [1.0, 5.0, 0.5]


def test_max_pace_never_sleeps() -> None:
    items = make_items("2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z")
    slept: list[float] = []
    assert list(replay(items, sleep=slept.append)) == items
    assert slept == []


def test_replay_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        list(replay([], pace="fast"))  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        list(replay([], speed=0))


def test_lone_surrogates_are_stripped_and_absurd_dates_rejected() -> None:
    item = parse_item(
        {"id": "s1", "source": "x", "title": "BTC \ud800 hack", "published_at": "2025-01-01"},
        1000,
    )
    assert item.title == "BTC  hack"
    item.title.encode("utf-8")  # storable and hashable
    for stamp in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59Z"):
        with pytest.raises(ItemError, match="outside"):
            parse_item({"id": "s2", "source": "x", "title": "t", "published_at": stamp}, 1000)
