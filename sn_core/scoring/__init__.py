"""Vectorised per-neuron scoring (stumps, nearest class mean), ranking, metrics and interval statistics."""
from sn_core.scoring.neuron_scores import (CHUNK_ELEMENTS, METRICS, NeuronScores, RULES, null_control,
    predict_neurons, rank_neurons, resolve_rule, score_neurons, sorted_values_labels, stump_from_sorted)

__all__ = ["CHUNK_ELEMENTS", "METRICS", "NeuronScores", "RULES", "null_control", "predict_neurons", "rank_neurons",
           "resolve_rule", "score_neurons", "sorted_values_labels", "stump_from_sorted"]
