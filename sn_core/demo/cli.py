"""Train or evaluate the embedded demo VLM: ``python -m sn_core.demo train | evaluate``.

``train`` builds the demo architecture (``sn_core.demo.model``) and trains it on the bundled tasks
(``sn_core.demo.training``); ``evaluate --card`` measures it and writes its model card (``sn_core.demo.card``).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

from sn_core import DEMO_MODEL_DIR
from sn_core.demo.card import write_model_card
from sn_core.demo.model import DemoConfig, evaluate
from sn_core.demo.training import train


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m sn_core.demo", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train the demo VLM and save it in Hugging Face format")
    t.add_argument("--out", type=Path, default=DEMO_MODEL_DIR)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--steps", type=int, default=3000)
    t.add_argument("--minutes", type=float, default=None, help="stop after this many minutes (checkpointed)")
    t.add_argument("--batch-size", type=int, default=48)
    t.add_argument("--lr", type=float, default=1.5e-3)
    t.add_argument("--n-per-task", type=int, default=4000)
    t.add_argument("--vision-warmup", type=int, default=300)
    t.add_argument("--save-every", type=int, default=250)
    t.add_argument("--threads", type=int, default=None)
    t.add_argument("--device", default="cpu", help="cpu (reference) or cuda")
    t.add_argument("--resume", action="store_true")
    t.add_argument("--tiny", action="store_true", help="a tiny architecture, for tests of this script")
    t.add_argument("--arch", nargs="*", default=[], metavar="FIELD=INT",
                   help="override DemoConfig fields, e.g. text_layers=12 text_hidden=192 (architecture experiments)")
    e = sub.add_parser("evaluate", help="print base-model test accuracy per bundled task")
    e.add_argument("--model", type=Path, default=DEMO_MODEL_DIR)
    e.add_argument("--n", type=int, default=200)
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--json", action="store_true")
    e.add_argument("--card", action="store_true", help="write the measured figures into the model card README.md")
    a = p.parse_args(argv)
    if a.cmd == "train":
        cfg = DemoConfig()
        if a.tiny:
            cfg = DemoConfig(vision_hidden=32, vision_layers=1, vision_heads=2, vision_mlp=64, text_hidden=32,
                             text_layers=2, text_heads=2, text_kv_heads=2, text_mlp=64)
        fields = {f.name for f in dataclasses.fields(DemoConfig)}
        for item in a.arch:
            key, _, value = item.partition("=")
            if key not in fields or not value.lstrip("-").isdigit():
                p.error(f"--arch {item!r}: expected FIELD=INT with FIELD one of {', '.join(sorted(fields))}")
            cfg = dataclasses.replace(cfg, **{key: int(value)})
        train(a.out, cfg, seed=a.seed, steps=a.steps, minutes=a.minutes, batch_size=a.batch_size, lr=a.lr,
              n_per_task=a.n_per_task, vision_warmup=a.vision_warmup, save_every=a.save_every, resume=a.resume,
              threads=a.threads, device=a.device, log=lambda s: print(s, flush=True))
        return 0
    if not (a.model / "config.json").is_file():
        print(f"error: no model at {a.model} (expected config.json); train one with "
              "'python -m sn_core.demo train'", file=sys.stderr)
        return 2
    t0 = time.time()
    res = evaluate(a.model, n=a.n, seed=a.seed, log=(lambda s: None) if a.json else print)
    if a.card:
        print(f"model card written to {write_model_card(a.model, res, a.n, a.seed, (time.time() - t0) / 60)}")
    if a.json:
        print(json.dumps(res, indent=2))
    return 0
