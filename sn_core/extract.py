"""Activations at the read position: a tracing scope, batched extraction, and the cached, resumable version.

The tracing scope (:class:`Trace`, baukit-style) registers hooks on the modules holding the requested sites,
keeps only the read position (column -1: batches are left padded, ``sn_core.prompts.encode``) and ends the
forward pass after the deepest requested layer, so later layers, the final norm and the LM head never run: where
the adapter can run the truncated pass itself (``ModelAdapter.prefix_forward``, LLaVA with a Llama decoder) it
does, otherwise the model's own forward is stopped by a hook raising a private :class:`StopForward`. Its exit
removes every hook it added, also after an exception. Extraction and early exit share it, so they agree by
construction.

:func:`extract` runs a whole task through the scope in chunks and writes each finished chunk to the activation
store (``sn_core.store``), keyed by a content hash of everything the values depend on; a second call with the
same key reads the store, an interrupted call resumes from the finished chunks.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import numpy as np
import torch
from PIL import Image

from .images import as_rgb
from .sites import SITE_KINDS, site_kind, site_name

Progress = Callable[[str, int, int], None]
EXTRACT_FORMAT = 1  # bump when stored values would change for the same inputs


class PromptTooLongError(ValueError):
    """A prompt (chat template, question, instruction and image tokens) longer than the model's context."""


def context_length(loaded) -> int | None:
    """The model's context in positions (``max_position_embeddings`` of its text config), or None if unknown."""
    cfg = loaded.model.config
    try:
        cfg = cfg.get_text_config()
    except Exception:  # noqa: BLE001 - a config without sub-configs is its own text config
        pass
    n = getattr(cfg, "max_position_embeddings", None)
    return n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else None


def check_context(loaded, inputs: dict, questions: Sequence[str] = (), ctx: int | None = -1) -> None:
    """Raise :class:`PromptTooLongError` if the encoded batch ``inputs`` is longer than the model's context
    (``ctx``; -1: read it from the model), naming the longest question of ``questions``."""
    ctx = context_length(loaded) if ctx == -1 else ctx
    ids = inputs.get("input_ids") if hasattr(inputs, "get") else None
    if ctx is None or ids is None or ids.shape[-1] <= ctx:
        return
    mask = inputs.get("attention_mask")
    lengths = mask.sum(-1).tolist() if mask is not None else [ids.shape[-1]] * ids.shape[0]
    row = max(range(len(lengths)), key=lengths.__getitem__)
    q = questions[row] if row < len(questions) else ""
    what = f"the prompt of question {q[:60] + '...' if len(q) > 60 else q!r} ({len(q):,} characters)" if q else \
        "a prompt"
    raise PromptTooLongError(f"{what} is {int(lengths[row]):,} tokens with its image and the chat "
                             f"template, more than the model's context of {ctx:,} positions; shorten the question "
                             "or the instruction")


class StopForward(Exception):
    """Raised by the hook on the deepest requested layer to end the forward pass early. Private to this module
    and swallowed by :class:`Trace`; never seen by callers."""


def _as_tensor(out) -> torch.Tensor:
    # Decoder layers return a tensor in transformers 5, a tuple (hidden_states, ...) in older versions.
    return out[0] if isinstance(out, (tuple, list)) else out


