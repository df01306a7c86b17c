"""Command line: ``python -m sn_core search ...`` and ``python -m sn_core predict ...``.

``export`` writes a standalone shortcut (one ONNX graph, processor files, a card; docs/shortcut.md); ``predict
--task`` evaluates a classifier or a shortcut on many examples. ``search`` runs extraction + search + baselines and prints a readable summary (progress bars on stderr); with
``--json`` it prints exactly one JSON object on stdout. ``predict`` answers one image with a saved classifier by
early exit and prints the label and the time taken. ``robustness`` and ``probe-curve`` (``sn_core/cli_reports.py``)
take the options of ``search`` and report on its (cached) result. Errors print one line ``error: ...`` on stderr
and exit 2. Each command is in its own module (``cli_search``, ``cli_predict``, ``cli_export``, ``cli_reports``);
what they share is in ``cli_common``; this module builds the parser and dispatches.
"""
from __future__ import annotations

import argparse  # noqa: F401  (build_parser's return annotation)
import sys

# The shared pieces and each command live in their own modules; these names stay importable from sn_core.cli.
from .cli_common import (EXIT_USAGE, MAX_LAYER_SPAN, CliError, TqdmProgress, _Parser,  # noqa: F401
                         add_search_options, parse_layers, search_config)
from .cli_export import add_export_parser, cmd_export
from .cli_predict import add_predict_parser, cmd_predict, cmd_predict_shortcut_image, cmd_predict_task  # noqa: F401
from .cli_search import JSON_FIELDS, add_search_parser, cmd_search, print_summary  # noqa: F401


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m sn_core", description="Super Neuron Explorer: find single neurons of a VLM that "
                "classify a VQA answer, and use them as early-exit classifiers.")
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=_Parser)
    add_search_parser(sub)
    add_predict_parser(sub)
    add_export_parser(sub)
    from .cli_reports import add_report_parsers

    add_report_parsers(sub)  # robustness, probe-curve
    return p


def main(argv=None) -> int:
    from .classifier import ArtifactError
    from .data import ManifestError
    from .images import ImageError
    from .models import UnknownModelError
    from .search import TaskError
    from .shortcut.card import ShortcutError
    from .store import CorruptShardError

    try:
        a = build_parser().parse_args(argv)
        if a.cmd == "export":
            return cmd_export(a)
        if a.cmd in ("robustness", "probe-curve"):
            from .cli_reports import cmd_probe_curve, cmd_robustness

            return cmd_robustness(a) if a.cmd == "robustness" else cmd_probe_curve(a)
        return cmd_search(a) if a.cmd == "search" else cmd_predict(a)
    except CliError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except (UnknownModelError, TaskError, ManifestError, ImageError, ArtifactError, CorruptShardError,
            ShortcutError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except (ValueError, KeyError, FileNotFoundError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"error: {msg}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as e:  # a folder where a file was expected, no permission, disk full: one line, not a traceback
        print(f"error: {e.strerror or e}{f': {e.filename}' if e.filename else ''}", file=sys.stderr)
        return EXIT_USAGE
    except MemoryError:
        print("error: out of memory; use fewer examples, layers or a smaller batch size", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("error: interrupted (finished chunks are kept; rerun to resume)", file=sys.stderr)
        return 130


__all__ = ["main", "build_parser", "CliError", "JSON_FIELDS", "EXIT_USAGE", "MAX_LAYER_SPAN", "parse_layers",
           "TqdmProgress", "add_search_options", "search_config", "print_summary", "cmd_search", "cmd_predict",
           "cmd_predict_task", "cmd_predict_shortcut_image", "cmd_export"]
