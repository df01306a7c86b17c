"""Plotly figures of the pages: a search's layer maps and frontier (``search_figures``), one neuron
(``neuron``), the robustness, probe-curve and atlas reports (``report_figures``), and the shared style."""
from sn_core.plots.search_figures import (FONT, HEATMAP_SCALE, NAMED_COLORS, PALETTE, REFERENCE_STYLES,
    accuracy_bars, best_per_layer, bin_max, class_color, class_colors, class_histograms, confusion_matrix,
    frontier_chart, latency_bars, layer_heatmap, layer_profile, robustness_bars, rule_caption, rule_guides,
    plain, score_distribution, value_on_histogram)

__all__ = ["FONT", "HEATMAP_SCALE", "NAMED_COLORS", "PALETTE", "REFERENCE_STYLES", "accuracy_bars", "best_per_layer",
           "bin_max", "class_color", "class_colors", "class_histograms", "confusion_matrix", "frontier_chart",
           "latency_bars", "layer_heatmap", "layer_profile", "plain", "robustness_bars", "rule_caption", "rule_guides",
           "score_distribution", "value_on_histogram"]

exit_frontier = frontier_chart  # the former name (it collided with sn_core.scoring.ranking.exit_frontier), one release
