"""Activations at the read position: batched extraction through the tracing scope (``sn_core.activations.trace``),
and the cached, resumable version.

:func:`extract` runs a whole task through the scope in chunks and writes each finished chunk to the activation
store (``sn_core.store.cache``), keyed by a content hash of everything the values depend on; a second call with the
same key reads the store, an interrupted call resumes from the finished chunks.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from sn_core.progress import Progress
from sn_core.activations.context import check_context, check_sites_layers
from sn_core.activations.trace import Trace
from sn_core.data.images import as_rgb
from sn_core.data.tasks import task_fingerprint
from sn_core.sites import site_kind, site_name

EXTRACT_FORMAT = 1  # bump when stored values would change for the same inputs


def read_activations(loaded, images: Sequence, prompts: Sequence[str], sites: Sequence[str] = ("mlp",),
                     layers: Sequence[int] | None = None, batch_size: int = 16,
                     progress: Progress | None = None) -> dict[str, np.ndarray]:
    """Site name -> ``[n_examples, width]`` float32 at the read position, in input order (no cache)."""
    sites, layers = check_sites_layers(loaded, sites, layers)
    if len(images) != len(prompts):
        raise ValueError(f"{len(images)} images but {len(prompts)} prompts")
    pairs = [(k, layer) for layer in layers for k in sites]
    out: dict[str, list[np.ndarray]] = {site_name(k, layer): [] for k, layer in pairs}
    n = len(prompts)
    with Trace(loaded, pairs) as tr:
        for start in range(0, n, batch_size):
            inputs = loaded.encode([as_rgb(im) for im in images[start:start + batch_size]],
                                   list(prompts[start:start + batch_size]))
            mask = inputs.get("attention_mask")
            if mask is not None and not bool(mask[:, -1].all()):
                raise RuntimeError("the last column of the batch holds padding; the processor did not pad on the "
                                   "left, so the read position would be wrong")
            vals = tr.run(inputs)
            for name in out:
                out[name].append(vals[name].float().cpu().numpy())  # [batch, width]
            if progress:
                progress("extract", min(start + batch_size, n), n)
    return {name: np.concatenate(chunks, 0) for name, chunks in out.items()}


# ------------------------------------------------------------------------------------------ cached
def task_prompts(loaded, task, instruction: str | None = None) -> list[str]:
    """Every example's full prompt string (chat template, instruction, generation prompt)."""
    old = task.instruction
    if instruction is not None:
        task.instruction = instruction
    try:
        return [loaded.prompt(task.prompt_text(ex.question)) for ex in task.examples]
    finally:
        task.instruction = old


@dataclass
class Extraction:
    """Activations of a task, stored under ``key``. ``get(kind, layer)`` -> ``[n_examples, width]`` float32."""

    key: str
    sites: tuple[str, ...]
    layers: tuple[int, ...]
    n_examples: int
    cache_hit: bool
    store: object
    _cache: dict = field(default_factory=dict, repr=False)

    def get(self, kind: str, layer: int) -> np.ndarray:
        name = site_name(kind, layer)
        if site_kind(kind) not in self.sites or layer not in self.layers:
            raise KeyError(f"{name} was not extracted (sites {self.sites}, layers {self.layers})")
        if name not in self._cache:
            arr = np.asarray(self.store.read(name), dtype=np.float32)  # [n_examples, width]
            if arr.shape[0] != self.n_examples:  # a chunk vanished after the extraction was checked
                raise FileNotFoundError(f"store {self.key} holds {arr.shape[0]} of {self.n_examples} rows of "
                                        f"{name}; rerun the search to recompute the missing chunks")
            self._cache[name] = arr
        return self._cache[name]

    def stack(self, kind: str, layers: Sequence[int] | None = None) -> np.ndarray:
        """``[n_layers, n_examples, width]`` for ``layers`` (default: all extracted)."""
        return np.stack([self.get(kind, layer) for layer in (self.layers if layers is None else layers)])


