"""Neuron atlas: which neurons serve which tasks, from the stored searches of one model.

:func:`build_atlas` takes the store's listing (``sn_core.search.result.list_searches`` rows, or the subset a caller may
show), keeps the searches of one model (by default the newest search of each task that can be reopened), reopens
them and returns an :class:`Atlas` of DataFrames:

- ``searches``: one row per task: its search key, sites and layers, split sizes, the Super Neuron with its test
  accuracy and 95% Wilson interval, the base model's accuracy and the null control;
- ``top``: the top ``top_n`` neurons of every task (the search's own ranking: probe score, then separation), each
  with its held-out test accuracy and 95% interval (``sn_core.search.uncertainty.with_intervals``);
- ``layer_counts``: per task, site and searched layer, the number of neurons whose probe score is strictly above the
  task's null control (the best probe score any neuron reached after shuffling the probe labels), out of the
  layer's width;
- ``shared_neurons``: neurons in the top lists of two or more tasks, with the tasks and their ranks there;
- ``shared_layers``: per site and layer searched by two or more tasks, how many tasks have a neuron above their
  null control there and how many have a top-list neuron there;
- ``skipped``: ``(key, reason)`` of each search that could not be reopened (it is left out of every table).

No Streamlit, no forward pass: everything is read from the stored results (probe scores, rankings, summaries).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

ATLAS_TOP = 10
SEARCH_COLUMNS = ("task", "key", "created", "instruction", "sites", "layers", "n_probe", "n_test", "sn_neuron_id",
                  "sn_test_accuracy", "sn_test_ci_low", "sn_test_ci_high", "base_accuracy", "null_probe_accuracy",
                  "neurons_above_null")
TOP_COLUMNS = ("task", "key", "rank", "neuron_id", "site", "layer", "index", "probe_score", "test_accuracy",
               "test_ci_low", "test_ci_high")
LAYER_COLUMNS = ("task", "key", "site", "layer", "n_neurons", "n_above_null", "share_above_null", "best_probe_score")
SHARED_NEURON_COLUMNS = ("neuron_id", "site", "layer", "index", "n_tasks", "tasks", "ranks", "keys")
SHARED_LAYER_COLUMNS = ("site", "layer", "n_tasks_searched", "n_tasks_above_null", "n_tasks_in_top",
                        "tasks_in_top", "n_above_null_total")


@dataclass
class Atlas:
    """The atlas of one model; see the module docstring for the tables."""

    model_id: str | None
    top_n: int
    searches: "object"  # pandas DataFrame, SEARCH_COLUMNS
    top: "object"  # TOP_COLUMNS
    layer_counts: "object"  # LAYER_COLUMNS
    shared_neurons: "object"  # SHARED_NEURON_COLUMNS
    shared_layers: "object"  # SHARED_LAYER_COLUMNS
    skipped: list = field(default_factory=list)  # [(key, reason)]

    @property
    def tasks(self) -> list[str]:
        return [str(t) for t in self.searches["task"]]

    @property
    def sites(self) -> list[str]:
        return list(dict.fromkeys(str(s) for s in self.layer_counts["site"]))

    def heatmap(self, site: str, value: str = "n_above_null"):
        """Task x layer matrix (DataFrame, tasks as index in ``searches`` order, layers as columns) of ``value``
        for ``site``; NaN where a task did not search that layer."""
        df = self.layer_counts[self.layer_counts["site"] == site]
        if df.empty:
            import pandas as pd

            return pd.DataFrame(index=pd.Index([], name="task"), dtype=float)
        mat = df.pivot_table(index="task", columns="layer", values=value, aggfunc="first")
        order = [t for t in self.tasks if t in mat.index]
        return mat.reindex(index=order, columns=sorted(mat.columns)).astype(float)


def atlas_models(rows: Sequence[dict]) -> dict[str, int]:
    """``{model_id: number of distinct tasks}`` of listing rows (rows without a model id are ignored), the model
    with the most tasks first."""
    tasks: dict[str, set] = {}
    for r in rows:
        if isinstance(r, dict) and r.get("model_id") and "skipped" not in r:
            tasks.setdefault(str(r["model_id"]), set()).add(str(r.get("task")))
    return dict(sorted(((m, len(t)) for m, t in tasks.items()), key=lambda kv: (-kv[1], kv[0])))


def choose_searches(rows: Sequence[dict], model_id: str | None = None, one_per_task: bool = True) -> list[dict]:
    """The listing rows of ``model_id`` (required when the rows hold several models), newest first; with
    ``one_per_task`` only the newest search of each task."""
    models = atlas_models(rows)
    if model_id is None:
        if len(models) > 1:
            raise ValueError(f"the stored searches are of {len(models)} models ({', '.join(models)}); choose one")
        model_id = next(iter(models), None)
    mine = [r for r in rows if isinstance(r, dict) and "skipped" not in r and str(r.get("model_id")) == model_id]
    mine.sort(key=lambda r: str(r.get("created") or ""), reverse=True)
    if not one_per_task:
        return mine
    seen, out = set(), []
    for r in mine:
        task = str(r.get("task"))
        if task not in seen:
            seen.add(task)
            out.append(r)
    return out


def build_atlas(rows: Sequence[dict] | None = None, model_id: str | None = None, root=None, top_n: int = ATLAS_TOP,
                one_per_task: bool = True, load: Callable[[str], object] | None = None,
                prefer: str | None = None) -> Atlas:
    """The atlas of ``model_id`` from listing ``rows`` (default: every finished search in the store at ``root``).
    ``load(key)`` reopens a search (default ``SearchResult.load(key, root=root)``); a search that cannot be
    reopened is named in ``Atlas.skipped`` with the reason. ValueError when the rows hold several models and
    ``model_id`` is None, or for a ``top_n`` below 1. ``prefer``: a search key that stands for its task even when
    a newer search of the task exists (the app passes the open search)."""
    import pandas as pd

    if isinstance(top_n, bool) or int(top_n) != top_n or top_n < 1:
        raise ValueError(f"top_n must be a positive integer, got {top_n!r}")
    top_n = int(top_n)
    skipped: list[tuple[str, str]] = []
    if rows is None:
        from sn_core.search.result import list_searches

        listing_skipped: list = []
        rows = list_searches(root=root, skipped=listing_skipped)
        skipped += [(str(k), str(why)) for k, why in listing_skipped]
    if load is None:
        from sn_core.search.result import SearchResult

        def load(key):
            return SearchResult.load(key, root=root)

    chosen = choose_searches(rows, model_id, one_per_task=False)  # newest first
    chosen.sort(key=lambda r: str(r.get("key")) != prefer)  # (stable) the preferred search first
    if model_id is None and chosen:
        model_id = str(chosen[0].get("model_id"))

    searches, tops, layers = [], [], []
    done: set[str] = set()
    for r in chosen:
        key, task = str(r.get("key")), str(r.get("task"))
        if one_per_task and task in done:
            continue
        try:
            search, top, task_layers = _task_entry(load(key), r, top_n)
        except Exception as e:  # noqa: BLE001 - one search that cannot be reopened never hides the others
            msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
            skipped.append((key, str(msg) or type(e).__name__))
            continue
        done.add(task)  # (a task whose newest search cannot be opened falls back to its next newest)
        layers += task_layers
        tops.append(top)
        searches.append(search)

    searches_df = pd.DataFrame(searches, columns=list(SEARCH_COLUMNS))
    top_df = (pd.concat(tops, ignore_index=True) if tops else pd.DataFrame()).reindex(columns=list(TOP_COLUMNS))
    layer_df = pd.DataFrame(layers, columns=list(LAYER_COLUMNS))
    return Atlas(model_id=model_id, top_n=top_n, searches=searches_df, top=top_df, layer_counts=layer_df,
                 shared_neurons=_shared_neurons(top_df), shared_layers=_shared_layers(layer_df, top_df),
                 skipped=skipped)


def _layer_rows(res, task: str, key: str, null: float) -> list[dict]:
    """One row per (site, layer) of a search: how many of the layer's neurons score above the null control."""
    rows = []
    for site in res.sites:
        scores = np.asarray(res.scores(site), dtype=float)  # [n_layers, width]
        for i, layer in enumerate(res.layers):
            row = scores[i]
            finite = row[np.isfinite(row)]
            above = int(np.sum(finite > null)) if np.isfinite(null) else 0
            rows.append({"task": task, "key": key, "site": str(site), "layer": int(layer),
                         "n_neurons": int(row.size), "n_above_null": above,
                         "share_above_null": above / row.size if row.size else float("nan"),
                         "best_probe_score": float(finite.max()) if finite.size else float("nan")})
    return rows


