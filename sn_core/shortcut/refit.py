"""Shortcuts from bf16 / fp16 searches: the rule re-fitted on float32 values of the same probe examples.

A search run in bf16 or fp16 (``search --device cuda --dtype bf16``) fits its thresholds on values of that
precision; the exported graph computes in float32, where a value near a threshold can fall on the other side.
``refit_float32`` therefore takes the classifier's probe examples (the search's task and split settings:
``sn_core.shortcut.evaluate.search_settings``), reads the same neurons in float32 with the model loaded up to
the exit layer only (layers ``0..L``), and fits the same rule and metric on them. The card records both fits
(``refit``): the original one with its probe scores and test accuracy, and the float32 one with its probe scores,
probe accuracy and (unless skipped) test accuracy on the same test split.
"""
from __future__ import annotations

import numpy as np

from sn_core.shortcut.card import ShortcutError

LOW_PRECISION = ("bf16", "bfloat16", "fp16", "float16", "half")


def needs_refit(clf) -> str | None:
    """The classifier's search precision when it is not float32 (``bf16`` ...), else None."""
    dtype = ((clf.meta_ or {}).get("meta") or {}).get("dtype")
    if dtype in (None, "float32", "fp32", "torch.float32"):
        return None
    return str(dtype)


def split_examples(clf, root, split: str):
    """``(examples, settings)``: the ``"probe"`` or ``"test"`` examples of the classifier's search (its task and
    split settings, ``search_settings``), in task order; ShortcutError when the classifier names no task."""
    from sn_core.data import make_split
    from sn_core.shortcut.evaluate import search_settings, select_examples

    meta = clf.meta_ or {}
    task = meta.get("task")
    if not task:
        raise ShortcutError("the classifier was fitted in low precision and names no task, so its probe examples "
                            "cannot be read again in float32; export it from its search (--search KEY)")
    settings = search_settings(meta, root=root)
    sel = select_examples(task, settings.get("question"), settings, "all")
    sp = make_split(sel.task.y, int(settings["probe_per_class"]), settings.get("test_per_class"),
                    int(settings["seed"]))
    idx = np.sort(np.asarray(sp.probe if split == "probe" else sp.test, dtype=np.int64))
    exs = [sel.task.examples[int(i)] for i in idx]
    return exs, settings


def _values(pred, examples, batch_size: int = 8) -> np.ndarray:
    images = [e.image for e in examples]  # PIL images or paths: the predictor opens them (as_rgb)
    questions = [e.question for e in examples]
    k = len(pred.clf.neurons_)
    out = [pred.values(images[i:i + batch_size], questions[i:i + batch_size])
           for i in range(0, len(images), batch_size)]
    return np.concatenate(out) if out else np.zeros((0, k))


def refit_float32(clf, loaded, root=None, test_accuracy: float | None = None, with_test: bool = True):
    """``(float32 classifier, card record)`` for a classifier fitted in low precision; ``loaded`` is the model in
    float32 loaded up to the exit layer."""
    from sn_core.classifier.estimator import SuperNeuronClassifier
    from sn_core.shortcut.early_exit import EarlyExitPredictor

    dtype = needs_refit(clf)
    probe, settings = split_examples(clf, root, "probe")
    pred = EarlyExitPredictor(loaded, clf)
    X = _values(pred, probe)
    y = np.array([e.label for e in probe])
    if not np.isfinite(X).all():
        raise ShortcutError("a neuron value of the probe examples is not finite in float32; the rule cannot be "
                            "re-fitted")
    new = SuperNeuronClassifier(neurons=tuple(clf.neurons_), rule=clf.rule_, metric=clf.metric).fit(X, y)
    new.meta_ = dict(clf.meta_ or {})
    new.meta_["meta"] = dict((clf.meta_ or {}).get("meta") or {}, dtype="float32", refit_from=dtype)
    record = {
        "from_dtype": dtype,
        "probe_examples": int(len(probe)),
        "settings": {k: settings.get(k) for k in ("n_examples", "data_seed", "probe_per_class", "test_per_class",
                                                  "seed")},
        "original": {"rule": clf.rule_, "probe_scores": [float(s) for s in clf.scores_],
                     "probe_accuracy_float32_values": float(np.mean(clf.predict(X) == y)),
                     "test_accuracy": None if test_accuracy is None else float(test_accuracy),
                     "classifier": clf.to_dict()},
        "float32": {"rule": new.rule_, "probe_scores": [float(s) for s in new.scores_],
                    "probe_accuracy": float(np.mean(new.predict(X) == y)), "test_accuracy": None},
        "labels_changed_on_probe": int(np.sum(new.predict(X) != clf.predict(X))),
    }
    if with_test:
        test, _ = split_examples(clf, root, "test")
        Xt = _values(EarlyExitPredictor(loaded, new), test)
        yt = np.array([e.label for e in test])
        record["float32"]["test_accuracy"] = float(np.mean(new.predict(Xt) == yt)) if len(yt) else None
        record["original"]["test_accuracy_float32_values"] = float(np.mean(clf.predict(Xt) == yt)) if len(yt) \
            else None
        record["test_examples"] = int(len(test))
    return new, record


__all__ = ["LOW_PRECISION", "needs_refit", "refit_float32", "split_examples"]
