"""Plotly figure builders for the app: pure functions from arrays / DataFrames to ``go.Figure``.

No Streamlit here (``sn_core`` never imports it) and no scoring: every number drawn is computed by the engine and
passed in. The only arithmetic is for display (binning a wide layer to its per-bin maximum, histogram counts,
confusion-matrix counts from given predictions).

Colours: the Okabe-Ito palette (distinguishable with the common colour-vision deficiencies) for classes and
methods; the perceptually uniform ``Cividis`` scale for accuracy heatmaps. Accuracies are fractions in [0, 1] and
are labelled as such.

The Neuron inspector's figures are in ``sn_core.plots.neuron`` and the shared style in ``sn_core.plots.style``;
both are re-exported here, so pages call ``plots.<name>`` for every figure.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

# The shared style and the Neuron inspector's figures live in their own modules; every name stays importable here.
from sn_core.plots.neuron import (class_histograms, confusion_matrix, rule_caption, rule_guides,  # noqa: F401
                           value_on_histogram)
from sn_core.plots.style import (FONT, HEATMAP_SCALE, NAMED_COLORS, PALETTE, REFERENCE_STYLES, _edges, _hline,  # noqa: F401
                          _layout, class_color, class_colors, plain)


# ---------------------------------------------------------------------------------------------------- layer map
def bin_max(scores: np.ndarray, max_bins: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """Shrink a wide ``[n_layers, width]`` score matrix to at most ``max_bins`` columns, keeping each bin's maximum.

    Returns ``(binned [n_layers, n_bins], starts [n_bins])`` where ``starts[j]`` is the first neuron index of bin
    ``j`` (bins are contiguous and as equal as possible). NaN (unscored) entries are ignored; an all-NaN bin stays
    NaN. With ``width <= max_bins`` the matrix is returned unchanged (one neuron per bin).
    """
    scores = np.asarray(scores, dtype=float)
    if scores.ndim != 2:
        raise ValueError(f"scores must be 2-D [n_layers, width], got shape {scores.shape}")
    if max_bins < 1:
        raise ValueError(f"max_bins must be at least 1, got {max_bins}")
    n_layers, width = scores.shape
    if width <= max_bins:
        return scores.copy(), np.arange(width)
    starts = np.linspace(0, width, max_bins + 1).astype(int)[:-1]  # [n_bins]
    filled = np.where(np.isnan(scores), -np.inf, scores)  # [n_layers, width]
    binned = np.maximum.reduceat(filled, starts, axis=1)  # [n_layers, n_bins]
    binned[np.isneginf(binned)] = np.nan
    return binned, starts


def layer_heatmap(scores: np.ndarray, layers: Sequence[int], site: str, max_bins: int = 128,
                  chance: float | None = None, metric: str = "probe accuracy",
                  title: str | None = None) -> go.Figure:
    """Layer x neuron heatmap of probe scores. Wide layers are binned (colour = best neuron in the bin)."""
    binned, starts = bin_max(scores, max_bins)
    width = np.asarray(scores).shape[1]
    ends = np.append(starts[1:], width) - 1  # [n_bins] last neuron of each bin
    per_bin = binned.shape[1] < width
    ranges = np.array([f"{s}" if s == e else f"{s}-{e}" for s, e in zip(starts, ends)])
    custom = np.tile(ranges, (len(layers), 1))  # [n_layers, n_bins]
    what = "best in bin" if per_bin else "neuron"
    fig = go.Figure(go.Heatmap(
        z=binned, x=starts, y=[str(L) for L in layers], customdata=custom, colorscale=HEATMAP_SCALE,
        zmin=chance if chance is not None else np.nanmin(binned), zmax=1.0, hoverinfo="skip",
        colorbar=dict(title=dict(text=metric, side="right"))))
    # Invisible markers on the cell centres carry hover and click selection (Streamlit selects points of
    # scatter traces; heatmap cells are not selectable).
    gx, gy = np.meshgrid(starts, [str(L) for L in layers])  # [n_layers, n_bins] each
    fig.add_trace(go.Scatter(x=gx.ravel(), y=gy.ravel(), mode="markers", showlegend=False, name="cells",
                             marker=dict(size=max(4, min(14, 900 // max(len(starts), 1))), opacity=0,
                                         color="#000000"),
                             customdata=[[r, float(v)] for r, v in zip(custom.ravel(), binned.ravel())],
                             hovertemplate="layer %{y}<br>neuron(s) %{customdata[0]}<br>" + f"{metric} ({what})"
                                           + ": %{customdata[1]:.3f}<extra></extra>"))
    xlab = f"neuron index ({binned.shape[1]} bins of ~{width / binned.shape[1]:.0f}, max per bin)" if per_bin \
        else "neuron index"
    fig.update_xaxes(title=xlab)
    fig.update_yaxes(title="layer", type="category", autorange="reversed")
    return _layout(fig, title or f"{metric[:1].upper() + metric[1:]} of every neuron ({site} site)",
                   height=max(260, 60 + 34 * len(layers)))


def layer_profile(scores_row: np.ndarray, layer: int, site: str, highlight: int | None = None,
                  chance: float | None = None, metric: str = "probe accuracy") -> go.Figure:
    """Drill-down into one layer: every neuron's probe score, the selected neuron marked."""
    row = np.asarray(scores_row, dtype=float)
    idx = np.arange(len(row))
    fig = go.Figure(go.Scattergl(x=idx, y=row, mode="markers", marker=dict(size=4, color=PALETTE[0]),
                                 name="neuron", hovertemplate="neuron %{x}<br>" + metric + ": %{y:.3f}<extra></extra>"))
    if highlight is not None and 0 <= highlight < len(row):
        fig.add_trace(go.Scatter(x=[highlight], y=[row[highlight]], mode="markers", name=f"neuron {highlight}",
                                 marker=dict(size=13, color=PALETTE[5], symbol="diamond", line=dict(width=1))))
    if chance is not None:
        _hline(fig, chance, "chance")
    fig.update_xaxes(title="neuron index")
    fig.update_yaxes(title=metric, range=[0, 1.02])
    return _layout(fig, f"Layer {layer}: {metric} of each of its {len(row)} neurons ({site})", height=340)