def _task_entry(res, listing_row: dict, top_n: int):
    """What the atlas takes from one reopened search: its row of ``searches``, its top ``top_n`` neurons with
    intervals (TOP_COLUMNS) and its per-layer counts."""
    from sn_core.scoring.stats import interval_from_accuracy
    from sn_core.search.uncertainty import with_intervals

    key, task = str(listing_row.get("key")), str(listing_row.get("task"))
    n_test = int(res.summary_value("n_test") or 0)
    null = res.summary_value("null_probe_accuracy")
    null = float(null) if null is not None else float("nan")
    task_layers = _layer_rows(res, task, key, null)
    top = res.top_k.sort_values("rank").head(top_n).copy() if "rank" in res.top_k else res.top_k.head(top_n).copy()
    top = with_intervals(top, n_test) if n_test else top.assign(test_ci_low=np.nan, test_ci_high=np.nan)
    top.insert(0, "key", key)
    top.insert(0, "task", task)
    ci = res.summary_value("sn_test_ci") or interval_from_accuracy(res.summary_value("sn_test_accuracy"), n_test) \
        or (np.nan, np.nan)
    search = {"task": task, "key": key, "created": listing_row.get("created"),
              "instruction": res.summary_value("instruction"), "sites": ", ".join(res.sites),
              "layers": ", ".join(str(x) for x in res.layers), "n_probe": res.summary_value("n_probe"),
              "n_test": n_test, "sn_neuron_id": res.summary_value("sn_neuron_id"),
              "sn_test_accuracy": res.summary_value("sn_test_accuracy"), "sn_test_ci_low": float(ci[0]),
              "sn_test_ci_high": float(ci[1]), "base_accuracy": res.summary_value("base_accuracy"),
              "null_probe_accuracy": null, "neurons_above_null": int(sum(x["n_above_null"] for x in task_layers))}
    return search, top[[c for c in TOP_COLUMNS if c in top.columns]], task_layers


