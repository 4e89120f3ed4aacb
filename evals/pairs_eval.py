"""`newsdesk eval pairs`: how well embedding similarity separates duplicate from distinct pairs.

The "muddy middle" is the share of pairs whose similarity falls strictly between the unique
and duplicate thresholds: the gray zone the dedup node can only resolve by policy.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import f1_score, roc_auc_score

from core.eval_reports import PairScores, PairsReport, VerifierScores
from core.settings import Settings
from evals.tables import field, read_rows
from tools.embeddings import get_embedder
from tools.pair_verifier import PairVerifier, get_pair_verifier, material_difference


def pair_metrics(
    similarity: np.ndarray, labels: np.ndarray, duplicate_t: float, unique_t: float
) -> PairScores:
    """AUC, muddy middle, F1 at the duplicate threshold and the best F1 over thresholds."""
    grid = np.round(np.arange(0.30, 0.96, 0.01), 2)
    f1s = [f1_score(labels, similarity > t, zero_division=0) for t in grid]
    best = int(np.argmax(f1s))
    return PairScores(
        n=int(len(labels)),
        positives=int(labels.sum()),
        auc=round(float(roc_auc_score(labels, similarity)), 4),
        muddy_middle=round(float(np.mean((similarity > unique_t) & (similarity < duplicate_t))), 4),
        threshold=duplicate_t,
        unique_threshold=unique_t,
        f1_at_threshold=round(
            float(f1_score(labels, similarity > duplicate_t, zero_division=0)), 4
        ),
        best_f1=round(float(f1s[best]), 4),
        best_threshold=float(grid[best]),
    )


def verifier_metrics(
    similarity: np.ndarray,
    probability: np.ndarray,
    labels: np.ndarray,
    duplicate_t: float,
    unique_t: float,
    same_cut: float,
    distinct_cut: float,
    not_copy: np.ndarray | None = None,
) -> VerifierScores:
    """The cross-encoder alone, and the desk as it decides: cosine cuts first, the verifier on
    the gray zone between them, where `not_copy` marks the pairs ``material_difference`` keeps
    from being called copies. ``muddy_middle_after_verifier`` is what is still undecided (left
    to the gray-zone policy or the LLM); ``desk_*`` score the duplicate verdicts."""
    gray = (similarity > unique_t) & (similarity < duplicate_t)
    same = probability > same_cut
    if not_copy is not None:
        same &= ~not_copy
    duplicate = (similarity > duplicate_t) | (gray & same)
    undecided = gray & (probability >= distinct_cut) & ~same
    grid = np.round(np.arange(0.05, 0.96, 0.05), 2)
    f1s = [f1_score(labels, probability >= t, zero_division=0) for t in grid]
    best = int(np.argmax(f1s))
    two_classes = len(set(labels[gray].tolist())) == 2
    return VerifierScores(
        verifier_auc=round(float(roc_auc_score(labels, probability)), 4),
        verifier_gray_auc=round(float(roc_auc_score(labels[gray], probability[gray])), 4)
        if two_classes
        else None,
        verifier_f1_at_cut=round(
            float(f1_score(labels, probability > same_cut, zero_division=0)), 4
        ),
        verifier_best_f1=round(float(f1s[best]), 4),
        verifier_best_cut=float(grid[best]),
        verifier_same_cut=same_cut,
        verifier_distinct_cut=distinct_cut,
        verifier_call_share=round(float(gray.mean()), 4),
        muddy_middle_after_verifier=round(float(undecided.mean()), 4),
        desk_precision=round(float(labels[duplicate].mean()) if duplicate.any() else 0.0, 4),
        desk_recall=round(float(duplicate[labels == 1].mean()) if labels.any() else 0.0, 4),
        desk_f1=round(float(f1_score(labels, duplicate, zero_division=0)), 4),
    )


def score_with_verifier(
    verifier: PairVerifier,
    texts: Sequence[tuple[str, str]],
    similarity: np.ndarray,
    labels: np.ndarray,
    duplicate_t: float,
    unique_t: float,
) -> VerifierScores:
    """``verifier_metrics`` for these pairs under `verifier`, with its timing."""
    started = time.perf_counter()
    probability = verifier.probability(texts)
    elapsed = time.perf_counter() - started
    scores = verifier_metrics(
        similarity,
        probability,
        labels,
        duplicate_t,
        unique_t,
        verifier.same_cut,
        verifier.distinct_cut,
        not_copies(texts),
    )
    scores.verifier_ms_per_pair = round(1000 * elapsed / max(len(texts), 1), 2)
    return scores


def not_copies(pairs: Sequence[tuple[str, str]]) -> np.ndarray:
    """Per pair: True where ``material_difference`` rules out a copy."""
    return np.array([material_difference(a, b) is not None for a, b in pairs], dtype=bool)


def plot_pairs(
    similarity: np.ndarray,
    labels: np.ndarray,
    duplicate_t: float,
    unique_t: float,
    path: Path,
    title: str,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (scatter, hist) = plt.subplots(1, 2, figsize=(11, 4))
    jitter = np.random.default_rng(0).uniform(-0.15, 0.15, len(labels))
    for value, colour, name in ((0, "tab:blue", "distinct"), (1, "tab:red", "duplicate")):
        mask = labels == value
        scatter.scatter(
            similarity[mask], value + jitter[mask], s=6, alpha=0.5, c=colour, label=name
        )
        hist.hist(similarity[mask], bins=40, range=(0, 1), alpha=0.55, color=colour, label=name)
    for axis in (scatter, hist):
        axis.axvspan(unique_t, duplicate_t, color="grey", alpha=0.12, label="muddy middle")
        axis.axvline(duplicate_t, color="black", linestyle="--", linewidth=1)
        axis.axvline(unique_t, color="black", linestyle=":", linewidth=1)
        axis.set_xlabel("cosine similarity")
    scatter.set_yticks([0, 1], ["distinct", "duplicate"])
    hist.set_ylabel("pairs")
    hist.legend(loc="upper left")
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def evaluate_pairs(
    data: Path,
    a: str,
    b: str,
    label: str,
    settings: Settings,
    limit: int | None = None,
    label_cutoff: float | None = None,
    plot: Path | None = None,
    model: str | None = None,
) -> PairsReport:
    """Similarity of each pair under the (configured or given) embedding model.

    `label_cutoff` turns a graded score (STS-B 0-5) into duplicate = score >= cutoff.
    """
    rows = read_rows(data, limit)
    labels = np.array(
        [
            float(field(r, label)) >= label_cutoff
            if label_cutoff is not None
            else int(float(field(r, label))) == 1
            for r in rows
        ],
        dtype=int,
    )
    if model is not None:
        # A fine-tuned model is judged at its own calibrated cuts, as the desk would run it.
        settings = settings.model_copy(update={"embedding_model": model}).with_model_thresholds()
    embedder = get_embedder(settings.embedding_model, settings.embedding_batch_size)
    texts = [(str(field(r, a)), str(field(r, b))) for r in rows]
    started = time.perf_counter()
    left = embedder.encode([t[0] for t in texts], show_progress=True)
    right = embedder.encode([t[1] for t in texts], show_progress=True)
    elapsed = time.perf_counter() - started
    similarity = np.sum(left * right, axis=1)
    scores = pair_metrics(
        similarity, labels, settings.dedup_duplicate_threshold, settings.dedup_unique_threshold
    )
    verifier_keys: dict[str, Any] = {}
    if settings.dedup_verifier != "none":
        verifier = get_pair_verifier(settings.dedup_verifier_model)
        checked = score_with_verifier(
            verifier,
            texts,
            similarity,
            labels,
            settings.dedup_duplicate_threshold,
            settings.dedup_unique_threshold,
        )
        # Optional keys: only a run with the verifier has them.
        verifier_keys = {**checked.model_dump(), "verifier_model": str(verifier.path)}
    report = PairsReport(
        **scores.model_dump(),
        data=str(data),
        model=str(embedder.model_path),
        latency_ms_per_pair=round(1000 * elapsed / max(len(rows), 1), 2),
        llm_tokens_per_item=0,
        **verifier_keys,
    )
    if plot is not None:
        plot_pairs(
            similarity,
            labels,
            report.threshold,
            report.unique_threshold,
            plot,
            f"{Path(data).name}: AUC {report.auc:.3f}, muddy middle {report.muddy_middle:.0%}",
        )
        report.plot = str(plot)
    return report