def best_per_layer(table: pd.DataFrame, base_accuracy: float | None = None, null_control: float | None = None,
                   chance: float | None = None, title: str | None = None) -> go.Figure:
    """Per-layer best neuron: its probe score and its held-out test accuracy, with reference lines.

    ``table`` has a ``layer`` column and any of ``probe_score`` / ``test_accuracy`` (one row per layer); with
    ``test_ci_low`` / ``test_ci_high`` columns the test accuracy gets its interval as error bars.
    """
    if "layer" not in table:
        raise ValueError(f"table needs a 'layer' column, has {list(table.columns)}")
    fig = go.Figure()
    series = [("probe_score", "best probe score (selection split)", PALETTE[0], "circle"),
              ("test_accuracy", "its test accuracy (held out)", PALETTE[2], "square")]
    for col, name, color, symbol in series:
        if col in table:
            err = None
            if col == "test_accuracy" and {"test_ci_low", "test_ci_high"} <= set(table.columns):
                err = dict(type="data", symmetric=False, array=table["test_ci_high"] - table[col],
                           arrayminus=table[col] - table["test_ci_low"], color=color, thickness=1.2)
                name += ", 95% CI"
            fig.add_trace(go.Scatter(x=table["layer"], y=table[col], mode="lines+markers", name=name, error_y=err,
                                     line=dict(color=color, width=2.5), marker=dict(symbol=symbol, size=8),
                                     hovertemplate="layer %{x}<br>%{y:.3f}<extra>" + name + "</extra>"))
    _hline(fig, base_accuracy, "base model")
    _hline(fig, null_control, "null control")
    _hline(fig, chance, "chance")
    fig.update_xaxes(title="layer", dtick=1)
    fig.update_yaxes(title="accuracy (fraction correct)", range=[0, 1.02])
    return _layout(fig, title or "Best single neuron per layer", height=380)


