"""Real-width random-weight models of each family, through search, export and ``predict --shortcut``.

For each ``--family``, a random-weight model is built from the family's example-checkpoint configs
(``sn_core/models/checkpoint_configs``, ``sn_core.models.config_faithful`` mode ``real``): every width, the
vocabulary and the image resolution are the checkpoint's, only the decoder is cut to ``--layers`` layers. It is saved as a Hugging
Face folder (safetensors) and run through the CLI as a user would, each step a fresh process:

1. ``search --n-examples N --no-baselines --site mlp --save-shortcut-classifier`` on ``--task``;
2. ``export --classifier`` (the graph and its external data); with ``--float16`` also ``export --float16``;
3. ``predict --shortcut OUT --task`` and ``predict --classifier --task`` on the same test split: label agreement;
4. in this process: greedy generation of the label (library ``generate``, as many new tokens as the longest label
   needs) vs the exported shortcut (``load_shortcut(...).predict``), both end to end (image + question in, label
   out), batch 1, one path after the other, median seconds per example over ``--timed`` examples (after one
   warm-up call each): their ratio.

Printed per family: extraction seconds per example (search wall time / N, model load included), peak RSS of the
search process, graph size (all files of the exported folder), label agreement, shortcut vs generation ratio, the
FLOP limit of this cut model's exit (``sn_core.models.flops``, its own ``--layers`` depth) and the FLOP limit the
full-depth checkpoint would have after layer 0 (its real config, built on the meta device: shapes only). A step
that fails puts its error in the row and the later steps that need it are skipped; the table always prints.

    python bench/real_width.py --family llava_1_5 --layers 2 --n-examples 16
    python bench/real_width.py --family llava_1_5 qwen3_vl --layers 2 --n-examples 16 --timed 4
    python bench/real_width.py --family qwen2_vl gemma3 --tiny          # the same steps on tiny widths

Memory: the model is built and saved once per family (fp32: about 4 bytes per parameter, e.g. ~2.5 GB for a
2-layer LLaVA-1.5-7B), then loaded by each step; run one family at a time on a small machine.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

GB = 1024 ** 3


def _peak_rss_run(cmd: list[str], env: dict) -> tuple[subprocess.CompletedProcess, float, float]:
    """Run ``cmd``; return (completed process, wall seconds, peak RSS in bytes of it and its children), RSS sampled
    every 0.2 s."""
    import psutil

    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)
    peak = [0]
    stop = threading.Event()

    def sample():
        try:
            p = psutil.Process(proc.pid)
            while not stop.is_set():
                try:
                    rss = p.memory_info().rss + sum(c.memory_info().rss for c in p.children(recursive=True))
                    peak[0] = max(peak[0], rss)
                except psutil.Error:
                    pass
                stop.wait(0.2)
        except psutil.Error:
            pass

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    out, err = proc.communicate()
    stop.set()
    th.join()
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err), time.perf_counter() - t0, float(peak[0])


def _error_of(cp: subprocess.CompletedProcess) -> str:
    """One line for a failed CLI step: its ``error: ...`` line, else the final exception line of a traceback
    (with what follows it on the next lines, e.g. onnxruntime's multi-line messages), else the last line."""
    import re

    text = (cp.stderr or "") + "\n" + (cp.stdout or "")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    errs = [ln for ln in lines if ln.startswith("error:")]
    if errs:
        return errs[-1][:200]
    exc = [i for i, ln in enumerate(lines) if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|InvalidArgument)\b", ln)]
    if exc:
        return " ".join(lines[exc[-1]:exc[-1] + 3])[:200]
    return (lines[-1] if lines else f"exit status {cp.returncode}")[:200]


def _json_line(text: str) -> dict:
    for ln in reversed(text.splitlines()):
        ln = ln.strip()
        if ln.startswith("{"):
            return json.loads(ln)
    raise ValueError("no JSON line in the output")


def _cli(args: list[str], env: dict) -> tuple[dict | None, str | None, float, float]:
    cp, wall, rss = _peak_rss_run([sys.executable, "-m", "sn_core", *args, "--json"], env)
    if cp.returncode != 0:
        return None, _error_of(cp), wall, rss
    try:
        return _json_line(cp.stdout), None, wall, rss
    except ValueError as e:
        return None, f"{e}", wall, rss


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _time_paths(model_dir: Path, shortcut_dir: Path | None, task_name: str, n_examples: int, data_seed: int,
                timed: int, device: str = "cpu", dtype: str | None = None, shortcut16_dir: Path | None = None) -> dict:
    """Median end-to-end seconds per example, batch 1: greedy generation of a label, then (with a shortcut) the
    shortcut. The two run one after the other (the model is freed before the shortcut opens: at real width each
    holds GBs), each on the same ``timed`` examples, the first call of each left out as warm-up; then the float16
    shortcut (``shortcut16_dir``) likewise. A failing shortcut leaves the generation figure and reports its error
    under ``shortcut_error``."""
    import gc

    import torch

    from sn_core.models.generation import label_token_budget
    from sn_core.data import get_task
    from sn_core.models import load_model

    task = get_task(task_name, n_examples, seed=data_seed)
    exs = task.examples[:timed + 1]
    loaded = load_model(str(model_dir), device=device, dtype=dtype)
    new_tokens = label_token_budget(loaded.processor, list(task.labels))
    gen_s = []
    for ex in exs:
        t0 = time.perf_counter()
        inputs = loaded.encode([ex.image], [loaded.prompt(task.prompt_text(ex.question))], generation=True)
        with torch.inference_mode():
            loaded.model.generate(**inputs, max_new_tokens=new_tokens, do_sample=False)
        gen_s.append(time.perf_counter() - t0)
    del loaded, inputs
    gc.collect()
    out = {"generation_s": statistics.median(gen_s[1:] or gen_s), "new_tokens": new_tokens,
           "timed": len(exs) - 1}
    # the float32 shortcut, then (with it freed) the float16 one; a failure ends the timing there
    for key, folder, what in (("shortcut_s", shortcut_dir, ""), ("shortcut16_s", shortcut16_dir, "float16: ")):
        if folder is None:
            break
        try:
            out[key] = _shortcut_seconds(folder, exs)
        except Exception as e:  # noqa: BLE001 - the row reports it
            out["shortcut_error"] = " ".join(f"{what}{type(e).__name__}: {e}".split())[:200]
            break
        gc.collect()
    if "shortcut_s" in out:
        out["ratio"] = out["generation_s"] / out["shortcut_s"]
    return out


def _shortcut_seconds(folder: Path, exs) -> float:
    """Median end-to-end seconds per example of the shortcut in ``folder`` at batch 1, the first call left out."""
    from sn_core.shortcut import load_shortcut

    sc, times = load_shortcut(folder), []
    for ex in exs:
        t0 = time.perf_counter()
        sc.predict([ex.image], [ex.question], batch_size=1)
        times.append(time.perf_counter() - t0)
    return statistics.median(times[1:] or times)


def _export_step(row: dict, clf: Path, out: Path, env: dict, tag: str, *flags: str) -> Path | None:
    """``export --classifier clf --out out [flags]`` as a fresh process: its seconds, peak RSS and graph size (and
    the card's float16 record) in ``row`` under keys ending in ``tag``; ``out``, or None after an error."""
    doc, err, wall, rss = _cli(["export", "--classifier", str(clf), "--out", str(out), *flags], env)
    row[f"export{tag}_s"], row[f"export{tag}_peak_rss_GB"] = wall, rss / GB
    if err:
        row["errors"].append(f"{' '.join(('export', *flags))}: {err}")
        return None
    row[f"graph{tag}_GB"] = _folder_bytes(out) / GB
    if doc.get("float16"):
        row["float16_card"] = doc["float16"]
    return out


def run_family(family: str, a, work: Path) -> dict:
    row: dict = {"family": family, "errors": []}
    env = {**os.environ, "SN_CACHE_DIR": str(work / "cache"), "PYTHONPATH": str(REPO)}
    try:
        from sn_core.models.config_faithful import BUILDS, build_family, full_depth_flop_limit
        from sn_core.data import get_task

        row["checkpoint"] = BUILDS[family].checkpoint
        task = get_task(a.task, 1, seed=a.data_seed)
        ex = task.examples[0]
        lim = full_depth_flop_limit(family, ex.image, task.prompt_text(ex.question), exit_layer=0)
        row["full_depth_layers"] = lim["n_layers"]
        row["full_depth_flop_limit_L0"] = lim["ratio"]
        row["full_depth_prompt_len"] = lim["prompt_len"]
    except Exception as e:  # noqa: BLE001 - the row reports it
        row["errors"].append(f"flop limit: {type(e).__name__}: {e}"[:200])
    model_dir = work / f"{family}-model"
    try:
        import torch

        t0 = time.perf_counter()
        model, proc = build_family(family, "tiny" if a.tiny else "real", n_layers=a.layers, seed=0)
        row["params_B"] = sum(p.numel() for p in model.parameters()) / 1e9
        model.save_pretrained(model_dir)
        proc.save_pretrained(model_dir)
        del model
        row["build_s"] = time.perf_counter() - t0
        torch.cuda.empty_cache() if torch.cuda.is_available() else None
        row["model_GB"] = _folder_bytes(model_dir) / GB
    except Exception as e:  # noqa: BLE001
        row["errors"].append(f"build: {type(e).__name__}: {e}"[:200])
        return row
    clf = work / f"{family}-clf.json"
    doc, err, wall, rss = _cli(["search", "--model", str(model_dir), "--task", a.task, "--n-examples",
                                str(a.n_examples), "--data-seed", str(a.data_seed), "--no-baselines", "--site", "mlp",
                                "--probe-per-class", str(a.probe_per_class), "--device", a.device,
                                *(["--dtype", a.dtype] if a.dtype else []),
                                "--batch-size", str(a.batch_size), "--save-shortcut-classifier", str(clf),
                                "--quiet"], env)
    row["search_peak_rss_GB"] = rss / GB
    if err:
        row["errors"].append(f"search: {err}")
        return row
    row["extraction_s_per_example"] = wall / a.n_examples
    row["exit_layer"] = doc.get("shortcut_layer", doc.get("sn_layer"))
    row["cut_model_flop_limit"] = doc.get("shortcut_flop_limit")
    out = _export_step(row, clf, work / f"{family}-shortcut", env, "")
    out16 = None
    if a.float16 and out is not None:
        out16 = _export_step(row, clf, work / f"{family}-shortcut16", env, "16", "--float16")
    pred = {}
    dev = ["--device", a.device, *(["--dtype", a.dtype] if a.dtype else [])]
    steps = [] if out is None else [("shortcut", ["--shortcut", str(out)]),
                                    ("classifier", ["--classifier", str(clf), *dev])]
    if out16 is not None:
        steps.append(("shortcut16", ["--shortcut", str(out16)]))
    for kind, arg in steps:
        doc, err, wall, rss = _cli(["predict", *arg, "--task", a.task, "--batch-size", "1"], env)
        if err:
            row["errors"].append(f"predict --{kind}: {err}")
        else:
            pred[kind] = doc
    labels = {k: [p["predicted"] if isinstance(p, dict) else p for p in d["predictions"]] for k, d in pred.items()}
    for key, kind in (("agreement", "shortcut"), ("agreement16", "shortcut16")):
        if kind in labels and "classifier" in labels:
            la, lb = labels[kind], labels["classifier"]
            row[key] = sum(x == y for x, y in zip(la, lb)) / max(1, len(lb))
            row["agreement_n"] = len(lb)
    try:
        row.update(_time_paths(model_dir, out, a.task, a.n_examples, a.data_seed, a.timed, a.device, a.dtype,
                               shortcut16_dir=out16))
        if "shortcut_error" in row:
            row["errors"].append(f"shortcut timing: {row.pop('shortcut_error')}")
    except Exception as e:  # noqa: BLE001
        row["errors"].append(" ".join(f"timing: {type(e).__name__}: {e}".split())[:200])
    return row


def _fmt(v, spec):
    return "-" if v is None else format(v, spec)


def print_table(rows: list[dict], a) -> None:
    import torch

    gpu = torch.cuda.get_device_name(0) if a.device != "cpu" and torch.cuda.is_available() else "no GPU used"
    print(f"{'TINY-width (script check)' if a.tiny else 'real-width'} random-weight models, decoder cut to "
          f"{a.layers} layer(s); task {a.task}, {a.n_examples} examples; device {a.device} ({gpu}), dtype "
          f"{a.dtype or 'CLI default'}; {platform.node()} ({os.cpu_count()} CPUs), torch threads "
          f"{torch.get_num_threads()}; shortcut: onnxruntime on the CPU")
    head = (f"{'family':16s} {'params B':>8s} {'extract s/ex':>12s} {'peak RSS GB':>11s} {'graph GB':>8s} "
            f"{'agree':>6s} {'gen s/ex':>8s} {'gen/short':>9s} {'limit(cut)':>10s} {'full-depth limit L0':>19s}")
    print(head)
    for r in rows:
        agree = None if "agreement" not in r else 100 * r["agreement"]
        full = r.get("full_depth_flop_limit_L0")
        full_s = "-" if full is None else f"{full:.2f}x ({r['full_depth_layers']} L)"
        print(f"{r['family']:16s} {_fmt(r.get('params_B'), '8.2f')} {_fmt(r.get('extraction_s_per_example'), '12.1f')} "
              f"{_fmt(r.get('search_peak_rss_GB'), '11.1f')} {_fmt(r.get('graph_GB'), '8.2f')} "
              f"{_fmt(agree, '5.1f')}% {_fmt(r.get('generation_s'), '8.1f')} {_fmt(r.get('ratio'), '8.2f')}x {_fmt(r.get('cut_model_flop_limit'), '9.2f')}x "
              f"{full_s:>19s}")
        if r.get("graph16_GB") is not None or "export16_s" in r:
            a16 = None if "agreement16" not in r else 100 * r["agreement16"]
            sc16, sc32 = r.get("shortcut16_s"), r.get("shortcut_s")
            print(f"    float16 graph: {_fmt(r.get('graph16_GB'), '.2f')} GB, export --float16 "
                  f"{_fmt(r.get('export16_s'), '.0f')} s (peak RSS {_fmt(r.get('export16_peak_rss_GB'), '.1f')} GB), "
                  f"labels equal to predict --classifier {_fmt(a16, '.1f')}%, {_fmt(sc16, '.2f')} s/ex on the CPU "
                  f"(float32 graph {_fmt(sc32, '.2f')} s/ex)")
        for e in r["errors"]:
            print(f"    {r['family']}: {e}")
    for r in rows:
        print("json " + json.dumps(r))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--family", nargs="+", default=["llava_1_5"])
    ap.add_argument("--layers", type=int, default=2, help="decoder layers kept (default 2)")
    ap.add_argument("--task", default="shapes-color")
    ap.add_argument("--n-examples", type=int, default=16)
    ap.add_argument("--data-seed", type=int, default=0)
    ap.add_argument("--probe-per-class", type=int, default=2, help="search probe examples per class (default 2)")
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--timed", type=int, default=4, help="examples timed for generation vs shortcut (default 4)")
    ap.add_argument("--device", default="cpu", help="search / predict --classifier / generation device")
    ap.add_argument("--dtype", default=None, help="fp32 | bf16 | fp16 (default: the CLI's for the device)")
    ap.add_argument("--float16", action="store_true", help="also export --float16 and run that graph (size, label "
                    "agreement, CPU seconds per example)")
    ap.add_argument("--tiny", action="store_true", help="tiny widths instead (checks this script in seconds)")
    ap.add_argument("--keep", type=Path, default=None, help="work folder to keep (default: a temporary one)")
    a = ap.parse_args(argv)
    from sn_core.models.config_faithful import BUILDS

    bad = [f for f in a.family if f not in BUILDS]
    if bad:
        print(f"error: unknown family {bad[0]!r}; choose from {sorted(BUILDS)}", file=sys.stderr)
        return 2
    rows = []
    with tempfile.TemporaryDirectory(prefix="sn-real-width-") as tmp:
        work = a.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        for fam in a.family:
            t0 = time.perf_counter()
            row = run_family(fam, a, work)
            row["total_s"] = time.perf_counter() - t0
            rows.append(row)
            print(f"[{fam}] done in {row['total_s']:.0f} s", file=sys.stderr, flush=True)
            if a.keep is None:
                import shutil

                for p in work.glob(f"{fam}-*"):
                    shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
    print_table(rows, a)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
