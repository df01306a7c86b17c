"""The exported shortcut of every family's tiny model vs the library's early exit, on a bundled task.

For each family (``sn_core.models.tiny``; 3 decoder layers, exit after layer 1): a classifier over two neurons
(``blocks.1.mlp.hook_post[3]``, ``blocks.1.hook_resid_post[5]``, nearest class mean) fitted on the library's
values of the task's first ``--n`` eval examples, exported, then every example answered by the library
(``EarlyExitPredictor``, batch 1) and by the shortcut on onnxruntime at batch 1, 2 and 5 (left-padded). Prints per
family: export seconds, graph MB, label agreement (lowest over the batch sizes), the largest difference of the
values relative to the neuron's mean magnitude, and ms per example (library at batch 1, shortcut at batch 1 and
5, one onnxruntime thread). With ``--float16`` each shortcut is also converted to float16
(``sn_core.shortcut.half``) and run at batch 5: conversion seconds, graph MB, labels equal to the float32 graph's,
the largest difference from the library's values relative to the neuron's mean magnitude, ms per example. Weights
are random: the figures test the export, not accuracy.

    python bench/shortcut_families.py [--task shapes-color] [--n 40] [--families ...] [--float16]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

FAMILIES = ["llava", "llava_onevision", "qwen2_vl", "qwen2_5_vl", "qwen3_vl", "smolvlm", "idefics3", "gemma3"]


def main(argv=None) -> int:
    from sn_core.classifier import SuperNeuronClassifier
    from sn_core.data import get_task
    from sn_core.shortcut.early_exit import EarlyExitPredictor
    from sn_core.data.images import load_image
    from sn_core.models import load_model
    from sn_core.shortcut import export_shortcut, load_shortcut
    from sn_core.shortcut.half import float16_shortcut
    from sn_core.models.tiny import save_tiny_vlm

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", default="shapes-color")
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--families", nargs="+", default=FAMILIES)
    ap.add_argument("--float16", action="store_true", help="also convert each shortcut to float16 (export "
                    "--float16's graph) and compare it with the float32 graph at batch 5")
    a = ap.parse_args(argv)
    task = get_task(a.task, a.n, seed=0, part="eval")
    images = [e.image if not isinstance(e.image, (str, Path)) else load_image(e.image) for e in task.examples]
    questions = [e.question for e in task.examples]
    neurons = ("blocks.1.mlp.hook_post[3]", "blocks.1.hook_resid_post[5]")
    print(f"{'family':16s} {'export s':>8} {'graph MB':>8} {'labels equal':>12} {'max rel diff':>12} "
          f"{'library ms':>10} {'sc ms b1':>8} {'sc ms b5':>8}"
          + (f" {'f16 conv s':>8} {'f16 MB':>8} {'f16=f32 lbl':>12} {'f16 rel diff':>12} {'f16 ms b5':>8}"
             if a.float16 else ""))
    worst = 1.0
    for fam in a.families:
        with tempfile.TemporaryDirectory() as td:
            folder = save_tiny_vlm(fam, Path(td) / "m", n_layers=3, seed=0)
            loaded = load_model(str(folder), max_layers=2)
            dummy = SuperNeuronClassifier(neurons=neurons).fit(np.zeros((4, 2)) + np.arange(4)[:, None], list("abab"))
            V = EarlyExitPredictor(loaded, dummy).values(images, questions)
            clf = SuperNeuronClassifier(neurons=neurons, rule="nearest_mean").fit(V, task.y)
            clf.meta_ = {"model_id": str(folder), "weights_hash": loaded.weights_hash,
                         "instruction": task.instruction, "meta": {"dtype": "float32"}}
            t0 = time.perf_counter()
            out = export_shortcut(clf, Path(td) / "sc", loaded=loaded)
            export_s = time.perf_counter() - t0
            mb = sum(p.stat().st_size for p in out.glob("shortcut.onnx*")) / 2 ** 20
            sc = load_shortcut(out, threads=1)
            pred = EarlyExitPredictor(loaded, clf)
            t0 = time.perf_counter()
            ref = np.concatenate([pred.values([im], [q]) for im, q in zip(images, questions)])
            lib_ms = 1000 * (time.perf_counter() - t0) / len(images)
            agree, rel, ms = 1.0, 0.0, {}
            for bs in (1, 2, 5):
                t0 = time.perf_counter()
                got = sc.predict(images, questions, batch_size=bs)
                ms[bs] = 1000 * (time.perf_counter() - t0) / len(images)
                agree = min(agree, float(np.mean(np.array(got.labels) == pred.labels(ref))))
                rel = max(rel, float(np.max(np.abs(got.values - ref) / np.abs(ref).mean(axis=0))))
            worst = min(worst, agree)
            line = (f"{fam:16s} {export_s:8.1f} {mb:8.2f} {agree:12.4f} {rel:12.2e} {lib_ms:10.2f} {ms[1]:8.2f} "
                    f"{ms[5]:8.2f}")
            if a.float16:  # the float16 graph of the same shortcut, at batch 5, next to the float32 one
                t0 = time.perf_counter()
                sc16 = load_shortcut(float16_shortcut(out, Path(td) / "sc16"), threads=1)
                conv_s = time.perf_counter() - t0
                mb16 = sum(p.stat().st_size for p in sc16.folder.glob("shortcut.onnx*")) / 2 ** 20
                t0 = time.perf_counter()
                g16 = sc16.predict(images, questions, batch_size=5)
                ms16 = 1000 * (time.perf_counter() - t0) / len(images)
                f32 = sc.predict(images, questions, batch_size=5)
                eq16 = float(np.mean(np.array(g16.labels) == np.array(f32.labels)))
                rel16 = float(np.max(np.abs(g16.values - ref) / np.abs(ref).mean(axis=0)))
                line += f" {conv_s:8.1f} {mb16:8.2f} {eq16:12.4f} {rel16:12.2e} {ms16:8.2f}"
            print(line, flush=True)
    print(f"agreement min {worst:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
