"""Baselines on synthetic activations with known answers, the greedy-generation baseline on the tiny model, and
the analytic FLOP counts against torch's own FLOP counter."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from sn_core.models.generation import generate_answers, label_token_budget
from sn_core.scoring.baselines import linear_probe_baseline, sav_baseline
from sn_core.data import get_task
from sn_core.data.answers import match_label


def _heads(n, y, informative, n_layers=3, n_heads=4, d_head=8, seed=0):
    """attn.hook_z-like values [n_layers, n, n_heads*d_head]; only head `informative=(layer, head)` points in a
    class-specific direction, every other head is noise."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_layers, n, n_heads, d_head))
    dirs = rng.normal(size=(int(y.max()) + 1, d_head)) * 4
    L, h = informative
    x[L, :, h] += dirs[y]
    return x.reshape(n_layers, n, n_heads * d_head)


def test_sav_finds_the_informative_head_and_votes_it_through():
    y_p = np.repeat(np.arange(3), 20)
    y_t = np.repeat(np.arange(3), 30)
    ap, at = _heads(60, y_p, (2, 1)), _heads(90, y_t, (2, 1), seed=1)
    # Only one informative head, so the vote of 20 noise heads would drown it: use the top-1 head here.
    out = sav_baseline(ap, y_p, at, y_t, n_heads=4, n_classes=3, n_top_heads=1)
    assert out["heads"][0]["layer"] == 2 and out["heads"][0]["head"] == 1
    assert out["test_accuracy"] > 0.9
    full = sav_baseline(ap, y_p, at, y_t, n_heads=4, n_classes=3)
    assert full["n_top_heads"] == 12  # 3 layers x 4 heads < 20: every head votes
    assert full["heads"][0] == out["heads"][0]


def test_sav_vote_with_many_informative_heads():
    y_p = np.repeat(np.arange(2), 20)
    y_t = np.repeat(np.arange(2), 50)
    rng = np.random.default_rng(3)
    dirs = rng.normal(size=(2, 8))
    ap = rng.normal(size=(6, 40, 4, 8)) * 2 + dirs[y_p][None, :, None, :]
    at = rng.normal(size=(6, 100, 4, 8)) * 2 + dirs[y_t][None, :, None, :]
    out = sav_baseline(ap.reshape(6, 40, 32), y_p, at.reshape(6, 100, 32), y_t, n_heads=4)
    assert out["n_top_heads"] == 20
    single = np.mean([h["probe_accuracy"] for h in out["heads"]])
    assert out["test_accuracy"] >= single - 0.05  # the vote is at least as good as an average head


def test_linear_probe_picks_the_informative_layer_by_cross_validation():
    rng = np.random.default_rng(0)
    y_p, y_t = np.repeat([0, 1], 20), np.repeat([0, 1], 40)
    rp, rt = rng.normal(size=(4, 40, 16)), rng.normal(size=(4, 80, 16))
    rp[2, :, 3] += 3 * y_p
    rt[2, :, 3] += 3 * y_t
    out = linear_probe_baseline(rp, y_p, rt, y_t, layers=[0, 1, 2, 3])
    assert out["layer"] == 2 and out["test_accuracy"] > 0.85 and out["folds"] == 5
    assert out["cv_probe_accuracy"]["2"] == max(out["cv_probe_accuracy"].values())


def test_generation_baseline_on_tiny_model(tiny_llava):
    labels = ("red", "green", "blue", "yellow")
    assert label_token_budget(tiny_llava.processor, labels) == 1  # one word each (docs/method.md: the longest label)
    task = get_task("shapes-color", 4)
    prompts = [tiny_llava.prompt(task.prompt_text(e.question)) for e in task.examples]
    res = generate_answers(tiny_llava, [e.image for e in task.examples], prompts, labels, batch_size=3)
    assert len(res.answers) == 4 and res.max_new_tokens == 1
    for ans, pred in zip(res.answers, res.predicted):
        assert pred is None or pred in labels  # random weights: mostly outside the label set, counted wrong
    # each answer is scored by matching it to the label set, and the accuracy is the share matched to the truth
    assert res.predicted == [match_label(a, labels) for a in res.answers]
    assert res.accuracy(task.y) == np.mean([p == t for p, t in zip(res.predicted, task.y)])


def test_generation_baseline_refuses_a_truncated_model(tiny_llava_dir):
    from sn_core.models import load_model

    small = load_model(str(tiny_llava_dir), max_layers=1)
    with pytest.raises(ValueError, match="only 1 of 3 decoder layers"):
        generate_answers(small, [], [], ["a", "b"])


def test_analytic_flops_match_torch_flop_counter(demo_loaded):
    """torch's FlopCounterMode counts every matmul (it does not count the CPU flash-attention kernel), so the
    analytic count minus its attention-score term must match it closely, for early exit at several layers and
    for a full two-token generation."""
    from torch.utils.flop_counter import FlopCounterMode

    from sn_core.activations import Trace
    from sn_core.models.flops import early_exit_flops, flop_dims, flop_ratio, generation_flops

    d = flop_dims(demo_loaded)
    task = get_task("shapes-color", 1)
    prompt = [demo_loaded.prompt(task.prompt_text(task.examples[0].question))]
    inputs = demo_loaded.encode([task.examples[0].image], prompt)
    T = inputs["input_ids"].shape[1]
    vision_attn = 4 * d.vision_d_attn * d.vision_tokens ** 2 * d.vision_layers
    for L in (0, 3, d.n_layers - 1):
        with FlopCounterMode(display=False) as fc:
            with Trace(demo_loaded, [("mlp", L)]) as tr:
                tr.run(inputs)
        analytic = early_exit_flops(d, T, L) - vision_attn - (L + 1) * 4 * d.d_attn * T * (T + 1) / 2
        assert fc.get_total_flops() == pytest.approx(analytic, rel=0.02), L
    gen_inputs = demo_loaded.encode([task.examples[0].image], prompt, generation=True)
    with FlopCounterMode(display=False) as fc, torch.inference_mode():
        demo_loaded.model.generate(**gen_inputs, max_new_tokens=2, min_new_tokens=2, do_sample=False)
    analytic = (generation_flops(d, T, 2) - vision_attn - d.n_layers * 4 * d.d_attn * (T * (T + 1) / 2 + T + 1))
    assert fc.get_total_flops() == pytest.approx(analytic, rel=0.02)
    ratios = [flop_ratio(demo_loaded, T, L)["ratio"] for L in range(d.n_layers)]
    assert all(a > b for a, b in zip(ratios, ratios[1:])) and ratios[-1] > 1.0
