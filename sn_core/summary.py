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


__all__ = ["SearchSummary"]
