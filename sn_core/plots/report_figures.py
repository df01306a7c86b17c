"""Plotly figures for the robustness report, the probe-size curve and the neuron atlas: pure functions from the
engine's DataFrames to ``go.Figure`` (no Streamlit, no statistics: every accuracy and interval is passed in).
Shares the palette and layout of :mod:`sn_core.plots.search_figures`."""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from sn_core.plots.search_figures import HEATMAP_SCALE, PALETTE, _hline, _layout, plain

NEURON_COLOR, BASE_COLOR = PALETTE[2], PALETTE[5]


def _err(df: pd.DataFrame, acc: str, lo: str, hi: str, color: str) -> dict:
    return dict(type="data", symmetric=False, array=(df[hi] - df[acc]).clip(lower=0),
                arrayminus=(df[acc] - df[lo]).clip(lower=0), color=color, thickness=1.5, width=4)


def robustness_conditions(rows: pd.DataFrame, chance: float | None = None, title: str | None = None) -> go.Figure:
    """Accuracy of the neuron and of the base model per condition of a robustness report (``RobustnessReport.rows``:
    ``condition``, ``neuron_accuracy`` / ``neuron_ci_low`` / ``neuron_ci_high``, the same for ``base_``), with
    their 95% intervals as error bars. Unavailable conditions are left out; a condition without base-model
    figures shows the neuron only. Flagged conditions (``neuron_flag``) are marked in the hover text."""
    need = {"condition", "neuron_accuracy", "neuron_ci_low", "neuron_ci_high"}
    if need - set(rows.columns):
        raise ValueError(f"rows are missing column(s) {sorted(need - set(rows.columns))}")
    df = rows[rows["available"].astype(bool)] if "available" in rows else rows
    df = df.reset_index(drop=True)
    fig = go.Figure()
    series = [("neuron", "neuron (fitted once)", NEURON_COLOR, "circle", -0.12),
              ("base", "base model (generated answer)", BASE_COLOR, "diamond", 0.12)]
    x = np.arange(len(df), dtype=float)
    for prefix, name, color, symbol, dx in series:
        acc, lo, hi = f"{prefix}_accuracy", f"{prefix}_ci_low", f"{prefix}_ci_high"
        if acc not in df:
            continue
        sub = df[pd.to_numeric(df[acc], errors="coerce").notna()]
        if sub.empty:
            continue
        sub = sub.assign(**{c: pd.to_numeric(sub[c], errors="coerce") for c in (acc, lo, hi)})
        flag = sub.get(f"{prefix}_flag")
        notes = ["<br>⚠ " + plain(f) if isinstance(f, str) and f else "" for f in
                 (flag if flag is not None else [None] * len(sub))]
        fig.add_trace(go.Scatter(
            x=x[sub.index] + dx, y=sub[acc], mode="markers", name=name + " (95% CI)", error_y=_err(sub, acc, lo, hi,
                                                                                                 color),
            marker=dict(size=11, color=color, symbol=symbol),
            customdata=np.array(list(zip(map(plain, sub["condition"]), sub[lo], sub[hi], notes)), dtype=object),
            hovertemplate="%{customdata[0]}<br>accuracy %{y:.3f} (95% CI %{customdata[1]:.3f}-%{customdata[2]:.3f})"
                          "%{customdata[3]}<extra>" + name + "</extra>"))
    _hline(fig, chance, "chance")
    kinds = df["kind"].tolist() if "kind" in df else [""] * len(df)
    for i, k in enumerate(kinds):  # grounding controls on a grey band
        if k == "control":
            fig.add_vrect(x0=i - 0.5, x1=i + 0.5, fillcolor="#eeeeee", opacity=0.6, line_width=0, layer="below")
    fig.update_xaxes(tickmode="array", tickvals=x, ticktext=[plain(c) for c in df["condition"]], tickangle=-30,
                     range=[-0.6, len(df) - 0.4])
    fig.update_yaxes(title="accuracy (fraction correct)", range=[0, 1.05])
    _layout(fig, title or "The same neuron under changed prompts and images (grey: grounding controls)", height=480)
    fig.update_layout(margin=dict(t=90))  # room for the title above the legend
    return fig