def frontier_chart(frontier: pd.DataFrame, measured: Mapping[int, float] | None = None,
                  base_accuracy: float | None = None, chance: float | None = None,
                  title: str | None = None) -> go.Figure:
    """The exit-layer frontier (``SearchResult.frontier()``): per exit layer, the test accuracy (95% interval) of
    the best neuron up to that layer against the FLOP limit of its exit, the recommended shortcut ringed; measured
    speed-ups (``{exit layer: x}``) drawn where they were measured. One point per distinct neuron; its
    ``customdata`` holds (neuron id, exit layer) for click handling."""
    df = frontier.drop_duplicates("neuron_id").reset_index(drop=True)
    fig = go.Figure()
    err = dict(type="data", symmetric=False, array=df["test_ci_high"] - df["test_accuracy"],
               arrayminus=df["test_accuracy"] - df["test_ci_low"], color=PALETTE[2])
    fig.add_trace(go.Scatter(
        x=df["flop_limit"], y=df["test_accuracy"], mode="markers+text", error_y=err, name="test accuracy (95% CI)",
        text=[f"L{int(v)}" for v in df["layer"]], textposition="top center",
        marker=dict(size=11, color=PALETTE[2], symbol="circle"),
        customdata=np.stack([df["neuron_id"], df["layer"]], axis=1),
        hovertemplate="%{customdata[0]}<br>exit after layer %{customdata[1]}<br>FLOP limit %{x:.1f}x"
                      "<br>test accuracy %{y:.3f}<extra></extra>"))
    fig.add_trace(go.Scatter(x=df["flop_limit"], y=df["probe_accuracy"], mode="markers", name="probe accuracy",
                             marker=dict(size=8, color=PALETTE[0], symbol="diamond-open"), hoverinfo="skip"))
    rec = df[df["recommended"].astype(bool)]
    if len(rec):
        fig.add_trace(go.Scatter(x=rec["flop_limit"], y=rec["test_accuracy"], mode="markers",
                                 name="recommended shortcut", hoverinfo="skip",
                                 marker=dict(size=22, color="rgba(0,0,0,0)", line=dict(color="#000000", width=2.5))))
    if measured:
        pts = [(float(df.loc[df["layer"] == L, "flop_limit"].iloc[0]), float(x)) for L, x in measured.items()
               if (df["layer"] == L).any()]
        if pts:
            fig.add_trace(go.Scatter(
                x=[p[1] for p in pts], y=[float(df.loc[df["flop_limit"] == p[0], "test_accuracy"].iloc[0])
                                           for p in pts], mode="markers", name="measured speed-up (this server)",
                marker=dict(size=10, color=PALETTE[5], symbol="x"),
                hovertemplate="measured %{x:.1f}x<extra></extra>"))
    _hline(fig, base_accuracy, "base model")
    _hline(fig, chance, "chance")
    fig.update_xaxes(title="speed-up limit of the exit (FLOPs of full generation / FLOPs of the early exit)",
                     type="log")
    fig.update_yaxes(title="accuracy (fraction correct)", range=[0, 1.05])
    return _layout(fig, title or "Exit-layer frontier: accuracy against speed", height=400)


# ------------------------------------------------------------------------------------------------------ compare
def accuracy_bars(table: pd.DataFrame, chance: float | None = None, title: str | None = None) -> go.Figure:
    """Held-out accuracy per method. ``table`` has ``method`` and ``test_accuracy`` columns (fractions)."""
    missing = {"method", "test_accuracy"} - set(table.columns)
    if missing:
        raise ValueError(f"table is missing column(s) {sorted(missing)}")
    fig = go.Figure(go.Bar(x=[plain(m) for m in table["method"]], y=table["test_accuracy"], name="test accuracy", showlegend=False,
                           marker=dict(color=[class_color(i) for i in range(len(table))]),
                           text=[f"{v:.2f}" if pd.notna(v) else "n/a" for v in table["test_accuracy"]],
                           textposition="outside",
                           hovertemplate="%{x}<br>test accuracy %{y:.3f}<extra></extra>"))
    _hline(fig, chance, "chance")
    fig.update_yaxes(title="test accuracy (fraction correct)", range=[0, 1.12])
    fig.update_xaxes(title=None)
    return _layout(fig, title or "Accuracy on the held-out test split", height=380, showlegend=chance is not None)


