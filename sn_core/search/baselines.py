"""The search's baselines stage (docs/method.md, "Baselines"): the base model's generated answer
(``sn_core.models.generation``), SAV and the linear probe (``sn_core.scoring.baselines``), all on the search's
test split. The names of those two modules stay importable from here."""
from __future__ import annotations

from typing import Sequence

from sn_core.progress import Progress
from sn_core.models.generation import GenerationResult, generate_answers, label_token_budget  # noqa: F401
from sn_core.scoring.baselines import (SAV_TOP_HEADS, linear_probe_baseline, sav_baseline,  # noqa: F401
                                       sav_head_predictions)



def run_baselines(loaded, ext, sub, prompts: Sequence[str], data, labels: Sequence[str], batch_size: int,
                  seed: int, progress: Progress | None = None) -> dict:
    """The search's baselines on its test split: base model (greedy generation), SAV (``attn`` at every layer) and
    the linear probe (``resid`` at every layer). ``ext`` is the search's extraction of ``sub``'s examples; ``data``
    its ``ranking.SplitData``. Returns ``{"base": ..., "sav": ..., "probe_lr": ...}``."""
    base: dict = {"base": None, "sav": None, "probe_lr": None}
    step = (lambda d: progress("baselines", d, 3)) if progress else (lambda d: None)
    step(0)
    if loaded.truncated:
        base["base"] = {"skipped": "model loaded with max_layers; generation needs every layer"}
    else:
        test_ex = [sub.examples[i] for i in data.t_idx]
        gen = generate_answers(loaded, [e.image for e in test_ex], [prompts[i] for i in data.t_idx], labels,
                               batch_size=batch_size,
                               progress=(lambda s, d, t: progress("generate", d, t)) if progress else None)
        base["base"] = {"test_accuracy": gen.accuracy([e.label for e in test_ex]),
                        "max_new_tokens": gen.max_new_tokens, "seconds": gen.seconds,
                        "outside_label_set": int(sum(p is None for p in gen.predicted)), "answers": gen.answers}
    step(1)
    attn = ext.stack("attn")  # [n_layers_all, n_used, n_heads*d_head]
    base["sav"] = sav_baseline(attn[:, data.p_idx], data.yp, attn[:, data.t_idx], data.yt, loaded.n_heads,
                               data.n_classes, layers=ext.layers)
    step(2)
    resid = ext.stack("resid")  # [n_layers_all, n_used, d_model]
    base["probe_lr"] = linear_probe_baseline(resid[:, data.p_idx], data.yp, resid[:, data.t_idx], data.yt,
                                             layers=ext.layers, seed=seed)
    step(3)
    return base
