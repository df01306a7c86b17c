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
import re
import signal
import sys
import threading

# The shared pieces and each command live in their own modules; these names stay importable from sn_core.cli.main.
from sn_core.cli.common import (EXIT_USAGE, MAX_LAYER_SPAN, CliError, TqdmProgress, _Parser,  # noqa: F401
                         add_search_options, parse_layers, search_config)
from sn_core.cli.export import add_export_parser, cmd_export
from sn_core.cli.predict import add_predict_parser, cmd_predict, cmd_predict_shortcut_image, cmd_predict_task  # noqa: F401
from sn_core.cli.search import JSON_FIELDS, add_search_parser, cmd_search, print_summary  # noqa: F401


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m sn_core", description="Super Neuron Explorer: find single neurons of a VLM that "
                "classify a VQA answer, and use them as early-exit classifiers.")
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=_Parser)
    add_search_parser(sub)
    add_predict_parser(sub)
    add_export_parser(sub)
    from sn_core.cli.reports import add_report_parsers

    add_report_parsers(sub)  # robustness, probe-curve
    return p


# SearchConfig fields named in its messages -> the flag that sets them (``--site`` sets ``sites``).
_FLAGS = {"sites": "--site", "n_top": "--top"}
_INTERRUPTED = {"search": "interrupted (finished chunks are kept; rerun to resume)",
                "robustness": "interrupted (the search's finished chunks are kept; rerun to resume)",
                "probe-curve": "interrupted (the search's finished chunks are kept; rerun to resume)",
                "export": "interrupted; nothing was written to --out", "predict": "interrupted"}


def _flag_names(msg: str) -> str:
    """``SearchConfig.n_examples must ...`` -> ``--n-examples must ...``: errors speak in the CLI's flags."""
    return re.sub(r"SearchConfig\.(\w+)", lambda m: _FLAGS.get(m.group(1), "--" + m.group(1).replace("_", "-")),
                  str(msg))


def _sigterm(signum, frame):  # a terminated command cleans up as after Ctrl-C (temporary folders, locks)
    raise KeyboardInterrupt


def main(argv=None) -> int:
    """Run one command; SIGTERM is handled as Ctrl-C while it runs (when called from the main thread)."""
    on_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _sigterm) if on_main else None
    try:
        return _main(argv)
    finally:
        if on_main:
            signal.signal(signal.SIGTERM, previous)


def _main(argv=None) -> int:
    from sn_core.classifier.estimator import ArtifactError
    from sn_core.data import ManifestError
    from sn_core.data.images import ImageError
    from sn_core.models import UnknownModelError
    from sn_core.search.run import TaskError
    from sn_core.shortcut.card import ShortcutError
    from sn_core.store.cache import CorruptShardError

    a = None
    try:
        a = build_parser().parse_args(argv)
        if a.cmd == "export":
            return cmd_export(a)
        if a.cmd in ("robustness", "probe-curve"):
            from sn_core.cli.reports import cmd_probe_curve, cmd_robustness

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
        print(f"error: {_flag_names(msg)}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as e:  # a folder where a file was expected, no permission, disk full: one line, not a traceback
        print(f"error: {e.strerror or e}{f': {e.filename}' if e.filename else ''}", file=sys.stderr)
        return EXIT_USAGE
    except MemoryError:
        print("error: out of memory; use fewer examples, layers or a smaller batch size", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"error: {_INTERRUPTED.get(getattr(a, 'cmd', None), 'interrupted')}", file=sys.stderr)
        return 130


__all__ = ["main", "build_parser", "CliError", "JSON_FIELDS", "EXIT_USAGE", "MAX_LAYER_SPAN", "parse_layers",
           "TqdmProgress", "add_search_options", "search_config", "print_summary", "cmd_search", "cmd_predict",
           "cmd_predict_task", "cmd_predict_shortcut_image", "cmd_export"]
