"""The bench's peers (SemHash, MinHash LSH) and the stream score they share with the desk."""

from __future__ import annotations

import csv
from pathlib import Path

from evals.bench_peers import minhash_peer, scores_from_matches, semhash_peer


def test_scores_count_right_and_wrong_drops() -> None:
    groups = ["a", "a", "b", "a", "b", "c"]
    # Item 1 is a right drop (of 0), item 3 a wrong one (matched b), item 4 right (of 2).
    scores = scores_from_matches(groups, [None, 0, None, 2, 2, None])
    # A perfect desk drops items 1, 3 and 4: two of three found, two of three drops right.
    assert (scores.precision, scores.recall) == (0.6667, 0.6667)
    assert scores_from_matches(groups, [None] * 6).f1 == 0.0


def test_peers_find_reposted_headlines(shared_data: Path) -> None:
    from tools.embeddings import get_embedder

    path = shared_data / "news_aggregator_story_clusters" / "newsCorpora_bt_storybucket0.tsv"
    with path.open(encoding="utf-8") as handle:
        rows = sorted(csv.DictReader(handle, delimiter="\t"), key=lambda r: int(r["TIMESTAMP"]))
    rows = rows[:400]
    texts, groups = [r["TITLE"] for r in rows], [r["STORY"] for r in rows]
    embedder = get_embedder()
    semhash = semhash_peer(texts, groups, embedder.encode(texts), embedder.encode, 0.75)
    minhash = minhash_peer(texts, groups)
    for peer in (semhash, minhash):
        assert peer.scores.precision > 0.8 and peer.scores.recall > 0.1, peer
        assert peer.events_per_minute > 0
