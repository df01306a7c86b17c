"""Uncertainty of a search's test accuracies: 95% Wilson intervals and exact paired McNemar p-values.

:func:`search_uncertainty` rebuilds the per-example correctness of the Super Neuron(s) (the top-k vote, fitted on
the probe split, as ``SearchResult.classifier``), of the base model (its stored greedy answers, matched to the label
set with ``sn_core.models.prompts.match_label``: an answer outside the label set is wrong) and of SAV (its stored test
predictions) on the *same* test examples, and returns

- ``sn_test_ci``, ``base_ci``, ``sav_ci``, ``probe_lr_ci``: ``[lo, hi]`` Wilson intervals (``sn_core.scoring.stats``) of the
  test accuracies (``probe_lr_ci`` from its reported accuracy and the test size: it keeps no per-example
  predictions; still exact, since accuracy * n is the count of correct examples);
- ``p_sn_vs_base``, ``p_sn_vs_sav``: exact two-sided McNemar p-values (``sn_core.scoring.stats.mcnemar_exact``) of the
  neuron against the base model and against SAV;
- ``sn_vs_base_discordant``, ``sn_vs_sav_discordant``: ``[b, c]``, test examples only the neuron gets right and
  only the other gets right (what the p-value is computed from);
- ``n_test`` and ``conf``.

A figure whose inputs the search does not hold (baselines skipped, the model loaded with ``max_layers``, a search
saved before SAV kept its predictions) is None. :func:`with_intervals` adds interval columns to any table with a
``test_accuracy`` column (``res.top_k``, ``res.layer_best(site)``, ``res.layer_top(site)``).
"""
from __future__ import annotations

import numpy as np

from sn_core.scoring.stats import (CONF, accuracy_ci, interval_from_accuracy, mcnemar_counts, mcnemar_exact,
                                  wilson_interval)  # noqa: F401  (wilson_interval: sn_core.uncertainty, one release)


def summary_value(res, key: str, default=None):
    """``res.summary_value(key, default)`` (kept here for one release)."""
    return res.summary_value(key, default)


def chosen_neuron_ids(res) -> list[str]:
    """``res.chosen_neuron_ids()`` (kept here for one release)."""
    return res.chosen_neuron_ids()


def test_positions(res) -> np.ndarray:
    """``res.positions("test")`` (kept here for one release)."""
    return res.positions("test")


def test_correctness(res) -> dict:
    """Per-example correctness on the test split (``res.split.test`` order): ``{"y": labels [n_test] str,
    "sn": bool [n_test], "base": bool [n_test] | None, "sav": bool [n_test] | None}``."""
    from sn_core.data.answers import match_label

    t = res.positions("test")
    y = np.asarray(res.y, dtype=str)[t]
    ids = res.chosen_neuron_ids()
    clf = res.classifier(ids)
    X = np.stack([np.asarray(res.neuron_values(n).values)[t] for n in clf.neurons_], axis=1)  # [n_test, k]
    out = {"y": y, "sn": np.asarray(clf.predict(X)).astype(str) == y, "base": None, "sav": None}
    bl = res.baselines or {}
    base = bl.get("base") or {}
    answers = base.get("answers")
    if answers is not None and len(answers) == len(y):
        out["base"] = np.array([match_label(a, res.labels) == lbl for a, lbl in zip(answers, y)], dtype=bool)
    sav = bl.get("sav") or {}
    pred = sav.get("test_predictions")
    if pred is not None and len(pred) == len(y):
        # SAV's class codes follow the sorted label order (the search's res.labels)
        out["sav"] = np.asarray(res.labels, dtype=str)[np.asarray(pred, dtype=np.int64)] == y
    return out


def _ci(correct, conf) -> list[float]:
    return list(accuracy_ci(correct, conf)[1:])


def search_uncertainty(res, conf: float = CONF) -> dict:
    """Intervals and paired p-values of a search's test accuracies; see the module docstring for the keys."""
    c = test_correctness(res)
    n = int(len(c["y"]))
    out = {"n_test": n, "conf": float(conf), "sn_test_ci": _ci(c["sn"], conf),
           "base_ci": None, "sav_ci": None, "probe_lr_ci": None,
           "p_sn_vs_base": None, "p_sn_vs_sav": None,
           "sn_vs_base_discordant": None, "sn_vs_sav_discordant": None}
    for name, ci_key, p_key, d_key in (("base", "base_ci", "p_sn_vs_base", "sn_vs_base_discordant"),
                                       ("sav", "sav_ci", "p_sn_vs_sav", "sn_vs_sav_discordant")):
        other = c[name]
        if other is None:
            continue
        out[ci_key] = _ci(other, conf)
        out[p_key] = float(mcnemar_exact(c["sn"], other))
        out[d_key] = list(mcnemar_counts(c["sn"], other))
    lr = ((res.baselines or {}).get("probe_lr") or {}).get("test_accuracy")
    ci = interval_from_accuracy(lr, n, conf)
    out["probe_lr_ci"] = None if ci is None else list(ci)
    return out


def with_intervals(table, n_test: int, column: str = "test_accuracy", conf: float = CONF):
    """A copy of ``table`` (a DataFrame with an accuracy ``column`` measured on ``n_test`` examples) with
    ``test_ci_low`` / ``test_ci_high`` columns right after it (Wilson intervals; NaN where the accuracy is)."""
    df = table.drop(columns=[c for c in ("test_ci_low", "test_ci_high") if c in table.columns])
    lo, hi = [], []
    for v in df[column]:
        ci = interval_from_accuracy(None if v is None else float(v), int(n_test), conf)
        lo.append(np.nan if ci is None else ci[0])
        hi.append(np.nan if ci is None else ci[1])
    at = list(df.columns).index(column) + 1
    df.insert(at, "test_ci_low", lo)
    df.insert(at + 1, "test_ci_high", hi)
    return df


__all__ = ["chosen_neuron_ids", "search_uncertainty", "summary_value", "test_correctness", "test_positions",
           "with_intervals"]
