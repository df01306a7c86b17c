"""Scale-out: activation extraction sharded over processes with Hugging Face ``accelerate``.

Every process loads the model on its own device, takes its share of the task's chunks
(``PartialState().split_between_processes``), and writes each finished chunk straight into the activation store
under the *same key* a single-process :func:`sn_core.activations.extract.extract` would use. Chunk files are written
atomically with their own checksummed manifest, so ranks writing disjoint chunks never touch the same file. After
a barrier the main process checks that every chunk is there and marks the store complete. The merged store is
therefore indistinguishable from a single-process one: a later ``extract`` / ``run_search`` with the same
settings is a cache hit. Chunks already present are skipped, so an interrupted sharded run resumes. The store
root must be a folder every process can read and write (one machine, or a shared filesystem).

Usage (one machine; ``--multi_gpu`` is accelerate's torchrun launcher, which also starts CPU processes: with
``--device cpu`` they talk over gloo on localhost)::

    accelerate launch --multi_gpu --num_processes 4 -m sn_core.cli.distributed \\
        --model Qwen/Qwen2.5-VL-3B-Instruct --task shapes-color --n-examples 2000 --device cuda --dtype bf16 --search
    accelerate launch --multi_gpu --num_processes 2 -m sn_core.cli.distributed --model demo --device cpu

``--search`` then runs the search on the main process (extraction served from the store) and prints its JSON
summary (``sn_core.cli.distributed`` is the command line; it takes the options of ``python -m sn_core search``).
Without a launcher it runs as one process.
"""
from __future__ import annotations

import time
from typing import Sequence

import torch

from sn_core.activations.extract import EXTRACT_FORMAT, Extraction, plan_extraction, read_activations
from sn_core.data.images import as_rgb

assert EXTRACT_FORMAT == 1, "sn_core.search.distributed mirrors extract(); re-check it when the extraction format changes"


def partial_state(device: str | None = None):
    """accelerate's ``PartialState``; CPU mode (gloo) when ``device`` is cpu or CUDA is absent."""
    from accelerate import PartialState

    cpu = (device or "").startswith("cpu") or not torch.cuda.is_available()
    return PartialState(cpu=cpu)


def extract_sharded(loaded, task, sites: Sequence[str] = ("mlp",), layers: Sequence[int] | None = None,
                    batch_size: int = 16, chunk_size: int = 64, instruction: str | None = None, root=None,
                    state=None, progress=None) -> Extraction:
    """:func:`sn_core.activations.extract.extract` with its chunks split over the processes of ``state`` (default: the
    current ``accelerate`` ``PartialState``). Every process must call it with the same arguments; every process
    returns the same complete :class:`~sn_core.activations.extract.Extraction`."""
    state = state if state is not None else partial_state(str(loaded.device))
    sites, layers, prompts, store, n_chunks = plan_extraction(loaded, task, sites, layers, batch_size, chunk_size,
                                                              instruction, root)
    key, n = store.key, len(task.examples)
    cache_hit = store.is_complete()
    state.wait_for_everyone()  # every rank decided cache_hit before anyone marks the store complete
    if not cache_hit:
        if state.is_main_process:  # one rank checks every chunk on disk and deletes a corrupt one (recomputed below)
            store.verified_chunks()
        state.wait_for_everyone()
        done = set(store.finished_chunks())
        todo = [c for c in range(n_chunks) if c not in done]
        with state.split_between_processes(todo) as mine:  # contiguous share of the missing chunks
            for j, c in enumerate(mine):
                lo, hi = c * chunk_size, min((c + 1) * chunk_size, n)
                acts = read_activations(loaded, [as_rgb(ex.image) for ex in task.examples[lo:hi]], prompts[lo:hi],
                                        sites, layers, batch_size)  # {site: [hi-lo, width]}
                store.write_chunk(c, acts)
                if progress:
                    progress("extract", j + 1, len(mine))
        state.wait_for_everyone()
        if state.is_main_process:
            with store.lock():
                missing = sorted(set(range(n_chunks)) - set(store.finished_chunks()))
                if missing:
                    raise RuntimeError(f"sharded extraction finished with chunks {missing} missing from {store}")
                store.mark_complete({"kind": "activations", "model_id": loaded.model_id,
                                     "weights_hash": loaded.weights_hash, "task": task.name, "n_examples": n,
                                     "sites": list(sites), "layers": list(layers), "chunk_size": chunk_size,
                                     "n_chunks": n_chunks, "n_processes": state.num_processes})
        state.wait_for_everyone()
    return Extraction(key=key, sites=sites, layers=layers, n_examples=n, cache_hit=cache_hit, store=store)


def search_extraction_plan(cfg, task, n_layers: int) -> tuple:
    """(sub-task, sites, layers) that ``run_search(cfg)`` extracts: the same plan (``sn_core.search.plan``), so the
    search afterwards hits the cache (``tests/integration/test_distributed.py`` checks it)."""
    from sn_core.search.plan import extraction_plan, plan, search_layers

    p = plan(cfg, task)
    return (p.sub, *extraction_plan(cfg, n_layers, search_layers(cfg, n_layers)))


def run_sharded(cfg, root=None, search: bool = False, state=None, log=None) -> dict:
    """Extract what ``run_search(cfg)`` needs over all processes; with ``search`` the main process then runs the
    search (its extraction is a cache hit). Returns a JSON-able report (the search summary under ``"search"``)."""
    from sn_core.models import load_model
    from sn_core.search.plan import max_layers
    from sn_core.search.run import resolve_task, run_search

    cfg = cfg.validate()
    state = state if state is not None else partial_state(cfg.device)
    device = cfg.device if state.device.type == "cpu" or cfg.device == "cpu" else str(state.device)
    t0 = time.perf_counter()
    loaded = load_model(cfg.model, device=device, dtype=cfg.dtype, max_layers=max_layers(cfg))
    task = resolve_task(cfg)
    sub, sites, layers = search_extraction_plan(cfg, task, loaded.n_layers)

    def progress(stage, done, total):
        if log:
            log(f"[rank {state.process_index}] {stage} {done}/{total} chunks")

    ext = extract_sharded(loaded, sub, sites, layers, batch_size=cfg.batch_size, root=root, state=state,
                          progress=progress)
    report = {"key": ext.key, "n_examples": ext.n_examples, "sites": list(sites), "layers": list(layers),
              "n_processes": state.num_processes, "extraction_cache_hit": ext.cache_hit,
              "seconds": round(time.perf_counter() - t0, 3)}
    if search and state.is_main_process:
        res = run_search(cfg, task=task, loaded=loaded, root=root)
        report["search"] = res.summary.to_json()
    return report
