"""A training-progress line shared by the fine-tuning loops: CPU epochs take minutes."""

from __future__ import annotations

import sys
import time

EVERY_STEPS = 20


def print_step(
    epoch: int, epochs: int, step: int, steps: int, mean_loss: float, started: float
) -> None:
    """Every 20 steps and at the last, overwrite one stderr line with where training stands."""
    if step % EVERY_STEPS and step != steps - 1:
        return
    print(
        f"\r  epoch {epoch}/{epochs} step {step + 1}/{steps} "
        f"loss {mean_loss:.4f} ({time.monotonic() - started:.0f} s)",
        end="",
        file=sys.stderr,
        flush=True,
    )
