"""Memory saved by loading only the first L+1 decoder layers (``load_model(max_layers=L+1)``), side by side.

Two models in one run: the demo model (``assets/demo-vlm``, 16 decoder layers) and a tiny random LLaVA with many
layers (48 by default, d_model 256, d_mlp 1024; written to a temporary folder), each loaded in full and with
``max_layers`` in a few settings. Each model is measured in a fresh subprocess:

- ``param_MB``: bytes of the loaded parameters (exact: sum of numel x element size);
- ``rss_load_MB``: peak resident set size of the process (sampled every 2 ms) minus its RSS just before loading,
  i.e. what loading plus one early-exit forward pass through the loaded layers added at its peak (library code is
  imported by a warm-up 1-layer load first, and freed memory is returned to the OS between loads);
- ``py_peak_MB``: ``tracemalloc`` peak over the same span. It counts Python-level allocations only; tensor
  storage comes from torch's C++ allocator and is not in it, so it shows the loader's own overhead.

Usage::

    python bench/memory.py                       # demo + 48-layer tiny model, fp32 on CPU
    python bench/memory.py --layers 48 --d-model 256 --exit-layers 0 11 23 --dtype bf16
    python bench/memory.py --model Qwen/Qwen2.5-VL-3B-Instruct --device cuda --dtype bf16   # a cached checkpoint

On CUDA the figures add ``cuda_peak_MB`` (``torch.cuda.max_memory_allocated``).
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

MB = 1024 * 1024


def _rss_bytes() -> int:
    import psutil

    return psutil.Process().memory_info().rss


class PeakRSS:
    """Peak resident set size over a ``with`` block, sampled every 2 ms by a thread (``ru_maxrss`` cannot be
    reset, so it cannot give the peak of a second load in the same process)."""

    def __enter__(self):
        import threading

        self.start = self.peak = _rss_bytes()
        self._stop = threading.Event()

        def sample():
            while not self._stop.wait(0.002):
                self.peak = max(self.peak, _rss_bytes())
        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_bytes())
        return False


def _release() -> None:
    """Return freed memory to the OS between loads, so each load starts from the same baseline."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass


def _measure(model: str, settings: list, device: str, dtype: str | None, queue) -> None:
    """Child process: for each ``max_layers`` (ascending), load, run one early-exit forward through the loaded
    layers, and report the figures on ``queue``. Library code is imported and the processor built once first
    (a warm-up 1-layer load), so the figures are the model's own, not transformers' import cost."""
    try:
        import tracemalloc

        import torch

        from sn_core.data import get_task
        from sn_core.activations import Trace
        from sn_core.models import load_model

        images = [get_task("shapes-color", 1, seed=0).examples[0].image]
        warm = load_model(model, device=device, dtype=dtype, max_layers=1)  # imports modeling + processing code
        with Trace(warm, [("mlp", 0)]) as tr:
            tr.run(warm.encode(images, [warm.prompt("What color is the shape?")]))
        del warm, tr
        _release()
        for max_layers in settings:
            _release()
            if device.startswith("cuda"):
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
            tracemalloc.start()
            with PeakRSS() as rss:
                loaded = load_model(model, device=device, dtype=dtype, max_layers=max_layers)
                exit_layer = loaded.n_layers - 1
                inputs = loaded.encode(images, [loaded.prompt("What color is the shape? Answer with one word.")])
                with Trace(loaded, [("mlp", exit_layer)]) as tr:
                    tr.run(inputs)
            _, py_peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            params = sum(p.numel() * p.element_size() for p in loaded.model.parameters())
            row = {"model": loaded.model_id if loaded.model_id == "demo" else Path(str(loaded.model_id)).name,
                   "max_layers": max_layers, "layers_loaded": loaded.n_layers, "layers_total": loaded.n_layers_total,
                   "param_MB": params / MB, "rss_load_MB": (rss.peak - rss.start) / MB, "py_peak_MB": py_peak / MB,
                   "dtype": str(loaded.dtype).replace("torch.", "")}
            if device.startswith("cuda"):
                row["cuda_peak_MB"] = torch.cuda.max_memory_allocated() / MB
            queue.put(row)
            del loaded, inputs, tr
    except BaseException as e:  # noqa: BLE001 - reported by the parent
        queue.put({"model": model, "error": f"{type(e).__name__}: {e}"})
    queue.put(None)