def _shared_neurons(top):
    """Neurons in the top lists of two or more tasks, most tasks first, then by best rank."""
    import pandas as pd

    out = []
    for nid, g in top.groupby("neuron_id", sort=False):
        tasks = list(dict.fromkeys(str(t) for t in g["task"]))
        if len(tasks) < 2:
            continue
        first = g.iloc[0]
        out.append({"neuron_id": str(nid), "site": first["site"], "layer": int(first["layer"]),
                    "index": int(first["index"]), "n_tasks": len(tasks), "tasks": ", ".join(tasks),
                    "ranks": ", ".join(f"{t}: {int(r)}" for t, r in zip(g["task"], g["rank"])),
                    "keys": list(dict.fromkeys(str(k) for k in g["key"]))})
    df = pd.DataFrame(out, columns=list(SHARED_NEURON_COLUMNS))
    if len(df):
        best = {nid: int(top.loc[top["neuron_id"] == nid, "rank"].min()) for nid in df["neuron_id"]}
        df = df.assign(_best=df["neuron_id"].map(best)).sort_values(["n_tasks", "_best"], ascending=[False, True])
        df = df.drop(columns="_best").reset_index(drop=True)
    return df


def _shared_layers(layer_counts, top):
    """Per site and layer searched by two or more tasks: tasks with a neuron above their null control there, tasks
    with a top-list neuron there, and the summed count above null."""
    import pandas as pd

    out = []
    for (site, layer), g in layer_counts.groupby(["site", "layer"], sort=True):
        tasks = list(dict.fromkeys(str(t) for t in g["task"]))
        if len(tasks) < 2:
            continue
        in_top = top[(top["site"] == site) & (top["layer"] == layer)]
        top_tasks = list(dict.fromkeys(str(t) for t in in_top["task"]))
        out.append({"site": str(site), "layer": int(layer), "n_tasks_searched": len(tasks),
                    "n_tasks_above_null": int(sum(int(v) > 0 for v in g["n_above_null"])),
                    "n_tasks_in_top": len(top_tasks), "tasks_in_top": ", ".join(top_tasks),
                    "n_above_null_total": int(g["n_above_null"].sum())})
    return pd.DataFrame(out, columns=list(SHARED_LAYER_COLUMNS))


__all__ = ["ATLAS_TOP", "Atlas", "LAYER_COLUMNS", "SEARCH_COLUMNS", "SHARED_LAYER_COLUMNS", "SHARED_NEURON_COLUMNS",
           "TOP_COLUMNS", "atlas_models", "build_atlas", "choose_searches"]