def extraction_key(loaded, fingerprint: str, prompts: Sequence[str], sites, layers, chunk_size: int) -> str:
    from sn_core.store.cache import content_key

    return content_key(kind="activations", format=EXTRACT_FORMAT, model_id=loaded.model_id,
                       weights_hash=loaded.weights_hash, config_hash=loaded.config_hash,
                       task=fingerprint,
                       prompts=hashlib.sha256("\n\0".join(prompts).encode()).hexdigest(),
                       sites=list(sites), layers=list(layers), dtype=str(loaded.dtype).replace("torch.", ""),
                       read_position=-1, chunk_size=int(chunk_size))


def plan_extraction(loaded, task, sites, layers, batch_size: int, chunk_size: int, instruction, root):
    """What an extraction of ``task`` will read and where it is stored (shared by :func:`extract` and
    ``sn_core.search.distributed.extract_sharded``, so both use the same key): ``(sites, layers, prompts, store,
    n_chunks)``; validates the arguments with clear errors."""
    from sn_core.store.cache import ActivationStore

    sites, layers = check_sites_layers(loaded, sites, layers)
    if batch_size < 1 or chunk_size < 1:
        raise ValueError(f"batch_size and chunk_size must be >= 1, got {batch_size} and {chunk_size}")
    prompts = task_prompts(loaded, task, instruction)
    if prompts:  # the longest prompt, encoded with its image, must fit the context: refused before any chunk
        i = max(range(len(prompts)), key=lambda j: len(prompts[j]))
        ex = task.examples[i]
        check_context(loaded, loaded.encode([as_rgb(ex.image)], [prompts[i]]), [ex.question])
    key = extraction_key(loaded, task_fingerprint(task), prompts, sites, layers, chunk_size)
    return sites, layers, prompts, ActivationStore(key, root=root), -(-len(task.examples) // chunk_size)


def extract(loaded, task, sites: Sequence[str] = ("mlp",), layers: Sequence[int] | None = None,
            batch_size: int = 16, chunk_size: int = 64, instruction: str | None = None, root=None,
            progress: Progress | None = None) -> Extraction:
    """Activations of every example of ``task`` at ``sites`` x ``layers``, cached and resumable.

    Examples are processed in chunks of ``chunk_size`` (forward batches of ``batch_size``); each finished chunk
    is written to the store at once, so an interrupted run (exception, Ctrl-C, a ``progress`` callback that
    raises) loses at most the chunk in flight. The store key covers model id, weights hash, task fingerprint,
    prompts, sites, layers, dtype and chunk size.
    """
    sites, layers, prompts, store, n_chunks = plan_extraction(loaded, task, sites, layers, batch_size, chunk_size,
                                                              instruction, root)
    key, n = store.key, len(task.examples)
    with store.lock():
        # Every chunk on disk is verified before it is trusted, complete store or not: a corrupted one is deleted
        # by the check and recomputed below together with the missing ones, so one run repairs the cache.
        done = set(store.verified_chunks())
        cache_hit = store.is_complete() and done == set(range(n_chunks))
        if not cache_hit:
            if progress:
                progress("extract", min(len(done) * chunk_size, n), n)
            for c in range(n_chunks):
                if c in done:
                    continue
                lo, hi = c * chunk_size, min((c + 1) * chunk_size, n)
                acts = read_activations(loaded, [ex.image for ex in task.examples[lo:hi]], prompts[lo:hi],
                                        sites, layers, batch_size)
                store.write_chunk(c, acts)
                done.add(c)
                if progress:
                    progress("extract", min(len(done) * chunk_size, n), n)
            store.mark_complete({"kind": "activations", "model_id": loaded.model_id,
                                 "weights_hash": loaded.weights_hash, "task": task.name, "n_examples": n,
                                 "sites": list(sites), "layers": list(layers), "chunk_size": chunk_size,
                                 "n_chunks": n_chunks})
        elif progress:
            progress("extract", n, n)
    return Extraction(key=key, sites=sites, layers=layers, n_examples=n, cache_hit=cache_hit, store=store)
