"""Two well-known dedup tools run on the same stream as the desk, for `newsdesk bench`.

- SemHash (`SemHash.from_embeddings` on the desk's own first-tier vectors): near-duplicate
  search over the whole set at once, as it is meant to be used.
- datasketch MinHash LSH on word shingles: the classic lexical near-duplicate filter, run as a
  stream (query, then insert), like the desk.

Both are scored with the desk's stream metrics: precision of the "duplicate" calls (the match
is in the same story) and recall over the items a perfect desk drops (every story's later
items).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from core.eval_reports import PrecisionRecall

WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class PeerResult:
    name: str
    events_per_minute: float
    scores: PrecisionRecall


def scores_from_matches(groups: Sequence[str], matches: Sequence[int | None]) -> PrecisionRecall:
    """matches[i]: the index of the item that item i was dropped as a copy of, or None."""
    dropped = [(i, m) for i, m in enumerate(matches) if m is not None]
    tp = sum(groups[i] == groups[m] for i, m in dropped)
    seen: set[str] = set()
    should_drop = 0
    for group in groups:
        should_drop += group in seen
        seen.add(group)
    precision = tp / len(dropped) if dropped else 0.0
    recall = tp / should_drop if should_drop else 0.0
    f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
    return PrecisionRecall(precision=round(precision, 4), recall=round(recall, 4), f1=round(f1, 4))


def per_minute(n: int, seconds: float) -> float:
    return round(n / seconds * 60, 1) if seconds > 0 else 0.0


def semhash_peer(
    texts: Sequence[str],
    groups: Sequence[str],
    vectors: np.ndarray,
    encode: Callable[[Sequence[str]], np.ndarray],
    threshold: float,
) -> PeerResult:
    """SemHash self-deduplication over the vectors the desk's first tier computed (so only its
    search and grouping are timed, as for the desk's batched path after its encoding)."""
    from semhash import SemHash

    class Encoder:
        # SemHash wants an encoder for later queries; self-deduplication only uses the vectors.
        def encode(self, sentences: Sequence[str], **_: object) -> np.ndarray:
            return encode(sentences)

    records = [{"id": str(i), "text": text} for i, text in enumerate(texts)]
    started = time.perf_counter()
    index = SemHash.from_embeddings(
        np.asarray(vectors, dtype=np.float32), records, Encoder(), columns=["text"]
    )
    result = index.self_deduplicate(threshold=threshold)
    elapsed = time.perf_counter() - started
    matches: list[int | None] = [None] * len(texts)
    for dropped in result.filtered:
        matches[int(dropped.record["id"])] = int(dropped.duplicate_of["id"])
    return PeerResult(
        "semhash", per_minute(len(texts), elapsed), scores_from_matches(groups, matches)
    )


def shingles(text: str, size: int = 1) -> set[bytes]:
    words = WORD.findall(text.lower())
    if len(words) < size:
        return {" ".join(words).encode()}
    return {" ".join(words[i : i + size]).encode() for i in range(len(words) - size + 1)}


def minhash_peer(
    texts: Sequence[str], groups: Sequence[str], threshold: float = 0.3, permutations: int = 64
) -> PeerResult:
    """MinHash LSH as a stream: each item queries the items before it, then joins the index.

    Word unigrams at Jaccard 0.3 were the best F1 of a small grid (unigrams and bigrams, 0.3 to
    0.5) on the first 3,000 story-cluster headlines: outlets reword headlines, so longer
    shingles rarely match.
    """
    from datasketch import MinHash, MinHashLSH

    started = time.perf_counter()
    lsh = MinHashLSH(threshold=threshold, num_perm=permutations)
    signatures: list[MinHash] = []
    matches: list[int | None] = []
    for i, text in enumerate(texts):
        signature = MinHash(num_perm=permutations)
        signature.update_batch(list(shingles(text)))
        candidates = lsh.query(signature)
        best = max(
            (int(c) for c in candidates),
            key=lambda c: signature.jaccard(signatures[c]),
            default=None,
        )
        if best is not None and signature.jaccard(signatures[best]) >= threshold:
            matches.append(best)
        else:
            matches.append(None)
        lsh.insert(str(i), signature)
        signatures.append(signature)
    elapsed = time.perf_counter() - started
    return PeerResult(
        "minhash", per_minute(len(texts), elapsed), scores_from_matches(groups, matches)
    )
