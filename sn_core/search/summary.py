"""``SearchSummary``: the headline figures of one search, typed (``res.summary.sn_test_accuracy``).

Every accuracy is held-out test accuracy unless its name says ``probe``. ``to_json()`` gives the JSON object the CLI
prints (``--json``) and the store keeps; ``from_json`` reads it back.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields


@dataclass
class SearchSummary:
    # ---- what was searched
    model_id: str
    weights_hash: str
    task: str
    dtype: str
    task_fingerprint: str
    instruction: str | None
    prompt_template: str
    n_examples: int
    n_probe: int
    n_test: int
    n_classes: int
    labels: list[str]
    chance: float  # the test split's majority rate
    seed: int
    rule: str
    metric: str
    k: int
    sites: list[str]
    layers: list[int]
    n_neurons_searched: int
    n_layers_total: int
    # ---- the Super Neuron(s): the top of the ranking (top-k vote)
    sn_neuron_id: str
    sn_site: str
    sn_layer: int
    sn_neuron: int
    sn_neuron_ids: list[str]
    sn_probe_score: float
    sn_probe_accuracy: float
    sn_test_accuracy: float
    exit_layer: int  # deepest layer the vote reads
    null_probe_accuracy: float  # best probe score after shuffling the probe labels
    # ---- the recommended shortcut (ranking.exit_frontier): earliest exit not significantly below the best
    shortcut_neuron_id: str | None = None
    shortcut_layer: int | None = None
    shortcut_probe_accuracy: float | None = None
    shortcut_test_accuracy: float | None = None
    shortcut_flop_limit: float | None = None
    sn_flop_limit: float | None = None  # FLOP limit of an exit after the Super Neuron's own layer
    # ---- baselines on the same test split
    base_accuracy: float | None = None
    sav_test_accuracy: float | None = None
    probe_lr_test_accuracy: float | None = None
    probe_lr_layer: int | None = None
    # ---- uncertainty: 95% Wilson intervals, exact paired McNemar p-values on the test split
    sn_test_ci: list[float] | None = None
    base_ci: list[float] | None = None
    p_sn_vs_base: float | None = None
    p_sn_vs_sav: float | None = None
    # ---- bookkeeping
    extraction_cache_hit: bool = False
    cache_hit: bool = False
    seconds: float = 0.0
    compute_seconds: float | None = None
    extra: dict = field(default_factory=dict)  # fields a newer writer added (kept, round-tripped)

    def to_json(self) -> dict:
        doc = asdict(self)
        doc.update(doc.pop("extra"))
        return doc

    @classmethod
    def from_json(cls, doc: dict) -> "SearchSummary":
        names = {f.name for f in fields(cls)} - {"extra"}
        known = {k: v for k, v in doc.items() if k in names}
        return cls(**known, extra={k: v for k, v in doc.items() if k not in names})


def build_summary(p, loaded, layers, labels, clf, top, frontier, limits: dict, base: dict, extraction_cache_hit: bool,
                  null: float, sn_test: float, sn_probe: float, chance: float, seconds: float) -> SearchSummary:
    """The summary of a freshly computed search (``p``: its ``search_plan.Plan``); uncertainty is added after."""
    from sn_core.scoring.ranking import recommended_row
    from sn_core.sites import parse_neuron_id, site_kind

    def acc(name):
        b = base.get(name)
        return None if not b or "test_accuracy" not in b else float(b["test_accuracy"])

    chosen = list(clf.neurons_)
    kind0, layer0, idx0 = parse_neuron_id(chosen[0])
    short = recommended_row(frontier) or {}
    return SearchSummary(
        model_id=loaded.model_id, weights_hash=loaded.weights_hash, task=p.task.name,
        dtype=str(loaded.dtype).replace("torch.", ""), task_fingerprint=p.fingerprint,
        instruction=p.task.instruction, prompt_template=loaded.prompt(p.task.prompt_text("{question}")),
        n_examples=int(len(p.used)), n_probe=int(len(p.split.probe)), n_test=int(len(p.split.test)),
        n_classes=len(labels), labels=list(labels), chance=chance, seed=p.cfg.seed,
        rule=clf.rule_, metric=p.cfg.metric, k=p.cfg.k, sites=list(p.cfg.sites), layers=list(layers),
        n_neurons_searched=sum(int(loaded.widths[site_kind(s)]) for s in p.cfg.sites) * len(layers),
        n_layers_total=int(loaded.n_layers_total),
        sn_neuron_id=chosen[0], sn_site=kind0, sn_layer=layer0, sn_neuron=idx0, sn_neuron_ids=chosen,
        sn_probe_score=float(top["probe_score"][0]), sn_probe_accuracy=sn_probe, sn_test_accuracy=sn_test,
        exit_layer=int(clf.exit_layer_), null_probe_accuracy=null,
        shortcut_neuron_id=short.get("neuron_id"), shortcut_layer=short.get("layer"),
        shortcut_probe_accuracy=short.get("probe_accuracy"), shortcut_test_accuracy=short.get("test_accuracy"),
        shortcut_flop_limit=short.get("flop_limit"), sn_flop_limit=limits.get(int(clf.exit_layer_)),
        base_accuracy=acc("base"), sav_test_accuracy=acc("sav"), probe_lr_test_accuracy=acc("probe_lr"),
        probe_lr_layer=base["probe_lr"]["layer"] if base.get("probe_lr") else None,
        extraction_cache_hit=extraction_cache_hit, cache_hit=False, seconds=seconds, compute_seconds=seconds,
        extra=_benchmark_notes(p.task))


def _benchmark_notes(task) -> dict:
    """A benchmark task's rows read, rows skipped for a missing image file and what its casting left out
    (``sn_core.data.benchmarks``); nothing for other tasks."""
    origin = task.origin or {}
    if not origin.get("benchmark"):
        return {}
    return {"task_rows": int(origin.get("rows", 0)), "task_drawn": len(task),
            "skipped_missing_images": int(origin.get("skipped_missing_images", 0)), "task_notes": task.description}


__all__ = ["SearchSummary", "build_summary"]