class Trace:
    """Hook the given sites, keep the read position, stop after ``stop_after``; always unhook.

    Usage::

        with Trace(loaded, [("mlp", 3), ("resid", 5)]) as tr:
            tr.run(inputs)                        # the forward pass stops after layer 5
        tr.values["blocks.3.mlp.hook_post"]       # [batch, d_mlp] at the read position

    ``stop_after`` defaults to the deepest requested layer; ``None`` sites with ``stop_after`` set only truncate.
    ``position`` is the read column (-1 with left padding). With ``direct`` (default), an adapter that can run the
    truncated pass itself (``ModelAdapter.prefix_forward``: LLaVA with a Llama decoder, e.g. the demo) does so,
    which saves the wrappers' per-call work; the values are the same bit for bit, and ``ran_direct`` says which path
    the last ``run`` took.
    """

    def __init__(self, loaded, sites: Iterable[tuple[str, int]], stop_after: int | None = -1, position: int = -1,
                 direct: bool = True):
        self.loaded = loaded
        self.direct = direct  # let the adapter run the truncated pass itself (ModelAdapter.prefix_forward)
        self.sites = [(site_kind(k), int(layer)) for k, layer in sites]
        deepest = max((layer for _, layer in self.sites), default=None)
        self.stop_after = deepest if stop_after == -1 else stop_after
        self.position = position
        self.values: dict[str, torch.Tensor] = {}
        self._handles: list = []
        self._lock = None
        self._stop_armed = True
        self.ran_direct = False
        self.context = context_length(loaded)  # a longer batch is refused by run (PromptTooLongError)

    def _capture(self, name: str, side: str):
        pos = self.position
        values = self.values

        if side == "input":
            def pre_hook(module, args, kwargs=None):
                x = args[0] if args else next(iter(kwargs.values()))  # [batch, pos, width]
                values[name] = x[:, pos].detach().clone()  # [batch, width]; clone: don't pin [batch, pos, width]
            return pre_hook

        def hook(module, args, output):
            values[name] = _as_tensor(output)[:, pos].detach().clone()  # [batch, width]
        return hook

    def __enter__(self) -> "Trace":
        model, adapter = self.loaded.model, self.loaded.adapter
        lock = getattr(self.loaded, "lock", None)
        if lock is not None:  # one tracing scope per model at a time (hooks are global state)
            lock.acquire()
            self._lock = lock
        try:
            for kind, layer in self.sites:
                module, side = adapter.site_module(model, kind, layer)
                fn = self._capture(site_name(kind, layer), side)
                h = (module.register_forward_pre_hook(fn) if side == "input" else module.register_forward_hook(fn))
                self._handles.append(h)
            if self.stop_after is not None:
                layers = adapter.layers(model)
                late = [site_name(k, layer) for k, layer in self.sites if layer > self.stop_after]
                if late:
                    raise ValueError(f"{late[0]} is after the stop layer {self.stop_after}: the forward pass would "
                                     "end before reaching it (raise stop_after or drop the site)")
                if not 0 <= self.stop_after < len(layers):
                    raise ValueError(f"layer {self.stop_after} requested, the model has {len(layers)} decoder "
                                     f"layers loaded (0..{len(layers) - 1})")

                def stop(module, args, output):
                    if self._stop_armed:
                        raise StopForward()
                # Registered after the capture hooks, so the resid site of the same layer is read first.
                self._handles.append(layers[self.stop_after].register_forward_hook(stop))
        except BaseException:
            self.close()
            raise
        return self

    def run(self, inputs: dict) -> dict[str, torch.Tensor]:
        """One forward pass (inference mode) through the scope; returns a new dict of this pass's values
        (``values`` holds the latest pass's too)."""
        self.values.clear()
        self.ran_direct = False
        check_context(self.loaded, inputs, ctx=self.context)
        try:
            with torch.inference_mode():
                if self.direct and self.stop_after is not None:
                    self._stop_armed = False  # the direct path ends at the stop layer by itself
                    self.ran_direct = self.loaded.adapter.prefix_forward(self.loaded.model, inputs, self.stop_after)
                if not self.ran_direct:
                    self._stop_armed = True
                    self.loaded.model(**inputs)
        except StopForward:
            pass
        missing = [site_name(k, layer) for k, layer in self.sites if site_name(k, layer) not in self.values]
        if missing:
            raise RuntimeError(f"the forward pass never reached {missing}; is the adapter's module path right?")
        return dict(self.values)

    def close(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()
        if self._lock is not None:
            lock, self._lock = self._lock, None
            lock.release()

    def __exit__(self, exc_type, exc, tb) -> bool:
        self.close()
        return exc_type is not None and issubclass(exc_type, StopForward)


# ------------------------------------------------------------------------------------------ in memory


def check_sites_layers(loaded, sites: Sequence[str], layers: Sequence[int] | None) -> tuple[tuple, tuple]:
    """Canonical (sites, layers); ValueError naming a bad site or a layer the loaded model lacks."""
    if isinstance(sites, str):
        sites = (sites,)
    sites = tuple(dict.fromkeys(site_kind(s) for s in sites))
    if not sites:
        raise ValueError("no sites requested; use one or more of " + ", ".join(SITE_KINDS))
    n = loaded.n_layers
    layers = tuple(range(n)) if layers is None else tuple(sorted(dict.fromkeys(int(layer) for layer in layers)))
    if not layers:
        raise ValueError("no layers requested")
    bad = [layer for layer in layers if not 0 <= layer < n]
    if bad:
        raise ValueError(f"layer {bad[0]} requested, the model has {n} decoder layers loaded (0..{n - 1})")
    return sites, layers


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
def task_fingerprint(task) -> str:
    """sha256 over every example's image bytes (decoded pixels for in-memory images, file bytes for paths),
    question and label, plus the task's label set and instruction."""
    h = hashlib.sha256()
    h.update(json.dumps({"labels": list(task.labels), "instruction": task.instruction}).encode())
    for ex in task.examples:
        if isinstance(ex.image, Image.Image):
            h.update(f"{ex.image.mode}{ex.image.size}".encode())
            h.update(ex.image.tobytes())
        else:
            with open(ex.image, "rb") as f:
                h.update(f.read())
        h.update(b"\0" + ex.question.encode() + b"\0" + ex.label.encode() + b"\n")
    return h.hexdigest()


def task_prompts(loaded, task, instruction: str | None = None) -> list[str]:
    """Every example's full prompt string (chat template, instruction, generation prompt)."""
    old = task.instruction
    if instruction is not None:
        task.instruction = instruction
    try:
        check_task_text(loaded, task)
        return [loaded.prompt(task.prompt_text(ex.question)) for ex in task.examples]
    finally:
        task.instruction = old


def check_task_text(loaded, task) -> None:
    """SpecialTokenError naming the file, row and field of a question (or the instruction) holding one of the
    model's special tokens (``sn_core.special_tokens.check_task_text``)."""
    from .special_tokens import check_task_text as check

    check(loaded.processor, loaded.model_id, task, task.instruction)


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
    from .store import content_key

    return content_key(kind="activations", format=EXTRACT_FORMAT, model_id=loaded.model_id,
                       weights_hash=loaded.weights_hash, config_hash=loaded.config_hash,
                       task=fingerprint,
                       prompts=hashlib.sha256("\n\0".join(prompts).encode()).hexdigest(),
                       sites=list(sites), layers=list(layers), dtype=str(loaded.dtype).replace("torch.", ""),
                       read_position=-1, chunk_size=int(chunk_size))


def plan_extraction(loaded, task, sites, layers, batch_size: int, chunk_size: int, instruction, root):
    """What an extraction of ``task`` will read and where it is stored (shared by :func:`extract` and
    ``sn_core.distributed.extract_sharded``, so both use the same key): ``(sites, layers, prompts, store,
    n_chunks)``; validates the arguments with clear errors."""
    from .store import ActivationStore

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
