"""The figures' shared style: the Okabe-Ito palette, class colours, reference-line styles, the common layout and
histogram bin edges. ``sn_core.plots.search_figures`` re-exports every name."""
from __future__ import annotations

import html
from typing import Sequence

import numpy as np
import plotly.graph_objects as go

# Okabe & Ito (2008), "Color Universal Design"; black last.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
HEATMAP_SCALE = "Cividis"
REFERENCE_STYLES = {  # reference lines on accuracy plots: colour and dash, shared across figures
    "base model": ("#D55E00", "dash"),
    "null control": ("#7f7f7f", "dot"),
    "chance": ("#b0b0b0", "dashdot"),
}
FONT = dict(family="Inter, Source Sans Pro, Arial, sans-serif", size=13)


# When every label of a task names a colour, each class is drawn in (a colour-blind-safe shade of) its own colour:
# a "red" class drawn green would mislead. Other label sets use the palette in label order.
NAMED_COLORS = {"red": "#D55E00", "green": "#009E73", "blue": "#0072B2", "yellow": "#F0E442", "orange": "#E69F00",
                "purple": "#7B3F9E", "pink": "#CC79A7", "black": "#000000", "white": "#BBBBBB", "gray": "#7F7F7F",
                "grey": "#7F7F7F", "brown": "#8C5A2B", "cyan": "#56B4E9"}


def plain(text) -> str:
    """``text`` as plain figure text: Plotly renders a few HTML tags (``<a href>``, ``<b>``, ``<br>``, ...) in
    titles, tick labels, legends and hover text, so every label, task name, condition or neuron id that comes from a
    user enters a figure through this (``<``, ``>`` and ``&`` as entities, which Plotly shows as the characters)."""
    return html.escape(str(text), quote=False)


def class_color(i: int) -> str:
    """The colour of the i-th class (cycled through the palette)."""
    return PALETTE[i % len(PALETTE)]


def class_colors(classes: Sequence[str]) -> list[str]:
    """One colour per class: the named colour when every label is a colour word, else the palette in order."""
    names = [str(c).strip().lower() for c in classes]
    if names and all(n in NAMED_COLORS for n in names) and len(set(names)) == len(names):
        return [NAMED_COLORS[n] for n in names]
    return [class_color(i) for i in range(len(classes))]


def _layout(fig: go.Figure, title: str | None, height: int = 420, **kw) -> go.Figure:
    fig.update_layout(title=dict(text=title, x=0.0, xanchor="left") if title else None, height=height,
                      font=FONT, margin=dict(l=60, r=20, t=60 if title else 30, b=50), template="plotly_white",
                      legend=dict(orientation="h", yanchor="bottom", y=1.02, x=1.0, xanchor="right"), **kw)
    return fig


def _hline(fig: go.Figure, y: float | None, name: str, **kw) -> None:
    """A labelled horizontal reference line that also appears in the legend."""
    if y is None or not np.isfinite(y):
        return
    color, dash = REFERENCE_STYLES.get(name, ("#333333", "dash"))
    fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name=f"{name} ({y:.2f})",
                             line=dict(color=color, dash=dash)))
    fig.add_hline(y=y, line=dict(color=color, dash=dash, width=1.5), **kw)


def _edges(values: Sequence[np.ndarray], bins: int) -> np.ndarray:
    allv = np.concatenate([np.asarray(v, dtype=float).ravel() for v in values if len(v)]) if values else np.zeros(1)
    lo, hi = float(np.min(allv)), float(np.max(allv))
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    return np.linspace(lo, hi, bins + 1)
