"""Early exit against full generation, measured side by side in one run on the same test images (docs/method.md,
"Speed"): per batch size, the median seconds of both paths over interleaved repeats after a warm-up, and the
analytic FLOP limit of the exit. The Compare page draws it; ``bench/early_exit.py`` is the command-line version."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from sn_core.progress import Progress


@dataclass
class SpeedReport:
    rows: list[dict]  # {"batch_size", "path", "ms_per_example"}, two per batch size timed
    exit_layer: int
    n_images: int
    flop_limit: float | None
    skipped: list[int] = field(default_factory=list)  # batch sizes larger than the images timed
    speedup_batch1: float | None = None  # full / early exit at batch size 1 (None when not timed)


def measure_speed(loaded, res, neurons: Sequence[str], n_images: int, batch_sizes: Sequence[int], repeats: int,
                  progress: Progress | None = None) -> SpeedReport:
    """Time ``res``'s classifier over ``neurons`` as an early exit against the model generating its answer, on the
    first ``n_images`` test examples of the search ``res``, at each of ``batch_sizes``. ValueError for a model loaded
    with only its first layers, no batch size, or only batch sizes larger than the images."""
    from sn_core.data.images import load_image
    from sn_core.models.flops import flop_limit
    from sn_core.models.generation import generate_answers
    from sn_core.shortcut.early_exit import EarlyExitPredictor
    from sn_core.shortcut.timing import median_seconds

    if not batch_sizes:
        raise ValueError("choose at least one batch size")
    if getattr(loaded, "truncated", False):
        raise ValueError("the model was loaded with only its first layers: full generation cannot run")
    task = res.task
    idx = np.asarray(res.split.test)[:n_images]
    images = [load_image(task.examples[int(i)].image) for i in idx]
    questions = [task.examples[int(i)].question for i in idx]
    prompts = [loaded.prompt(task.prompt_text(q)) for q in questions]
    labels = list(res.labels)
    pred = EarlyExitPredictor(loaded, res.classifier(list(neurons)), instruction=task.instruction)
    runnable = sorted(bs for bs in batch_sizes if bs <= len(images))
    if not runnable:
        raise ValueError(f"every batch size chosen is larger than the {len(images)} image(s) timed; choose more "
                         "images or a smaller batch size")
    rows, total, speedup = [], len(runnable) * repeats, None
    for n_done, bs in enumerate(runnable):
        med = median_seconds(
            {"ee": lambda bs=bs: sum(p.seconds for p in pred.predict_batch(images, questions, batch_size=bs)),
             "full": lambda bs=bs: generate_answers(loaded, images, prompts, labels, batch_size=bs).seconds},
            repeats,
            warmup={"ee": lambda bs=bs: pred.predict_batch(images[:bs], questions[:bs], batch_size=bs),
                    "full": lambda bs=bs: generate_answers(loaded, images[:bs], prompts[:bs], labels, batch_size=bs)},
            on_repeat=(lambda i, n_done=n_done: progress("timing", n_done * repeats + i, total)) if progress else None)
        rows += [{"batch_size": bs, "path": "full model (generate)", "ms_per_example": 1000 * med["full"] / len(images)},
                 {"batch_size": bs, "path": f"early exit (layer {pred.exit_layer})",
                  "ms_per_example": 1000 * med["ee"] / len(images)}]
        if bs == 1:
            speedup = med["full"] / med["ee"]
    if progress:
        progress("timing", total, total)
    return SpeedReport(rows, pred.exit_layer, len(images), flop_limit(pred, images[0], questions[0], res.labels),
                       sorted(set(batch_sizes) - set(runnable)), speedup)


__all__ = ["SpeedReport", "measure_speed"]
