"""The measured claims of the demo model, as the About page shows them: "the model's answer vs one neuron" on the
unseen-question tasks and on the shifted images, read from the JSON that ``bench/claims.py --json`` writes
(``bench/results/claims-demo.json``; its tables are in docs/results.md). Nothing here measures: every accuracy,
interval and p-value comes from that file."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from sn_core import REPO_DIR

CLAIMS_FILE = REPO_DIR / "bench" / "results" / "claims-demo.json"
_ACC_KEYS = ("accuracy", "ci_low", "ci_high", "n")


def load_claims(path: Path | str | None = None) -> dict:
    """The file at ``path`` (default :data:`CLAIMS_FILE`), checked: ``settings`` (dict), ``unseen`` and
    ``shifted`` (lists of rows with the fields used below). ValueError with the file name and the first missing or
    malformed field."""
    path = Path(CLAIMS_FILE if path is None else path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{path.name}: not found (written by `python bench/claims.py --json {path.name}`)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path.name}: not readable JSON ({e})") from None
    if not isinstance(data, dict) or not isinstance(data.get("settings"), dict):
        raise ValueError(f"{path.name}: no 'settings' object")
    need = {"unseen": ("task", "from", "neuron_id", "neuron", "generated", "constrained", "vs_generated",
                       "vs_constrained"),
            "shifted": ("task", "shifted", "neuron_id", "neuron_original", "neuron_shifted", "generated_original",
                        "generated_shifted", "vs_generated")}
    for part, fields in need.items():
        rows = data.get(part)
        if not isinstance(rows, list):
            raise ValueError(f"{path.name}: '{part}' is not a list")
        for i, row in enumerate(rows):
            missing = [f for f in fields if f not in row] if isinstance(row, dict) else list(fields)
            if missing:
                raise ValueError(f"{path.name}: {part}[{i}] lacks {', '.join(missing)}")
            for f in fields:
                v = row[f]
                if isinstance(v, dict) and not all(isinstance(v.get(k), (int, float)) for k in _ACC_KEYS):
                    raise ValueError(f"{path.name}: {part}[{i}].{f} needs numeric {', '.join(_ACC_KEYS)}")
                if f.startswith("vs_") and not (isinstance(v, list) and len(v) == 2):
                    raise ValueError(f"{path.name}: {part}[{i}].{f} must be [verdict, p]")
    return data


def _acc(prefix: str, rec: dict) -> dict:
    return {f"{prefix}_accuracy": float(rec["accuracy"]), f"{prefix}_ci_low": float(rec["ci_low"]),
            f"{prefix}_ci_high": float(rec["ci_high"])}


def _verdict(v: list) -> str:
    return f"{v[0]} (p = {float(v[1]):.2g})"


def unseen_frame(data: dict) -> pd.DataFrame:
    """One row per unseen-question task: ``condition`` (the task), the neuron's and the generated answer's test
    accuracy with 95% intervals (``neuron_*``, ``base_*``: the columns ``plots_claims.robustness_conditions`` draws),
    the constrained choice's accuracy and both McNemar verdicts."""
    rows = []
    for r in data["unseen"]:
        rows.append({"condition": r["task"], "from": r["from"], "neuron_id": r["neuron_id"],
                     **_acc("neuron", r["neuron"]), **_acc("base", r["generated"]),
                     "constrained_accuracy": float(r["constrained"]["accuracy"]), "n_test": int(r["neuron"]["n"]),
                     "neuron_vs_generated": _verdict(r["vs_generated"]),
                     "neuron_vs_constrained": _verdict(r["vs_constrained"])})
    return pd.DataFrame(rows)


def shifted_frame(data: dict) -> pd.DataFrame:
    """One row per shifted variant: the neuron found on the original task and the generated answer, on the original
    and on the shifted test images (``neuron_*`` / ``base_*`` are the shifted figures), and the verdict there."""
    rows = []
    for r in data["shifted"]:
        rows.append({"condition": r["shifted"], "from": r["task"], "neuron_id": r["neuron_id"],
                     "neuron_original": float(r["neuron_original"]["accuracy"]),
                     "base_original": float(r["generated_original"]["accuracy"]),
                     **_acc("neuron", r["neuron_shifted"]), **_acc("base", r["generated_shifted"]),
                     "n_test": int(r["neuron_shifted"]["n"]), "neuron_vs_generated": _verdict(r["vs_generated"])})
    return pd.DataFrame(rows)


def beats_count(frame: pd.DataFrame, column: str = "neuron_vs_generated") -> tuple[int, int]:
    """(rows whose verdict in ``column`` is "beats", rows)."""
    return int(frame[column].str.startswith("beats").sum()), len(frame)
