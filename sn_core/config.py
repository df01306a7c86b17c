"""``SearchConfig``: every setting of one Super Neuron search, with defaults that run on the demo model.

Each non-obvious default says which choice of docs/method.md it implements or why it was picked; ``validate`` rejects a
bad value with a message naming the field and the value.
"""
from __future__ import annotations

import numbers
from dataclasses import asdict, dataclass, fields, replace

from sn_core.sites import site_kind

RULES = ("auto", "stump", "nearest_mean", "ovr_stump")  # per-neuron rules (docs/method.md); auto: stump or nearest mean
METRICS = ("accuracy", "balanced_accuracy")  # probe scores a neuron can be ranked by
MAX_EXAMPLES = 100_000  # bundled tasks draw their images in memory (a 48 px image is ~7 KB)


@dataclass(frozen=True)
class SearchConfig:
    model: str = "demo"  # "demo", a local Hugging Face folder, or a hub id already in the local cache
    task: str = "shapes-color"  # a bundled task name, a .jsonl/.csv manifest path, or an image folder
    question: str | None = None  # the question asked of every image of an image-folder task
    instruction: str | None = None  # None: the task's own answer-format instruction ("Answer with one word.")
    # Examples generated for a bundled task (its "eval" part: never the demo model's training data). 400 gives
    # 100 per class on 4-class tasks: a 20-per-class probe split and an 80-per-class test split.
    n_examples: int = 400
    data_seed: int = 0  # seed of the bundled task generator (which images); the split has its own seed
    # Probe split size per class. 20 follows SAVs' few-shot support sets (chancharikmitra/SAVs uses ~20 per class);
    # small enough that the search is "training-free" in spirit, large enough that a 1-D stump is stable.
    probe_per_class: int = 20
    test_per_class: int | None = None  # None: every remaining example is held out for the test split
    seed: int = 0  # split seed; also seeds the null control's label shuffle
    sites: tuple[str, ...] = ("mlp",)  # site kinds searched: mlp (docs/method.md default), resid, attn
    layers: tuple[int, ...] | None = None  # None: every decoder layer (up to l_max)
    l_max: int | None = None  # only layers <= l_max are candidates (docs/method.md, early-exit budget)
    k: int = 1  # Super Neurons in the ensemble; docs/method.md default 1 (the top neuron alone)
    rule: str = "auto"  # auto = stump for binary, nearest class mean for multi-class (docs/method.md)
    metric: str = "accuracy"  # probe-split ranking metric; balanced_accuracy as an option
    n_top: int = 50  # rows of the ranking table (the ensemble uses the first k)
    batch_size: int = 16  # forward-pass batch size of the extraction
    baselines: bool = True  # base-model generation, SAV and logistic-regression probe on the same test split
    device: str = "cpu"
    dtype: str | None = None  # None: float32 on CPU, bfloat16 on CUDA

    def __post_init__(self) -> None:
        # Normalise containers so equal configs compare (and hash into cache keys) equal.
        object.__setattr__(self, "sites", tuple(self.sites) if not isinstance(self.sites, str) else (self.sites,))
        if self.layers is not None:
            layers = (self.layers,) if isinstance(self.layers, numbers.Integral) else tuple(self.layers)
            object.__setattr__(self, "layers", layers)

    def validate(self) -> "SearchConfig":
        """Return a normalised copy (canonical site kinds, sorted unique layers); ValueError on a bad field."""
        def positive(name, value, allow_none=False):
            if value is None and allow_none:
                return
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"SearchConfig.{name} must be a positive integer, got {value!r}")

        for name in ("n_examples", "probe_per_class", "k", "n_top", "batch_size"):
            positive(name, getattr(self, name))
        if self.n_examples > MAX_EXAMPLES:  # bundled tasks are generated in memory
            raise ValueError(f"SearchConfig.n_examples must be at most {MAX_EXAMPLES:,}, got {self.n_examples:,}")
        positive("test_per_class", self.test_per_class, allow_none=True)
        for name in ("seed", "data_seed"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 0:
                raise ValueError(f"SearchConfig.{name} must be a non-negative integer, got {v!r}")
        if not isinstance(self.model, str) or not self.model.strip():
            raise ValueError(f"SearchConfig.model must be a non-empty string, got {self.model!r}")
        if not isinstance(self.task, str) or not self.task.strip():
            raise ValueError(f"SearchConfig.task must be a non-empty string, got {self.task!r}")
        if not self.sites:
            raise ValueError("SearchConfig.sites is empty; use one or more of mlp, resid, attn")
        try:
            sites = tuple(dict.fromkeys(site_kind(s) for s in self.sites))
        except ValueError as e:
            raise ValueError(f"SearchConfig.sites: {e}") from None
        layers = self.layers
        if layers is not None:
            bad = [v for v in layers if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 0]
            if bad or not layers:
                raise ValueError(f"SearchConfig.layers must be non-negative integers, got {self.layers!r}")
            layers = tuple(sorted(set(int(v) for v in layers)))
        if self.l_max is not None:
            if isinstance(self.l_max, bool) or not isinstance(self.l_max, numbers.Integral) or self.l_max < 0:
                raise ValueError(f"SearchConfig.l_max must be a non-negative integer, got {self.l_max!r}")
            if layers is not None and not any(v <= self.l_max for v in layers):
                raise ValueError(f"SearchConfig.layers {list(layers)} has no layer <= l_max={self.l_max}")
        if self.rule not in RULES:
            raise ValueError(f"SearchConfig.rule must be one of {', '.join(RULES)}, got {self.rule!r}")
        if self.metric not in METRICS:
            raise ValueError(f"SearchConfig.metric must be one of {', '.join(METRICS)}, got {self.metric!r}")
        if self.k > self.n_top:
            raise ValueError(f"SearchConfig.k={self.k} is larger than n_top={self.n_top}")
        if self.dtype is not None and str(self.dtype).lower() not in (
                "fp32", "float32", "fp16", "float16", "bf16", "bfloat16"):
            raise ValueError(f"SearchConfig.dtype must be fp32, fp16, bf16 or None, got {self.dtype!r}")
        return replace(self, sites=sites, layers=layers)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["sites"] = list(self.sites)
        d["layers"] = None if self.layers is None else list(self.layers)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "SearchConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown SearchConfig field(s): {', '.join(unknown)}")
        d = dict(d)
        if d.get("sites") is not None:
            d["sites"] = tuple(d["sites"])
        if d.get("layers") is not None:
            d["layers"] = tuple(d["layers"])
        return cls(**d)
