"""Figures of the Neuron inspector: one neuron's per-class histograms with its fitted rule drawn on them, the rule in
words, a confusion matrix, and where a new example's value falls. Pure functions to ``go.Figure``, re-exported by
``sn_core.plots.search_figures``."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from sn_core.plots.style import _edges, _layout, class_colors, plain


def rule_guides(params: Mapping, classes: Sequence[str]) -> dict:
    """The lines that show a neuron's fitted rule on :func:`class_histograms`, from ``SearchResult.neuron_params``:
    ``{"threshold": ...}`` for a stump, ``{"class_thresholds": [...]}`` (in ``classes`` order) for one-vs-rest
    stumps, ``{"class_means": [...]}`` for the nearest-mean rule."""
    rule = params.get("rule")
    if rule == "stump" and params.get("threshold") is not None:
        return {"threshold": float(params["threshold"])}
    if rule == "ovr_stump" and params.get("ovr_thresholds"):
        return {"class_thresholds": [params["ovr_thresholds"].get(str(c)) for c in classes]}
    means = params.get("class_means") or {}
    return {"class_means": [means.get(str(c)) for c in classes]}


def rule_caption(params: Mapping) -> str:
    """One sentence saying how the neuron's rule decides and what the lines of :func:`rule_guides` are."""
    rule, classes = params.get("rule"), list(params.get("classes") or [])
    if rule == "stump" and params.get("threshold") is not None and len(classes) == 2:
        above = classes[1] if (params.get("polarity") or 1) > 0 else classes[0]
        below = classes[0] if above == classes[1] else classes[1]
        return (f"Threshold rule: above {params['threshold']:.4g} (dashed line) it answers {above!r}, below it "
                f"{below!r}; fitted on the probe split.")
    if rule == "ovr_stump":
        return ("One-vs-rest rule: one threshold per class (dashed lines in the class colours); the neuron answers "
                "the class whose threshold it clears by the largest signed margin; fitted on the probe split.")
    return ("Nearest-mean rule: dotted lines are the class means on the probe split; the neuron answers the class "
            "whose mean is nearest.")


def class_histograms(splits: Mapping[str, tuple[np.ndarray, Sequence[str]]], classes: Sequence[str],
                     threshold: float | None = None, class_means: Sequence[float] | None = None,
                     bins: int = 30, title: str | None = None, value_label: str = "activation",
                     class_thresholds: Sequence[float | None] | None = None) -> go.Figure:
    """Overlaid per-class histograms of one neuron's value, one panel per split (e.g. probe, test).

    ``splits`` maps a split name to ``(values [n], labels [n])``. The stump threshold (binary, dashed black), the
    class means (nearest-mean rule, dotted, class colours) or the one-vs-rest thresholds (dashed, class colours)
    are drawn as vertical lines (:func:`rule_guides` picks them); shared bin edges make panels comparable.
    """
    names = list(splits)
    colors = class_colors(classes)
    edges = _edges([np.asarray(v) for v, _ in splits.values()], bins)
    centers = (edges[:-1] + edges[1:]) / 2  # [bins]
    fig = make_subplots(rows=1, cols=len(names), shared_yaxes=False, horizontal_spacing=0.08,
                        subplot_titles=[f"{n} split (n={len(splits[n][0])})" for n in names])
    for j, name in enumerate(names, start=1):
        values, labels = splits[name]
        values, labels = np.asarray(values, dtype=float), np.asarray([str(x) for x in labels])
        for i, cls in enumerate(classes):
            counts, _ = np.histogram(values[labels == cls], bins=edges)
            fig.add_trace(go.Bar(x=centers, y=counts, width=np.diff(edges), name=plain(cls), legendgroup=str(cls),
                                 showlegend=j == 1, marker=dict(color=colors[i], opacity=0.65,
                                                                line=dict(width=0)),
                                 hovertemplate=f"class {plain(cls)}<br>value %{{x:.3g}}<br>count %{{y}}<extra></extra>"),
                          row=1, col=j)
        if threshold is not None and np.isfinite(threshold):
            label = dict(annotation_text="threshold", annotation_position="top right") if j == 1 else {}
            # (an annotation position without text makes Plotly draw its placeholder, "new text")
            fig.add_vline(x=float(threshold), line=dict(color="#000000", width=2, dash="dash"), row=1, col=j, **label)
        if class_means is not None:
            for i, m in enumerate(class_means):
                if m is not None and np.isfinite(m):
                    fig.add_vline(x=float(m), line=dict(color=colors[i], width=2, dash="dot"), row=1, col=j)
        if class_thresholds is not None:
            for i, t in enumerate(class_thresholds):
                if t is not None and np.isfinite(t):
                    fig.add_vline(x=float(t), line=dict(color=colors[i], width=2, dash="dash"), row=1, col=j)
        fig.update_xaxes(title_text=value_label, row=1, col=j)
        fig.update_yaxes(title_text="examples" if j == 1 else None, row=1, col=j)
    fig.update_layout(barmode="overlay", bargap=0)
    _layout(fig, title, height=380)
    fig.update_layout(legend=dict(orientation="v", x=1.01, xanchor="left", y=1.0, yanchor="top",
                                  title=dict(text="true class")))
    return fig


def confusion_matrix(y_true: Sequence[str], y_pred: Sequence[str], classes: Sequence[str],
                     title: str | None = None) -> go.Figure:
    """Counts of (true class, predicted class), rows = truth; the diagonal is correct. Predictions outside
    ``classes`` (e.g. a generated answer that names no label) are counted in an extra "other" column."""
    classes = [str(c) for c in classes]
    y_true = [str(v) for v in y_true]
    y_pred = [str(v) for v in y_pred]
    cols = classes + (["other"] if any(p not in classes for p in y_pred) else [])
    pos = {c: i for i, c in enumerate(cols)}
    m = np.zeros((len(classes), len(cols)), dtype=int)  # [n_classes, n_cols]
    for t, p in zip(y_true, y_pred):
        if t in pos:
            m[pos[t], pos.get(p, len(cols) - 1)] += 1
    fig = go.Figure(go.Heatmap(z=m, x=[plain(c) for c in cols], y=[plain(c) for c in classes], colorscale="Blues", showscale=False, text=m,
                               texttemplate="%{text}", textfont=dict(size=14),
                               hovertemplate="true %{y}<br>predicted %{x}<br>%{z} examples<extra></extra>"))
    fig.update_xaxes(title="predicted", type="category", side="bottom")
    fig.update_yaxes(title="true", type="category", autorange="reversed")
    side = 90 + 46 * len(classes)
    return _layout(fig, title, height=max(260, side), width=max(320, 140 + 56 * len(cols)))


def value_on_histogram(values: np.ndarray, labels: Sequence[str], classes: Sequence[str], value: float,
                       threshold: float | None = None, class_means: Sequence[float] | None = None,
                       bins: int = 30, title: str | None = None,
                       class_thresholds: Sequence[float | None] | None = None) -> go.Figure:
    """Where one new example's neuron value falls against the probe split's per-class histograms."""
    fig = class_histograms({"probe": (values, labels)}, classes, threshold, class_means, bins, title,
                           class_thresholds=class_thresholds)
    fig.add_vline(x=float(value), line=dict(color="#000000", width=4),
                  annotation_text=f"this image: {value:.3g}", annotation_position="top right")
    return fig
