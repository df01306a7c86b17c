"""What every CLI command shares: the one-line ``CliError``, the parser class, ``--layers`` parsing, tqdm progress
bars, the options of ``search`` (reused by every command that reopens a search) and number formatting."""
from __future__ import annotations

import argparse
import math
import sys

EXIT_USAGE = 2
MAX_LAYER_SPAN = 10_000


class CliError(Exception):
    """A user error: printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one clear line instead of usage + traceback-like noise
        raise CliError(f"{self.prog}: {message} (see --help)")


def parse_layers(text: str) -> tuple[int, ...]:
    """``"0 1 2"``, ``"0,2,4"``, ``"0-3"`` or mixes -> sorted unique layers."""
    out = set()
    for part in text.replace(",", " ").split():
        try:
            if "-" in part:
                a, b = part.split("-", 1)
                lo, hi = int(a), int(b)
                if hi < lo:
                    raise ValueError
                if hi - lo >= MAX_LAYER_SPAN:  # no model has that many layers; refuse before allocating them
                    raise CliError(f"layer range {part!r} in --layers is too wide (at most {MAX_LAYER_SPAN} layers)")
                out.update(range(lo, hi + 1))
            else:
                out.add(int(part))
        except ValueError:
            raise CliError(f"bad layer spec {part!r} in --layers {text!r}; use e.g. '0 1 2', '0,2' or '0-3'") from None
    if not out or min(out) < 0:
        raise CliError(f"bad --layers {text!r}: layers are non-negative integers")
    return tuple(sorted(out))


class TqdmProgress:
    """``progress(stage, done, total)`` as one tqdm bar per stage on stderr."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.bars = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        bar = self.bars.get(stage)
        if bar is None:
            bar = self.bars[stage] = tqdm(total=total, desc=f"{stage:9s}", file=sys.stderr, leave=False,
                                          dynamic_ncols=True)
        bar.total = total
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()
            del self.bars[stage]

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
        self.bars.clear()


def add_search_options(s: argparse.ArgumentParser) -> None:
    """The model, task, split and search options of ``search``, shared by every command that reopens a search
    (``robustness``, ``probe-curve``) and by multi-process extraction: the same options give the same search key, so
    those commands reuse it. Every default is ``SearchConfig``'s (the one source of search defaults)."""
    from sn_core.config import METRICS, RULES, SearchConfig

    d = SearchConfig()
    s.add_argument("--model", default=d.model, help=f"'demo', a local HF folder or a cached hub id (default {d.model})")
    s.add_argument("--task", default=d.task,
                   help="bundled task name, a .jsonl/.csv manifest, an image folder (with --question), or a "
                        "benchmark / Hugging Face dataset: FORMAT:PATH[:SUBSET] (pope, clevr, aokvqa, scienceqa, "
                        "vizwiz, instaorder-depth, instaorder-occlusion, hf, auto) or a folder whose format is "
                        "detected (docs/datasets.md)")
    s.add_argument("--question", default=d.question, help="question for an image-folder task (or a Hugging Face "
                   "dataset without a question column)")
    s.add_argument("--images", default=None, help="benchmark image folder (COCO 2017 for aokvqa and instaorder)")
    s.add_argument("--skip-missing-images", action="store_true",
                   help="leave out benchmark rows whose image file is missing (counted in the task description)")
    s.add_argument("--columns", default=None, help="Hugging Face dataset columns where the usual names are not "
                   "found, e.g. image=img,question=query,label=answer,choices=options")
    s.add_argument("--instruction", default=d.instruction, help="answer-format instruction (default: the task's own)")
    s.add_argument("--site", dest="sites", nargs="+", action="extend", default=None,
                   help=f"site kinds to search: mlp, resid, attn (default {' '.join(d.sites)})")
    s.add_argument("--layers", nargs="+", default=None,
                   help="layers to search, e.g. '0 1 2', '0-3' or '0,2' (default all)")
    s.add_argument("--l-max", type=int, default=d.l_max, help="only layers <= L_MAX are candidates")
    s.add_argument("--k", type=int, default=d.k, help=f"Super Neurons in the voting ensemble (default {d.k})")
    s.add_argument("--probe-per-class", type=int, default=d.probe_per_class,
                   help=f"probe examples per class (default {d.probe_per_class})")
    s.add_argument("--test-per-class", type=int, default=d.test_per_class, help="default: all remaining examples")
    s.add_argument("--n-examples", type=int, default=d.n_examples,
                   help=f"examples of a bundled task, or the class-stratified subset drawn from a benchmark or "
                        f"dataset (default {d.n_examples})")
    s.add_argument("--data-seed", type=int, default=d.data_seed, help="seed of the bundled task generator")
    s.add_argument("--seed", type=int, default=d.seed, help="split and null-control seed")
    s.add_argument("--rule", default=d.rule, help=" | ".join(RULES))
    s.add_argument("--metric", default=d.metric, help=" | ".join(METRICS))
    s.add_argument("--no-baselines", action="store_true", help="skip base model, SAV and linear probe")
    s.add_argument("--batch-size", type=int, default=d.batch_size)
    s.add_argument("--device", default=d.device, help="cpu | cuda | auto")
    s.add_argument("--dtype", default=d.dtype, help="fp32 | fp16 | bf16 (default fp32 on CPU, bf16 on CUDA)")
    s.add_argument("--cache-dir", default=None, help="store root (default $SN_CACHE_DIR or "
                   "~/.cache/super-neuron-explorer)")


