"""Sentence pairs for fine-tuning and evaluating the dedup embeddings, split so evals see new data.

* MRPC (news sentence paraphrases, 1/0): a seeded 70/30 split of the shared train file.
* STS-B news headlines (graded 0-5): the shared train file trains, the dev file evaluates.
* Story clusters (headlines grouped by story): stories are split 70/30, so no held-out story was
  seen in training. Positives are two headlines of one story; negatives pair a headline with the
  most similar headline of *another* story under the base model (the hard cases the muddy middle
  is made of) and with a random one. For training, a hard negative must score below
  ``HARD_NEGATIVE_CEILING`` under the base model: the aggregator's clusters are machine-made, and
  an other-story headline that close is far more often the same news split across two clusters
  than a true negative (the dataset's README warns of exactly that); training on those teaches
  noise. Evaluation pairs keep them (``negative_ceiling=None``), so no model is flattered.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from evals.datasets import shared_data_dir
from tools.text import content_hash

STORY_HELD_OUT_FRACTION = 0.3
MRPC_HELD_OUT_FRACTION = 0.3
POSITIVES_PER_STORY = 40
HARD_NEGATIVE_CEILING = 0.75
# A pair at or above this score counts as a duplicate: STS-B's 4 of 5.
DUPLICATE_SCORE = 0.8


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    score: float  # 1/0 for duplicate pairs; STS-B's 0-5 divided by 5
    source: str

    @property
    def duplicate(self) -> bool:
        return self.score >= DUPLICATE_SCORE


@dataclass(frozen=True)
class Headline:
    title: str
    story: str
    category: str
    timestamp: str


def _tsv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        # QUOTE_NONE: these files carry bare quotes inside sentences.
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


def mrpc_pairs(seed: int = 13) -> tuple[list[Pair], list[Pair]]:
    rows = _tsv(shared_data_dir() / "mrpc_paraphrase" / "msr_paraphrase_train.tsv")
    pairs = [Pair(r["#1 String"], r["#2 String"], float(r["Quality"]), "mrpc") for r in rows]
    order = list(range(len(pairs)))
    random.Random(seed).shuffle(order)
    n_held = round(len(pairs) * MRPC_HELD_OUT_FRACTION)
    held = sorted(order[:n_held])
    train = sorted(order[n_held:])
    return [pairs[i] for i in train], [pairs[i] for i in held]


def stsb_pairs() -> tuple[list[Pair], list[Pair]]:
    """(train, dev); the files have no header: genre, file, year, id, score, sentence 1, 2."""
    folder = shared_data_dir() / "stsb_news_headlines"

    def read(name: str) -> list[Pair]:
        with (folder / name).open(encoding="utf-8", newline="") as f:
            rows = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
            return [Pair(r[5], r[6], float(r[4]) / 5, "stsb") for r in rows if len(r) >= 7]

    return read("sts-train.news_headlines_deftnews.tsv"), read("sts-dev.news_headlines.tsv")


def load_headlines() -> list[Headline]:
    folder = shared_data_dir() / "news_aggregator_story_clusters"
    rows = _tsv(folder / "newsCorpora_bt_storybucket0.tsv")
    return [Headline(r["TITLE"], r["STORY"], r["CATEGORY"], r["TIMESTAMP"]) for r in rows]


def split_stories(
    headlines: Sequence[Headline], seed: int = 13, fraction: float = STORY_HELD_OUT_FRACTION
) -> tuple[list[Headline], list[Headline]]:
    """Whole stories go to one side: (train, held-out)."""
    stories = sorted({h.story for h in headlines})
    random.Random(seed).shuffle(stories)
    held = set(stories[: round(len(stories) * fraction)])
    return (
        [h for h in headlines if h.story not in held],
        [h for h in headlines if h.story in held],
    )


def story_pairs(
    headlines: Sequence[Headline],
    encode: Callable[[list[str]], np.ndarray],
    seed: int = 13,
    positives_per_story: int = POSITIVES_PER_STORY,
    negative_ceiling: float | None = HARD_NEGATIVE_CEILING,
    nearest_positive: bool = False,
) -> list[Pair]:
    """Positive, hard-negative and random-negative pairs; exact repeats are left out.

    Exact repeats (same text up to case, links and spacing) are the dedup node's hash check, not
    the embedding's job, and would only inflate the scores. Positives pair two random headlines
    of a story, or with `nearest_positive` a headline and its closest same-story headline under
    the base model: the comparison the dedup node makes (an item against its nearest neighbour),
    so that is what its thresholds are calibrated on.
    """
    rng = random.Random(seed)
    unique: dict[str, Headline] = {}
    for h in headlines:
        unique.setdefault(content_hash(h.title), h)
    items = list(unique.values())
    by_story: dict[str, list[int]] = {}
    for i, h in enumerate(items):
        by_story.setdefault(h.story, []).append(i)

    pairs: list[Pair] = []
    anchors: list[int] = []
    for story in sorted(by_story):
        members = by_story[story]
        if len(members) < 2:
            continue
        for _ in range(positives_per_story):
            i, j = rng.sample(members, 2)
            pairs.append(Pair(items[i].title, items[j].title, 1.0, "story"))
            anchors.append(i)

    vectors = encode([h.title for h in items])
    story_of = np.array([h.story for h in items])
    if nearest_positive:
        for k, i in enumerate(anchors):
            similarity = vectors @ vectors[i]
            similarity[(story_of != story_of[i]) | (np.arange(len(items)) == i)] = -2.0
            pairs[k] = Pair(items[i].title, items[int(np.argmax(similarity))].title, 1.0, "story")
    for i in anchors:
        similarity = vectors @ vectors[i]
        similarity[story_of == story_of[i]] = -2.0
        if negative_ceiling is not None:
            similarity[similarity >= negative_ceiling] = -2.0
        hard = int(np.argmax(similarity))
        pairs.append(Pair(items[i].title, items[hard].title, 0.0, "story-hard"))
        other = rng.randrange(len(items))
        if story_of[other] != story_of[i]:
            pairs.append(Pair(items[i].title, items[other].title, 0.0, "story-random"))
    return pairs


def write_pairs(pairs: Sequence[Pair], path: Path) -> Path:
    """TSV with columns a, b, label (1/0 at score >= 0.8, STS-B's 4 of 5), score, source."""
    lines = [(p.a, p.b, int(p.duplicate), p.score, p.source) for p in pairs]
    return _write_tsv(path, ("a", "b", "label", "score", "source"), lines)


def write_headlines(headlines: Sequence[Headline], path: Path) -> Path:
    """A stream file for ``newsdesk eval stream`` (fields title, timestamp, story)."""
    lines = [(h.title, h.timestamp, h.story) for h in headlines]
    return _write_tsv(path, ("title", "timestamp", "story"), lines)


def _write_tsv(path: Path, header: Sequence[str], lines: Sequence[Sequence[object]]) -> Path:
    """Plain tab-separated text, read back with QUOTE_NONE: tabs and newlines become spaces."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for line in [header, *lines]:
            cells = (" ".join(str(cell).split()) for cell in line)
            f.write("\t".join(cells) + "\n")
    return path
