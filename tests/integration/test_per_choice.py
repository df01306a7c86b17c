"""Per-choice scoring of a multiple-choice task (sn_core.search.per_choice) on the demo model: one read per choice,
the chosen neuron's argmax agrees with a direct recomputation on the test split."""
from __future__ import annotations

import numpy as np

from sn_core.data import Example, Task, get_task, make_split
from sn_core.data.choices import MC_INSTRUCTION, mc_example


def test_per_choice_search_on_demo(demo_loaded):
    from sn_core.search.per_choice import per_choice_search, per_choice_values

    base = get_task("shapes-color", 16, seed=2, part="eval")
    colours = list(base.labels)
    examples = []
    for i, ex in enumerate(base.examples):
        choices = colours[i % 4:] + colours[:i % 4]
        q, lbl, meta = mc_example("What color is the shape?", choices, ex.label, f"row {i}")
        examples.append(Example(ex.image, q, lbl, meta))
    task = Task("mc", tuple(sorted({e.label for e in examples})), examples, instruction=MC_INSTRUCTION)
    split = make_split(task.y, 2, None, seed=0)
    values = per_choice_values(demo_loaded, task, layers=[0, 1], batch_size=8)
    assert sorted(values) == ["blocks.0.mlp.hook_post", "blocks.1.mlp.hook_post"]
    assert all(v.shape == (4, 448) for v in values["blocks.0.mlp.hook_post"])
    r = per_choice_search(values, task, split)
    name, j = r.neuron.split("[")[0], int(r.neuron.split("[")[1][:-1])
    correct = np.array([ex.meta["choices"].index(ex.meta["answer"]) for ex in task.examples])
    picks = [int(np.argmax(r.sign * values[name][i][:, j])) for i in split.test]
    assert r.test_accuracy == np.mean(np.array(picks) == correct[split.test])
    assert r.forwards_per_example == 4 and 0.0 <= r.probe_accuracy <= 1.0
