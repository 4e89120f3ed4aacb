"""Build the bundled replay sample, tools/data/sample_news.jsonl, from the shared datasets.

Only permissively licensed sets are used (see tools/data/SAMPLE_README.md). The output is
deterministic: rows are picked by a seeded hash rank rather than `random`, so the same inputs
give byte-identical output on any Python version, and a test rebuilds and compares it.

    python -m evals.build_sample [--shared DIR] [--out tools/data/sample_news.jsonl]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import re
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from tools.sources import ItemError, parse_item

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "tools" / "data" / "sample_news.jsonl"
SEED = "newsdesk-sample-v1"
FIELDS = (
    "id",
    "source",
    "author",
    "author_followers",
    "author_verified",
    "title",
    "text",
    "url",
    "published_at",
)

# Story clusters re-posted by many outlets, about companies and policy that market makers quote.
# The pattern keeps only headlines that name the subject: the aggregator's clusters are noisy
# (a sports result or a "Business briefs" page can sit in a company's cluster).
STORIES: dict[str, str] = {
    "dIzGm0p1VgKiYnM7J9Gi6svpdekbM": r"Microsoft|MSFT|Nadella",  # Microsoft beats forecasts
    "dtoEJwvm4TfcLjMB-evXOpHoOHinM": r"\bGM\b|General Motors|Barra",  # GM recalls, CEO apology
    "d_LF_1UpoQ2iK5Mu50mFoQ0wkXbeM": r"Bank of America|BofA|\bBAC\b",  # BofA litigation hit
    "dirT8LyXGDFNfjMvllfqyEVKtXqsM": r"Yellen|\bFed\b|Federal Reserve",  # Yellen: rates stay low
    "dx7dZWCotpPAQsMb67JxUygBK3u5M": r"Tesla",  # battery-fire probe closed
    "dDShQaRRha4MiIMe9pBGaV6reIy2M": r"Amazon",  # Amazon smartphone leak
    "dz4j6NI4UDee2zME8fJZGi4YR_ThM": r"Apple|AAPL",  # Apple patent truce / Samsung talks
    "d7kEDLh-TQs6wsMq0LSxfpoBxSEeM": r"Google",  # EU "right to be forgotten" ruling
}
HEADLINES_PER_STORY = 10
CRYPTOPANIC_COUNT = 60
TRUMP_TARIFF_COUNT = 30
TRUMP_OTHER_COUNT = 10
TFN_PER_LABEL = 10
# twitter_financial_news_sentiment has no timestamps; these are synthetic (see the README).
TFN_START = datetime(2022, 12, 1, tzinfo=UTC)
TFN_STEP = timedelta(minutes=48)

Item = dict[str, Any]


def default_shared_dir() -> Path:
    override = os.environ.get("NEWSDESK_SHARED_DATA")
    return Path(override) if override else REPO_ROOT.parent / "shared" / "data"


def rank(key: str) -> str:
    """A seeded, version-independent sort key: a stable stand-in for random.sample."""
    return hashlib.sha256(f"{SEED}:{key}".encode()).hexdigest()


def iso_utc(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    spec = "milliseconds" if moment.microsecond else "seconds"
    return moment.isoformat(timespec=spec).replace("+00:00", "Z")


def make_item(**fields: Any) -> Item:
    return {field: fields.get(field) for field in FIELDS}


def read_csv(path: Path, **kwargs: Any) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle, **kwargs))


# --- the five parts -------------------------------------------------------------------------


def news_stories(shared: Path) -> list[Item]:
    path = shared / "news_aggregator_story_clusters" / "newsCorpora_bt_storybucket0.tsv"
    # Headlines contain bare quote characters; the TSV has no quoting at all.
    rows = read_csv(path, delimiter="\t", quoting=csv.QUOTE_NONE)
    items: list[Item] = []
    for story, pattern in STORIES.items():
        in_story = sorted(
            (r for r in rows if r["STORY"] == story),
            key=lambda r: (int(r["TIMESTAMP"]), int(r["ID"])),
        )
        if not in_story:
            raise SystemExit(f"story {story} not found in {path}")
        publishers: set[str] = set()
        # The earliest re-posts, one per outlet: the burst a dedup stage sees when news breaks.
        for row in in_story:
            # Some publisher names carry the crawler's regex escapes, e.g. "Blog \(blog\)".
            publisher = re.sub(r"\\(.)", r"\1", row["PUBLISHER"]).strip()
            title = row["TITLE"].strip()
            # One- and two-word "headlines" are crawl debris ("Google", URL-encoded strings).
            if publisher in publishers or len(title.split()) < 3 or not re.search(pattern, title):
                continue
            publishers.add(publisher)
            published = datetime.fromtimestamp(int(row["TIMESTAMP"]) / 1000, tz=UTC)
            items.append(
                make_item(
                    id=f"story-{story}-{row['ID']}",
                    source="news",
                    author=publisher,
                    title=title,
                    url=row["URL"].strip() or None,
                    published_at=iso_utc(published),
                )
            )
            if len(publishers) == HEADLINES_PER_STORY:
                break
    return items


def cryptopanic(shared: Path) -> list[Item]:
    rows = read_csv(shared / "cryptopanic_votes_feb2025" / "cryptopanic_news_dev.csv")
    numbered = sorted(enumerate(rows, start=1), key=lambda pair: rank(f"cp:{pair[0]}"))
    items: list[Item] = []
    titles: set[str] = set()
    for row_no, row in numbered:
        title = row["Title"].strip()
        if not title or title in titles:  # a few headlines are listed twice
            continue
        titles.add(title)
        # Per the dataset README: a browser-formatted local time; the first 33 characters
        # hold the date, time and UTC offset.
        published = datetime.strptime(row["Time"][:33], "%a %b %d %Y %H:%M:%S GMT%z")
        items.append(
            make_item(
                id=f"cp-{row_no}",
                source="cryptopanic",
                author=row["Source"].strip() or None,
                title=title,
                published_at=iso_utc(published),
            )
        )
        if len(items) == CRYPTOPANIC_COUNT:
            break
    return items


def musk_tweets(shared: Path) -> list[Item]:
    rows = read_csv(shared / "musk_crypto_tweets_doge_minute" / "elon_crypto_tweets_utc.csv")
    items: list[Item] = []
    # The ids use the row number, not the author's "No" column: "No" stops at 67 and repeats.
    for row_no, row in enumerate(rows, start=1):
        published = datetime.fromisoformat(row["datetime_utc"])
        items.append(
            make_item(
                id=f"musk-{row_no}",
                source="x",
                author="elonmusk",
                text=row["tweet"].strip(),
                published_at=iso_utc(published),
            )
        )
    return items


class _TextExtractor(HTMLParser):
    """Visible text of a Truth Social post; <p> and <br> become line breaks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("br", "p"):
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def strip_html(html: str) -> str:
    # Some posts were cut by the scraper: they start inside a tag ('a href="..." ...>') or end
    # inside one ('</a'). Repair the start and drop the dangling end so no markup leaks through.
    if re.match(r"(?:a|span|p)\s[^<>]*>", html):
        html = "<" + html
    html = re.sub(r"<[^<>]*$", "", html)
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    lines = (re.sub(r"[ \t]+", " ", line).strip() for line in "".join(parser.parts).split("\n"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def trump_posts(shared: Path) -> list[Item]:
    rows = read_csv(shared / "trump_truthsocial_spy_2025" / "tomt_price_full.csv")
    tariff: list[tuple[str, Item]] = []
    other: list[tuple[str, Item]] = []
    for row in rows:
        text = strip_html(row["Text"])
        # Link-only shares carry no words of their own for the pipeline to read.
        if len(re.sub(r"https?://\S+", "", text).split()) < 8:
            continue
        post_id = row["Tweet_ID"].strip()
        item = make_item(
            id=f"trump-{post_id}",
            source="truthsocial",
            author="realDonaldTrump",
            text=text,
            url=f"https://truthsocial.com/@realDonaldTrump/posts/{post_id}",
            published_at=iso_utc(datetime.fromisoformat(row["Created_ET"])),
        )
        bucket = tariff if re.search(r"tariff", text, re.IGNORECASE) else other
        bucket.append((rank(f"trump:{post_id}"), item))
    # Mostly tariff posts (the market-moving kind), plus a few others as routine contrast.
    picked = sorted(tariff, key=lambda p: p[0])[:TRUMP_TARIFF_COUNT]
    picked += sorted(other, key=lambda p: p[0])[:TRUMP_OTHER_COUNT]
    return [item for _, item in picked]


def twitter_financial_news(shared: Path) -> list[Item]:
    rows = read_csv(shared / "twitter_financial_news_sentiment" / "sent_train.csv")
    picked: list[tuple[str, int, str]] = []
    # Equal numbers of bearish (0), bullish (1) and neutral (2) tweets, all with a $cashtag.
    for label in ("0", "1", "2"):
        candidates = sorted(
            (rank(f"tfn:{row_no}"), row_no, row["text"].strip())
            for row_no, row in enumerate(rows, start=1)
            if row["label"] == label and re.search(r"\$[A-Z]{1,5}\b", row["text"])
        )
        picked.extend(candidates[:TFN_PER_LABEL])
    # The file is grouped by label; ordering by rank interleaves the labels over the day.
    picked.sort()
    return [
        make_item(
            id=f"tfn-{row_no}",
            source="twitter_financial_news",
            text=text,
            published_at=iso_utc(TFN_START + index * TFN_STEP),
        )
        for index, (_, row_no, text) in enumerate(picked)
    ]


# --- assembly -------------------------------------------------------------------------------


def build(shared: Path) -> list[Item]:
    items = [
        *news_stories(shared),
        *cryptopanic(shared),
        *musk_tweets(shared),
        *trump_posts(shared),
        *twitter_financial_news(shared),
    ]
    ids = Counter(item["id"] for item in items)
    duplicates = sorted(i for i, n in ids.items() if n > 1)
    if duplicates:
        raise SystemExit(f"duplicate ids: {duplicates[:5]}")
    for item in items:
        try:
            # A huge limit: this only checks the item is valid, it must not change it.
            parse_item(item, max_text_chars=10**9)
        except ItemError as exc:
            raise SystemExit(f"built an invalid item {item['id']}: {exc}") from None
    # Equal timestamps (the aggregator stamps bursts to the second) are ordered by id so the
    # output does not depend on the order the parts were built in.
    items.sort(key=lambda item: (datetime.fromisoformat(item["published_at"]), item["id"]))
    return items


def render(items: list[Item]) -> bytes:
    lines = (json.dumps(item, ensure_ascii=False) + "\n" for item in items)
    return "".join(lines).encode("utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--shared",
        type=Path,
        default=default_shared_dir(),
        help="the shared datasets folder (default: ../shared/data or $NEWSDESK_SHARED_DATA)",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output JSONL file")
    args = parser.parse_args(argv)
    if not args.shared.is_dir():
        print(f"shared data folder not found: {args.shared}", file=sys.stderr)
        return 2

    items = build(args.shared)
    data = render(items)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(data)
    counts = Counter(item["source"] for item in items)
    summary = ", ".join(f"{source} {n}" for source, n in sorted(counts.items()))
    print(f"wrote {len(items)} items ({len(data)} bytes) to {args.out}: {summary}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
