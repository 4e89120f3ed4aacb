"""Read any labelled JSONL / CSV / TSV file into rows, so new sets plug in without code."""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.records import SentimentLabel

SENTIMENT_WORDS: dict[str, SentimentLabel] = {
    "bearish": "bearish",
    "negative": "bearish",
    "neg": "bearish",
    "neutral": "neutral",
    "neu": "neutral",
    "bullish": "bullish",
    "positive": "bullish",
    "pos": "bullish",
}


def read_rows(
    path: Path, limit: int | None = None, seed: int = 13, keep: Sequence[int] | None = None
) -> list[dict[str, Any]]:
    """All rows of the file (or those at the `keep` indices), or a seeded sample of `limit` of
    them, in file order."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such data file: {path}")
    suffix = path.suffix.lower()
    with path.open(encoding="utf-8", newline="") as f:
        if suffix in {".jsonl", ".ndjson"}:
            rows = [json.loads(line) for line in f if line.strip()]
        elif suffix in {".csv", ".tsv"}:
            # QUOTE_NONE for TSV: the STS/MRPC files carry bare quotes inside sentences.
            quoting = csv.QUOTE_NONE if suffix == ".tsv" else csv.QUOTE_MINIMAL
            delimiter = "\t" if suffix == ".tsv" else ","
            rows = list(csv.DictReader(f, delimiter=delimiter, quoting=quoting))
        else:
            raise ValueError(f"unsupported data file type {suffix!r} (jsonl, csv or tsv)")
    if keep is not None:
        if keep and max(keep) >= len(rows):
            raise ValueError(f"{path} has {len(rows)} rows; the split expects more")
        rows = [rows[i] for i in sorted(keep)]
    if limit is not None and limit < len(rows):
        keep = sorted(random.Random(seed).sample(range(len(rows)), limit))
        rows = [rows[i] for i in keep]
    return rows


def field(row: dict[str, Any], name: str) -> Any:
    if name not in row:
        raise KeyError(f"field {name!r} not in the data (fields: {', '.join(row)})")
    return row[name]


def sentiment_label(
    value: Any,
    label_map: dict[str, SentimentLabel] | None = None,
    neutral_band: float = 0.1,
    numeric: bool = False,
) -> SentimentLabel:
    """A gold label as bearish / neutral / bullish.

    An explicit map wins (integer codes mean nothing on their own); then the usual words;
    with `numeric`, a score in [-1, 1] is mapped by its sign outside a neutral band.
    """
    text = str(value).strip()
    if label_map is not None:
        if text not in label_map:
            raise ValueError(f"label {text!r} is not in the label map")
        return label_map[text]
    if text.lower() in SENTIMENT_WORDS:
        return SENTIMENT_WORDS[text.lower()]
    if numeric:
        score = float(text)
        if score > neutral_band:
            return "bullish"
        if score < -neutral_band:
            return "bearish"
        return "neutral"
    raise ValueError(f"cannot map label {text!r}: pass --label-map or --numeric-score")


def parse_label_map(spec: str | None) -> dict[str, SentimentLabel] | None:
    """'0=bearish,1=bullish,2=neutral' -> {'0': 'bearish', ...}."""
    if not spec:
        return None
    mapping: dict[str, SentimentLabel] = {}
    for part in spec.split(","):
        key, _, label = part.partition("=")
        label = label.strip().lower()
        if label not in ("bearish", "neutral", "bullish"):
            raise ValueError(f"label map entry {part!r}: use bearish, neutral or bullish")
        mapping[key.strip()] = label  # type: ignore[assignment]
    return mapping
