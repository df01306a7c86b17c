"""The command line: ``python -m sn_core search | predict | export | robustness | probe-curve``; one module per
command and ``common`` for what they share."""
from sn_core.cli.main import (CliError, EXIT_USAGE, JSON_FIELDS, MAX_LAYER_SPAN, TqdmProgress, add_export_parser,
    add_predict_parser, add_search_options, add_search_parser, build_parser, cmd_export, cmd_predict,
    cmd_predict_shortcut_image, cmd_predict_task, cmd_search, main, parse_layers, print_summary, search_config)

__all__ = ["CliError", "EXIT_USAGE", "JSON_FIELDS", "MAX_LAYER_SPAN", "TqdmProgress", "add_export_parser",
           "add_predict_parser", "add_search_options", "add_search_parser", "build_parser", "cmd_export",
           "cmd_predict", "cmd_predict_shortcut_image", "cmd_predict_task", "cmd_search", "main", "parse_layers",
           "print_summary", "search_config"]
