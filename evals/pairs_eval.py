"""`newsdesk eval pairs`: how well embedding similarity separates duplicate from distinct pairs.

The "muddy middle" is the share of pairs whose similarity falls strictly between the unique
and duplicate thresholds: the gray zone the dedup node can only resolve by policy.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import f1_score, roc_auc_score

from evals.tables import field, read_rows
from newsdesk.settings import Settings
from tools.embeddings import get_embedder


def pair_metrics(
    similarity: np.ndarray, labels: np.ndarray, duplicate_t: float, unique_t: float
) -> dict[str, Any]:
    """AUC, muddy middle, F1 at the duplicate threshold and the best F1 over thresholds."""
    grid = np.round(np.arange(0.30, 0.96, 0.01), 2)
    f1s = [f1_score(labels, similarity > t, zero_division=0) for t in grid]
    best = int(np.argmax(f1s))
    return {
        "n": int(len(labels)),
        "positives": int(labels.sum()),
        "auc": round(float(roc_auc_score(labels, similarity)), 4),
        "muddy_middle": round(
            float(np.mean((similarity > unique_t) & (similarity < duplicate_t))), 4
        ),
        "threshold": duplicate_t,
        "unique_threshold": unique_t,
        "f1_at_threshold": round(
            float(f1_score(labels, similarity > duplicate_t, zero_division=0)), 4
        ),
        "best_f1": round(float(f1s[best]), 4),
        "best_threshold": float(grid[best]),
    }


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
) -> dict[str, Any]:
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
    started = time.perf_counter()
    left = embedder.encode([str(field(r, a)) for r in rows], show_progress=True)
    right = embedder.encode([str(field(r, b)) for r in rows], show_progress=True)
    elapsed = time.perf_counter() - started
    similarity = np.sum(left * right, axis=1)
    report = pair_metrics(
        similarity, labels, settings.dedup_duplicate_threshold, settings.dedup_unique_threshold
    )
    report.update(
        data=str(data),
        model=str(embedder.model_path),
        latency_ms_per_pair=round(1000 * elapsed / max(len(rows), 1), 2),
        llm_tokens_per_item=0,
    )
    if plot is not None:
        plot_pairs(
            similarity,
            labels,
            report["threshold"],
            report["unique_threshold"],
            plot,
            f"{Path(data).name}: AUC {report['auc']:.3f}, "
            f"muddy middle {report['muddy_middle']:.0%}",
        )
        report["plot"] = str(plot)
    return report
