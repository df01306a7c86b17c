"""CLI ``export``: write a standalone shortcut (one ONNX graph, processor files, a card; docs/shortcut.md) from a
classifier file or a finished search."""
from __future__ import annotations

import json
import sys

from sn_core.cli.common import CliError


def add_export_parser(sub) -> None:
    """Register ``export`` on the CLI's subparsers."""
    x = sub.add_parser("export", help="write a standalone shortcut: one ONNX graph + processor files + card")
    xs = x.add_mutually_exclusive_group(required=True)
    xs.add_argument("--classifier", help="classifier JSON written by search --save-shortcut-classifier (or "
                    "--save-classifier)")
    xs.add_argument("--search", metavar="KEY", help="a finished search's key (search --json prints it)")
    x.add_argument("--neuron", nargs="+", default=None,
                   help="with --search: neuron id(s) (default: the search's recommended shortcut)")
    x.add_argument("--out", required=True, help="new folder to write (must not exist, or be empty)")
    x.add_argument("--model", default=None, help="override the model the classifier names")
    x.add_argument("--cache-dir", default=None, help="store root of --search")
    x.add_argument("--no-refit-test", action="store_true",
                   help="a bf16/fp16 classifier is re-fitted on float32 values of its probe examples; skip measuring "
                   "the re-fitted rule on the test split (saves one pass over it)")
    x.add_argument("--external-data", choices=("auto", "yes", "no"), default="auto",
                   help="weights in shortcut.onnx.data beside the graph (auto: above 1 GiB of weights)")
    x.add_argument("--float16", action="store_true",
                   help="write a float16 graph (half the weights' bytes, for onnxruntime on a GPU; the rule is the "
                   "float32 fit, and the card records how far float16 values and labels move, measured on the probe "
                   "examples)")
    x.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def _x(v) -> str:
    return "not counted" if v is None else f"{v:.1f}x"


def _x3(v) -> str:
    return "not measured" if v is None else f"{v:.3f}"


def cmd_export(a) -> int:
    from pathlib import Path

    from sn_core.shortcut import export_shortcut

    if a.neuron and not a.search:
        raise CliError("--neuron applies to --search only (a classifier file names its own neurons)")
    out = Path(a.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise CliError(f"--out {a.out!r} already exists and is not an empty folder; choose a new folder")
    if not out.parent.is_dir():
        raise CliError(f"--out {a.out!r}: folder {str(out.parent)!r} does not exist")
    test_acc = None
    opts = {"refit_test": not a.no_refit_test,
            "external_data": {"auto": None, "yes": True, "no": False}[a.external_data], "float16": a.float16}
    if a.search:
        from sn_core.search.run import SearchResult

        res = SearchResult.load(a.search, root=a.cache_dir)
        default = [res.summary.shortcut_neuron_id] if res.summary.shortcut_neuron_id is not None else None
        clf = res.classifier(a.neuron or default)  # (a search without a frontier: its top-k)
        test_acc = res.test_accuracy(list(clf.neurons_))
        path = export_shortcut(clf, out, model=a.model, test_accuracy=test_acc, search_key=a.search,
                               root=a.cache_dir, **opts)
    else:
        path = export_shortcut(a.classifier, out, model=a.model, root=a.cache_dir, **opts)
    from sn_core.shortcut import read_card

    card = read_card(path)
    doc = {"out": str(path), "model_id": card["source_model"]["model_id"], "family": card["source_model"]["family"],
           "neurons": [n["id"] for n in card["neurons"]], "exit_layer": card["exit_layer"],
           "labels": card["labels"], "test_accuracy": card["accuracy"]["test"],
           "flop_limit": card["flops"]["flop_limit"], "onnx_opset": card["onnx"]["opset"],
           "graph_sha256": card["onnx"]["sha256"], "dtype": card["onnx"].get("dtype", "float32"),
           "float16": card.get("float16"),
           "external_data": [e["file"] for e in card["onnx"].get("external_data") or []],
           "refit": None if not card.get("refit") else {
               "from_dtype": card["refit"]["from_dtype"],
               "original_test_accuracy": card["refit"]["original"]["test_accuracy"],
               "float32_probe_accuracy": card["refit"]["float32"]["probe_accuracy"],
               "float32_test_accuracy": card["refit"]["float32"]["test_accuracy"]}}
    if a.json:
        sys.stdout.write(json.dumps(doc) + "\n")
    else:
        print(f"shortcut written to {path}: {', '.join(doc['neurons'])} (exit after layer {doc['exit_layer']}, "
              f"FLOP limit {_x(doc['flop_limit'])}), graph sha256 {doc['graph_sha256'][:16]}...")
        f16 = doc["float16"]
        if f16:
            print(f"float16 graph: labels equal to the float32 graph's on {f16['examples'] - f16['labels_changed']} of "
                  f"{f16['examples']} {f16['source']}; largest value change "
                  f"{max(f16['max_rel_value_diff']):.2%} of the neuron's largest |value|")
        if doc["refit"]:
            r = doc["refit"]
            print(f"rule re-fitted on float32 values (searched in {r['from_dtype']}): probe accuracy "
                  f"{r['float32_probe_accuracy']:.3f}, test accuracy {_x3(r['float32_test_accuracy'])} (the "
                  f"{r['from_dtype']} fit: {_x3(r['original_test_accuracy'])})")
    return 0
