"""Multiple choice two ways on the demo model: lettered options (one forward, classes A-D: what search, the CLI and
the app do) against per-choice scoring (one forward per choice, one neuron's value as the choice's score, argmax).

The task: the demo's shapes-color images (eval part) asked "What color is the shape?" with the four colours as
choices in a seeded random order; the correct letter cycles A-D, so every letter is right equally often. Both
modes use the same seeded probe/test split (``make_split``, 20 probe examples per letter):

- ``letters``: ``run_search`` on the lettered task (question + "A. red" ... lines, "Answer with the option's letter
  from the given choices directly."), mlp neurons of every layer, baselines on: the Super Neuron's test accuracy,
  the base model's generated letter, SAV;
- ``per-choice`` (``sn_core.search.per_choice``): for every example and choice the prompt "What color is the
  shape? <choice>" (no instruction) is read once; a neuron's score for a choice is its value there (or minus its
  value), the argmax over the four choices is the answer; the neuron and sign with the best probe accuracy (ties:
  the earlier layer and index) are evaluated on the test split.

Usage::

    python bench/multiple_choice.py            # 200 examples
    python bench/multiple_choice.py --n 400 --seed 1
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

STEM = "What color is the shape?"


def mc_task(n: int, seed: int):
    from sn_core.data import Example, Task, get_task
    from sn_core.data.choices import LETTERS, MC_INSTRUCTION, mc_question

    base = get_task("shapes-color", n, seed=seed, part="eval")
    colours = list(base.labels)
    rng = np.random.default_rng([seed, 77])
    examples = []
    for i, ex in enumerate(base.examples):
        k = i % len(colours)
        others = [c for c in colours if c != ex.label]
        others = [others[j] for j in rng.permutation(len(others))]
        choices = others[:k] + [ex.label] + others[k:]
        examples.append(Example(ex.image, mc_question(STEM, choices), LETTERS[k],
                                {"choices": choices, "answer": ex.label, "stem": STEM}))
    return Task("shapes-color-mc", tuple(LETTERS[:len(colours)]), examples, instruction=MC_INSTRUCTION)


def per_choice(loaded, task, split, batch_size: int) -> dict:
    from sn_core.search.per_choice import per_choice_search, per_choice_values

    t0 = time.perf_counter()
    values = per_choice_values(loaded, task, batch_size=batch_size)
    secs = time.perf_counter() - t0
    r = per_choice_search(values, task, split)
    return {"neuron": r.neuron, "sign": r.sign, "probe": r.probe_accuracy, "test": r.test_accuracy,
            "forwards_per_example": r.forwards_per_example, "seconds": secs}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--probe-per-class", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=16)
    a = ap.parse_args(argv)
    from sn_core.config import SearchConfig
    from sn_core.data import make_split
    from sn_core.models import load_model
    from sn_core.search import run_search
    from sn_core.scoring.stats import wilson_interval

    loaded = load_model("demo")
    task = mc_task(a.n, a.seed)
    split = make_split(task.y, a.probe_per_class, None, seed=a.seed)
    n_test = len(split.test)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        res = run_search(SearchConfig(task=task.name, probe_per_class=a.probe_per_class, seed=a.seed,
                                      batch_size=a.batch_size), task=task, loaded=loaded, root=tmp)
        letters_s = time.perf_counter() - t0
    s = res.summary
    pc = per_choice(loaded, task, split, a.batch_size)

    def ci(acc):
        lo, hi = wilson_interval(round(acc * n_test), n_test)
        return f"{100 * acc:5.1f}% [{100 * lo:.1f}-{100 * hi:.1f}]"

    print(f"demo model, {a.n} four-choice questions (seed {a.seed}); probe {len(split.probe)} / test {n_test}; "
          f"chance 25%")
    print(f"letters     Super Neuron {s.sn_neuron_id}: test {ci(s.sn_test_accuracy)}   base model's generated "
          f"letter {ci(s.base_accuracy or 0.0)}   SAV {100 * (s.sav_test_accuracy or 0):.1f}%   (1 forward/example; "
          f"search {letters_s:.0f} s)")
    print(f"per-choice  {pc['neuron']} ({'+' if pc['sign'] > 0 else '-'}value): probe {100 * pc['probe']:.1f}%, "
          f"test {ci(pc['test'])}   ({pc['forwards_per_example']} forwards/example; reading {pc['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