def probe_size_curve(curve: pd.DataFrame, base_accuracy: float | None = None, chance: float | None = None,
                     title: str | None = None) -> go.Figure:
    """Test accuracy against probe examples per class (``sn_core.reports.probe_curve.probe_size_curve`` rows): every
    split seed as a faint point, the mean over seeds as a line with the min-max spread as a band, and the search's
    own neuron refitted on the same splits as a dashed line."""
    df = curve[curve["note"].isna()] if "note" in curve else curve
    df = df.assign(test_accuracy=pd.to_numeric(df["test_accuracy"], errors="coerce"),
                   search_neuron_test_accuracy=pd.to_numeric(df.get("search_neuron_test_accuracy"),
                                                             errors="coerce"))
    fig = go.Figure()
    if not df.empty:
        g = df.groupby("probe_per_class", sort=True)
        sizes = np.asarray(list(g.groups), dtype=float)
        mean, lo, hi = g["test_accuracy"].mean(), g["test_accuracy"].min(), g["test_accuracy"].max()
        fig.add_trace(go.Scatter(x=np.concatenate([sizes, sizes[::-1]]), y=np.concatenate([hi.values, lo.values[::-1]]),
                                 fill="toself", fillcolor="rgba(0,158,115,0.15)", line=dict(width=0),
                                 name="spread over seeds (min-max)", hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=df["probe_per_class"], y=df["test_accuracy"], mode="markers",
                                 name="one split seed", marker=dict(size=6, color=NEURON_COLOR, opacity=0.45),
                                 customdata=np.stack([df["seed"].astype(str), df["neuron_id"].astype(str)], axis=1),
                                 hovertemplate="%{x} per class, seed %{customdata[0]}<br>%{customdata[1]}<br>"
                                               "test accuracy %{y:.3f}<extra></extra>"))
        fig.add_trace(go.Scatter(x=sizes, y=mean.values, mode="lines+markers", name="selected neuron (mean)",
                                 line=dict(color=NEURON_COLOR, width=2.5), marker=dict(size=9),
                                 hovertemplate="%{x} per class<br>mean test accuracy %{y:.3f}<extra></extra>"))
        if df["search_neuron_test_accuracy"].notna().any():
            sm = g["search_neuron_test_accuracy"].mean()
            fig.add_trace(go.Scatter(x=sizes, y=sm.values, mode="lines+markers", name="the search's neuron, refitted",
                                     line=dict(color=PALETTE[0], width=2, dash="dash"), marker=dict(size=7),
                                     hovertemplate="%{x} per class<br>mean test accuracy %{y:.3f}<extra></extra>"))
    _hline(fig, base_accuracy, "base model")
    _hline(fig, chance, "chance")
    sizes_all = sorted({int(v) for v in df["probe_per_class"]}) if not df.empty else []
    fig.update_xaxes(title="probe examples per class", type="log", tickmode="array", tickvals=sizes_all,
                     ticktext=[str(v) for v in sizes_all])
    fig.update_yaxes(title="test accuracy (fraction correct)", range=[0, 1.05])
    _layout(fig, title or "How many probe examples does the task need?", height=440)
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.18, x=0.0, xanchor="left"),
                      margin=dict(b=110))
    return fig


def atlas_heatmap(matrix: pd.DataFrame, site: str, title: str | None = None) -> go.Figure:
    """Task x layer heatmap of counts (``Atlas.heatmap(site)``): how many neurons of each layer score above the
    task's null control; empty cells are layers that task did not search."""
    z = matrix.to_numpy(dtype=float) if len(matrix) else np.zeros((0, 0))
    text = [["" if not np.isfinite(v) else f"{int(v)}" for v in row] for row in z]
    fig = go.Figure(go.Heatmap(
        z=z, x=[str(c) for c in matrix.columns], y=[plain(t) for t in matrix.index], colorscale=HEATMAP_SCALE,
        text=text, texttemplate="%{text}", colorbar=dict(title="neurons"), hoverongaps=False,
        hovertemplate="%{y}<br>layer %{x}<br>%{z:.0f} neurons above the null control<extra></extra>"))
    fig.update_xaxes(title="layer", type="category")
    fig.update_yaxes(title=None, autorange="reversed", type="category")
    return _layout(fig, title or f"Neurons above the null control, per task and layer ({site})",
                   height=max(220, 90 + 42 * len(matrix)))


__all__ = ["atlas_heatmap", "probe_size_curve", "robustness_conditions"]
