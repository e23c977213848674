"""Learning-rate schedule: linear warm-up, then cosine decay (the EquiformerV2 recipe)."""

from __future__ import annotations

import math


def learning_rate(
    step: int, peak: float, total_steps: int, warmup_steps: int, warmup_factor: float, min_factor: float
) -> float:
    """The learning rate for optimizer step ``step`` (0-based).

    Warm-up: from ``warmup_factor * peak`` at step 0 linearly to ``peak`` at ``warmup_steps``.
    Then cosine from ``peak`` to ``min_factor * peak`` at ``total_steps``.
    """
    if step < warmup_steps:
        return peak * (warmup_factor + (1.0 - warmup_factor) * step / warmup_steps)
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return peak * (min_factor + (1.0 - min_factor) * 0.5 * (1.0 + math.cos(math.pi * progress)))