def search_config(a):
    """The :class:`SearchConfig` of parsed ``add_search_options`` arguments. The stored ranking keeps
    ``max(50, k, --top)`` neurons; commands without ``--top`` count it as 10, so they reopen the same search."""
    from sn_core.config import SearchConfig

    from sn_core.data.benchmarks import looks_like_benchmark, with_options

    columns = _columns(getattr(a, "columns", None))
    task = with_options(a.task, images=getattr(a, "images", None),
                        skip_missing_images=getattr(a, "skip_missing_images", False), columns=columns)
    if a.question:
        from pathlib import Path

        # bundled tasks and manifests carry their own questions
        if not Path(a.task).expanduser().is_dir() and not looks_like_benchmark(task):
            raise CliError(f"--question applies to image-folder tasks only; {a.task!r} is not a folder (bundled "
                           "tasks and manifests carry their own questions; --instruction changes the answer format)")
    top = getattr(a, "top", 10)
    return SearchConfig(model=a.model, task=task, question=a.question, instruction=a.instruction,
                        n_examples=a.n_examples, data_seed=a.data_seed, probe_per_class=a.probe_per_class,
                        test_per_class=a.test_per_class, seed=a.seed,
                        sites=tuple(a.sites) if a.sites else SearchConfig.sites,
                        layers=parse_layers(" ".join(a.layers)) if a.layers else None, l_max=a.l_max, k=a.k,
                        rule=a.rule, metric=a.metric, n_top=max(SearchConfig.n_top, a.k, top), batch_size=a.batch_size,
                        baselines=not a.no_baselines, device=a.device, dtype=a.dtype)


def _columns(text: str | None) -> dict:
    """``--columns image=img,label=answer`` -> {"image": "img", "label": "answer"}."""
    if not text:
        return {}
    out = {}
    for part in text.split(","):
        k, eq, v = part.partition("=")
        k = k.strip().lower()
        if not eq or k not in ("image", "question", "label", "choices") or not v.strip():
            raise CliError(f"bad --columns entry {part!r}; use ROLE=COLUMN with ROLE image, question, label or "
                           "choices, e.g. --columns image=img,label=answer")
        out[k] = v.strip()
    return out


def _fmt(v, pct=True) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return f"{100 * v:.1f}%" if pct else (f"{v:.1f}" if isinstance(v, float) else str(v))
