"""The neuron search: plan (task, split, store key), run (extraction, scoring, ranking, baselines), the stored
``SearchResult`` and its typed summary, intervals, and multi-process extraction."""
from sn_core.search.run import (ActivationStore, LAYER_TOP, NeuronValues, Plan, Progress, SITE_KINDS, SearchConfig,
    SearchResult, SplitData, SuperNeuronClassifier, Task, TaskError, bl, build_summary, chance_accuracy, compute,
    exit_frontier, extract, layer_rankings, list_searches, load_for, null_control, parse_neuron_id, plan, reopen,
    resolve_task, run_search, score_layers, search_flop_limits, search_key, search_layers, search_uncertainty,
    separation, site_kind, task_prompts, task_spec, top_table)

__all__ = ["ActivationStore", "LAYER_TOP", "NeuronValues", "Plan", "Progress", "SITE_KINDS", "SearchConfig",
           "SearchResult", "SplitData", "SuperNeuronClassifier", "Task", "TaskError", "bl", "build_summary",
           "chance_accuracy", "compute", "exit_frontier", "extract", "layer_rankings", "list_searches", "load_for",
           "null_control", "parse_neuron_id", "plan", "reopen", "resolve_task", "run_search", "score_layers",
           "search_flop_limits", "search_key", "search_layers", "search_uncertainty", "separation", "site_kind",
           "task_prompts", "task_spec", "top_table"]