def measure(model: str, settings: list, device: str = "cpu", dtype: str | None = None, log=print) -> list[dict]:
    """Rows for ``model`` loaded with each ``max_layers`` in ``settings``, in one fresh subprocess."""
    ctx = mp.get_context("spawn")  # a fresh interpreter: nothing carried over from the parent or other models
    q = ctx.Queue()
    order = sorted(settings, key=lambda m: float("inf") if m is None else m)  # ascending: smallest first
    p = ctx.Process(target=_measure, args=(model, order, device, dtype, q))
    p.start()
    rows = []
    while (row := q.get()) is not None:
        if "error" in row:
            p.join()
            raise RuntimeError(f"measuring {model} failed: {row['error']}")
        log(f"  {row['model']}: {row['layers_loaded']} layers, {row['rss_load_MB']:.1f} MB peak RSS added")
        rows.append(row)
    p.join()
    return rows


def table(rows: list[dict]) -> str:
    cols = ["model", "layers_loaded", "layers_total", "dtype", "param_MB", "rss_load_MB", "py_peak_MB"]
    if any("cuda_peak_MB" in r for r in rows):
        cols.append("cuda_peak_MB")
    cols += ["param_saved", "rss_saved"]
    fmt = lambda v: f"{v:.1f}" if isinstance(v, float) else str(v)  # noqa: E731
    body = [[fmt(r.get(c, "")) for c in cols] for r in rows]
    widths = [max(len(c), *(len(b[i]) for b in body)) for i, c in enumerate(cols)]
    line = lambda cells: "  ".join(c.rjust(w) for c, w in zip(cells, widths))  # noqa: E731
    return "\n".join([line(cols), line(["-" * w for w in widths])] + [line(b) for b in body])


def run(models: list[tuple[str, list[int | None]]], device: str, dtype: str | None, log=print) -> list[dict]:
    rows = []
    for model, settings in models:
        log(f"measuring {model} with max_layers in {settings} ...")
        got = measure(model, settings, device, dtype, log=log)
        full = next(r for r in got if r["max_layers"] is None)
        for r in sorted(got, key=lambda r: -r["layers_loaded"]):
            r["param_saved"] = f"{1 - r['param_MB'] / full['param_MB']:.0%}"
            r["rss_saved"] = f"{1 - r['rss_load_MB'] / full['rss_load_MB']:.0%}"
            rows.append(r)
    return rows


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", action="append", help="model(s) to measure instead of demo + tiny (repeatable)")
    ap.add_argument("--layers", type=int, default=48, help="decoder layers of the tiny random model")
    ap.add_argument("--d-model", type=int, default=256)
    ap.add_argument("--d-mlp", type=int, default=1024)
    ap.add_argument("--exit-layers", type=int, nargs="+", default=[0, 11, 23],
                    help="exit layers L to load 0..L for on the tiny model (demo: 0 and 3)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default=None)
    ap.add_argument("--json", type=Path, help="also write the rows as JSON")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        if a.model:
            plan = [(m, [None] + [L + 1 for L in a.exit_layers]) for m in a.model]
        else:
            from sn_core.models.tiny import save_tiny_vlm

            print(f"writing a tiny random LLaVA with {a.layers} layers (d_model {a.d_model}, d_mlp {a.d_mlp}) ...",
                  file=sys.stderr)
            tiny = save_tiny_vlm("llava", Path(tmp) / f"tiny-llava-{a.layers}L", n_layers=a.layers,
                                 d_model=a.d_model, d_mlp=a.d_mlp)
            plan = [("demo", [None, 4, 1]), (str(tiny), [None] + [L + 1 for L in a.exit_layers])]
        rows = run(plan, a.device, a.dtype, log=lambda m: print(m, file=sys.stderr, flush=True))
    print(table(rows))
    if a.json:
        a.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
