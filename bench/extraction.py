"""Cost of reading activations: hooked batched extraction vs a plain forward to the same layer vs a per-sample
loop, measured side by side in one run.

- plain: the model loaded with only layers ``0..L`` (``max_layers=L+1``), ``model.model(**inputs)`` (vision tower,
  projector, decoder layers 0..L, final norm; no LM head), no hooks at all: the least work any extraction of
  layer ``L`` needs;
- hooked: ``sn_core.activations.extract.read_activations`` on that same model instance, every requested site kind at every
  layer ``0..L`` (read-position copies to CPU numpy), stopping after layer ``L`` by the tracing scope;
- hooked, full model: the same on the model with all its layers, where the tracing scope's stop is what skips
  the later layers and the LM head;
- hooked, model's own forward: as "hooked", but with the truncated pass left to the model's ``forward`` stopped by
  a hook (``Trace(direct=False)``), i.e. what the hooks alone add to the plain forward; "hooked" itself lets a
  LLaVA/Llama adapter run the truncated pass directly (``ModelAdapter.prefix_forward``);
- loop: the hooked extraction one example at a time (batch size 1).

All three include preprocessing (processor call) and run on the same examples after a warm-up; times are medians
over repeats (interleaved). Prints the hook overhead ratio hooked / plain (target <= 1.10) and the batching gain loop / hooked.

    python bench/extraction.py [--model demo] [--layer 7] [--sites mlp resid attn] [--batch-size 32] [--n 64]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from sn_core.shortcut.timing import time_interleaved  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="demo")
    ap.add_argument("--task", default="shapes-count")
    ap.add_argument("--layer", type=int, default=None, help="deepest layer read (default: the last)")
    ap.add_argument("--sites", nargs="+", default=["mlp", "resid", "attn"])
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--loop-n", type=int, default=16, help="examples timed in the per-sample loop")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default=None)
    ap.add_argument("--threads", type=int, default=None)
    a = ap.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)

    from sn_core.data import get_task
    from sn_core.activations import read_activations
    from sn_core.data.images import as_rgb
    from sn_core.models import load_model

    full = load_model(a.model, device=a.device, dtype=a.dtype)
    layer = full.n_layers - 1 if a.layer is None else a.layer
    plain_model = load_model(a.model, device=a.device, dtype=a.dtype, max_layers=layer + 1)
    task = get_task(a.task, a.n, seed=7)
    images = [as_rgb(e.image) for e in task.examples]
    prompts = [full.prompt(task.prompt_text(e.question)) for e in task.examples]
    bs = a.batch_size
    layers = list(range(layer + 1))

    def plain():
        for lo in range(0, a.n, bs):
            inputs = plain_model.encode(images[lo:lo + bs], prompts[lo:lo + bs])
            with torch.inference_mode():
                plain_model.model.model(**inputs)  # LlavaModel-style base: no LM head

    def hooked():
        read_activations(plain_model, images, prompts, sites=a.sites, layers=layers, batch_size=bs)

    def hooked_generic():
        plain_model.adapter.prefix_forward = lambda *args: False  # instance attribute: this bench's model only
        try:
            read_activations(plain_model, images, prompts, sites=a.sites, layers=layers, batch_size=bs)
        finally:
            del plain_model.adapter.prefix_forward

    def hooked_full():
        read_activations(full, images, prompts, sites=a.sites, layers=layers, batch_size=bs)

    def loop():
        read_activations(plain_model, images[:a.loop_n], prompts[:a.loop_n], sites=a.sites, layers=layers,
                         batch_size=1)

    fns = {"plain": plain, "hooked": hooked, "hooked_generic": hooked_generic, "hooked_full": hooked_full,
           "loop": loop}
    med = time_interleaved(fns, a.repeats, full.device)
    t_plain = med["plain"] / a.n
    t_hooked = med["hooked"] / a.n
    t_hooked_full = med["hooked_full"] / a.n
    t_generic = med["hooked_generic"] / a.n
    t_loop = med["loop"] / a.loop_n
    n_values = sum(full.widths[s] for s in a.sites) * len(layers)
    print(f"model {full.model_id} ({full.n_layers} layers, {str(full.dtype).replace('torch.', '')}, {full.device}, "
          f"{torch.get_num_threads()} threads); task {a.task}; layers 0..{layer}; sites {', '.join(a.sites)} "
          f"({n_values} values per example)")
    print(f"plain forward to layer {layer} (batch {bs}):  {1000 * t_plain:8.2f} ms/example")
    print(f"hooked extraction      (batch {bs}):  {1000 * t_hooked:8.2f} ms/example")
    print(f"hooked, model's forward (batch {bs}): {1000 * t_generic:8.2f} ms/example  (no direct truncated pass: "
          "the hooks' own cost)")
    skipped = f"layers {layer + 1}..{full.n_layers - 1}, " if layer < full.n_layers - 1 else ""
    print(f"hooked, full model     (batch {bs}):  {1000 * t_hooked_full:8.2f} ms/example  (the stop skips "
          f"{skipped}the final norm and the LM head)")
    print(f"per-sample loop        (batch 1):   {1000 * t_loop:8.2f} ms/example")
    print(f"batching gain (loop / hooked): {t_loop / t_hooked:.2f}x")
    print(f"hooks alone (model's forward) / plain: {t_generic / t_plain:.3f}")
    print(f"hook overhead ratio {t_hooked / t_plain:.3f} (target <= 1.10)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