def latency_bars(table: pd.DataFrame, title: str | None = None) -> go.Figure:
    """Per-example latency (milliseconds) of the full model vs the early-exit path, with the speedup annotated.

    ``table`` has ``path`` and ``ms_per_example`` columns; an optional ``batch_size`` column groups the bars.
    """
    missing = {"path", "ms_per_example"} - set(table.columns)
    if missing:
        raise ValueError(f"table is missing column(s) {sorted(missing)}")
    fig = go.Figure()
    groups = table["batch_size"].astype(str) if "batch_size" in table else pd.Series(["1"] * len(table))
    for i, path in enumerate(dict.fromkeys(table["path"])):
        sub = table[table["path"] == path]
        fig.add_trace(go.Bar(x=[f"batch {g}" for g in groups[sub.index]], y=sub["ms_per_example"], name=path,
                             marker=dict(color=class_color(i)), text=[f"{v:.1f} ms" for v in sub["ms_per_example"]],
                             textposition="outside", hovertemplate="%{x}<br>%{y:.2f} ms per example<extra>"
                                                                   + str(path) + "</extra>"))
    fig.update_layout(barmode="group")
    fig.update_yaxes(title="latency per example (ms, lower is better)", rangemode="tozero")
    return _layout(fig, title or "Latency: full generation vs early exit", height=380)


def robustness_bars(table: pd.DataFrame, title: str | None = None) -> go.Figure:
    """Test accuracy of the same chosen neuron(s) under the original and the reworded prompt.

    ``table`` has ``prompt`` (e.g. "original", "reworded"), ``method`` and ``test_accuracy`` columns.
    """
    missing = {"prompt", "method", "test_accuracy"} - set(table.columns)
    if missing:
        raise ValueError(f"table is missing column(s) {sorted(missing)}")
    fig = go.Figure()
    for i, prompt in enumerate(dict.fromkeys(table["prompt"])):
        sub = table[table["prompt"] == prompt]
        fig.add_trace(go.Bar(x=[plain(m) for m in sub["method"]], y=sub["test_accuracy"], name=plain(prompt),
                             marker=dict(color=class_color(i)), text=[f"{v:.2f}" for v in sub["test_accuracy"]],
                             textposition="outside"))
    fig.update_layout(barmode="group")
    fig.update_yaxes(title="test accuracy (fraction correct)", range=[0, 1.12])
    return _layout(fig, title or "Does the neuron survive a reworded prompt?", height=380)


# -------------------------------------------------------------------------------------------------------- about
def score_distribution(scores: np.ndarray, null_scores: np.ndarray | None = None, chance: float | None = None,
                       bins: int = 40, step: float | None = None, title: str | None = None) -> go.Figure:
    """Histogram of all neurons' probe scores (real labels), optionally beside the same with shuffled labels.

    It shows why the null control matters: with many neurons, some reach high scores by chance alone. ``step``
    (e.g. ``1 / n_probe``: accuracies on n examples are multiples of it) centres one bin on each possible value.
    """
    s = np.asarray(scores, dtype=float).ravel()
    s = s[np.isfinite(s)]
    parts = [s] + ([np.asarray(null_scores, dtype=float).ravel()] if null_scores is not None else [])
    if step:
        lo, hi = min(float(np.min(p)) for p in parts), max(float(np.max(p)) for p in parts)
        edges = np.arange(lo - step / 2, hi + step, step)
    else:
        edges = _edges(parts, bins)
    fig = go.Figure()
    fig.add_trace(go.Histogram(x=s, xbins=dict(start=edges[0], end=edges[-1], size=edges[1] - edges[0]),
                               name="true labels", marker=dict(color=PALETTE[0]), opacity=0.7))
    if null_scores is not None:
        fig.add_trace(go.Histogram(x=parts[1], xbins=dict(start=edges[0], end=edges[-1], size=edges[1] - edges[0]),
                                   name="shuffled labels", marker=dict(color="#7f7f7f"), opacity=0.6))
    if chance is not None:
        fig.add_vline(x=chance, line=dict(color="#b0b0b0", dash="dashdot"), annotation_text="chance")
    fig.update_layout(barmode="overlay")
    fig.update_xaxes(title="probe accuracy of one neuron")
    fig.update_yaxes(title="number of neurons (log scale)", type="log", dtick=1)
    return _layout(fig, title, height=340)
