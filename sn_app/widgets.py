"""Widgets the pages share: the progress bar of long work, the ranking table and its column settings, the
classifier chooser of the playground and Compare, the sidebar's session summary, and the playground's shortcut
export (a folder on the server and a ZIP streamed beside it, with a progress bar)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import streamlit as st

from sn_app.errors import error_message
from sn_app.text import code, md
from sn_app.session import DEFAULT_MODEL, MODEL, NEURON, SEARCH, TASK_LABEL, current_result, short_key
from sn_core.scoring.ranking import TOP_K_COLUMNS
from sn_core.store import default_root


STAGE_LABELS = {
    "load": "Loading the model",
    "extract": "Reading activations (examples)",
    "score": "Scoring neurons (layers)",
    "baselines": "Running baselines",
    "generate": "Generating full-model answers (examples)",
    "timing": "Timing both paths (repeats)",
    "robustness": "Scoring the conditions",
    "probe-curve": "Re-ranking every neuron (probe sizes x split seeds)",
}


class ProgressBar:
    """A ``progress(stage, done, total)`` callback drawing one ``st.progress`` bar with the stage and count."""

    def __init__(self, container=None):
        self._box = container if container is not None else st.empty()
        self._bar = None
        self.calls = 0

    def __call__(self, stage: str, done: int, total: int) -> None:
        self.calls += 1
        label = STAGE_LABELS.get(stage, stage)
        frac = 0.0 if not total else min(max(done / total, 0.0), 1.0)
        text = f"{label}: {done}/{total}" if total else label
        if self._bar is None:
            self._bar = self._box.progress(frac, text=text)
        else:
            self._bar.progress(frac, text=text)

    def clear(self) -> None:
        self._box.empty()


def top_table_view(top):
    """The ranking table in the engine's column order (``sn_core.scoring.ranking.TOP_K_COLUMNS``, rank first), sorted by
    rank; extra columns kept at the end."""
    cols = [c for c in TOP_K_COLUMNS if c in top.columns] + [c for c in top.columns if c not in TOP_K_COLUMNS]
    out = top[cols]
    return out.sort_values("rank").reset_index(drop=True) if "rank" in out else out


def top_table_config() -> dict:
    """``st.dataframe`` column settings for :func:`top_table_view` (labels with units, 3 decimals)."""
    return {
        "rank": st.column_config.NumberColumn("rank", width="small"),
        "neuron_id": st.column_config.TextColumn("neuron id", width="medium"),
        "probe_score": st.column_config.NumberColumn("probe score", format="%.3f",
                                                     help="accuracy of the neuron's rule on the probe split"),
        "test_accuracy": st.column_config.NumberColumn("test accuracy", format="%.3f",
                                                       help="the same rule on the held-out test split"),
        "separation": st.column_config.NumberColumn("separation", format="%.2f",
                                                    help="Fisher ratio of the classes on the probe split "
                                                         "(tie-breaker of the ranking)"),
        "test_ci_low": st.column_config.NumberColumn("95% CI low", format="%.3f",
                                                     help="Wilson 95% interval of the test accuracy (lower end)"),
        "test_ci_high": st.column_config.NumberColumn("95% CI high", format="%.3f",
                                                      help="Wilson 95% interval of the test accuracy (upper end)"),
    }


def classifier_options(res) -> dict[str, list[str]]:
    """The classifiers the playground and Compare offer, the recommended shortcut first (pages open on it), then
    the search's overall best neuron(s), then the inspector's neuron if this search can read it."""
    s = res.summary
    top_ids = [str(x) for x in res.top_k["neuron_id"]][: int(s.k or 1)]
    short = res.shortcut_neuron_id
    opts = {}
    if [short] != top_ids:
        layer = res.frontier().query("neuron_id == @short")["layer"].iloc[0]
        opts[f"recommended shortcut ({short}, exits after layer {layer})"] = [short]
    best = "overall best" + (f" top-{len(top_ids)} vote" if len(top_ids) > 1 else "")
    opts[f"{best} ({', '.join(top_ids)}, exits after layer {s.exit_layer})"
         + (": also the recommended shortcut" if [short] == top_ids else "")] = top_ids
    chosen = st.session_state.get(NEURON)
    if chosen and chosen not in top_ids and chosen != short and res.neuron_problem(chosen) is None:
        opts[f"the inspector's neuron ({chosen})"] = [chosen]
    return opts


def choose_classifier(res, key: str) -> list[str]:
    """A radio of :func:`classifier_options` (opening on the recommended shortcut, with the reason shown when it is
    chosen); returns the chosen neuron ids."""
    options = classifier_options(res)
    which = st.radio("Classifier", list(options), key=key, horizontal=True, format_func=md,
                     help="The page opens on the recommended shortcut; the search's overall best neuron is one click "
                          "away.")
    neurons = options[which]
    if neurons == [res.shortcut_neuron_id]:
        st.info(res.shortcut_explanation())
    return neurons


def sidebar(container=None) -> None:
    """Model / task / search / neuron state, shown on every page (in ``container``, default the sidebar)."""
    with container if container is not None else st.sidebar:
        st.markdown("### Session")
        key = st.session_state.get(SEARCH)
        res = None
        if key:
            try:
                res = current_result()
            except Exception as e:  # noqa: BLE001 - the sidebar must never break a page
                st.caption(f"Search {md(short_key(key))} cannot be opened: {md(error_message(e))}")
        model = res.summary.model_id if res is not None else st.session_state.get(MODEL, DEFAULT_MODEL)
        st.markdown(sidebar_markdown(model, res.summary if res is not None else None, key,
                                     st.session_state.get(NEURON), st.session_state.get(TASK_LABEL)))


def sidebar_markdown(model, summary=None, key: str | None = None, neuron: str | None = None,
                     task_label: str | None = None) -> str:
    """The sidebar's session summary as Markdown: the model, and the task, search and neuron of ``summary`` (a
    search's summary) or ``task_label``; every value (user data: a model id or folder, a task name, a neuron id
    from a link) shown as text."""
    lines = [f"**Model:** {code(model)}"]
    if summary is not None:
        s = summary
        lines.append(f"**Task:** {code(s.task)} ({s.n_classes} classes, {s.n_probe} probe / {s.n_test} test)")
        lines.append(f"**Search:** {code(short_key(key))}")
        lines.append(f"**Neuron:** {code(neuron or s.sn_neuron_id)}")
    else:
        lines.append(f"**Task:** {md(task_label or 'none yet')}")
        lines.append("**Search:** none yet")
    return "  \n".join(lines)


# ------------------------------------------------------------------------------------------ shortcut export
SHORTCUT_DOWNLOAD_LIMIT = 512 * 2 ** 20  # larger shortcuts are offered as server paths, never read into memory


def build_shortcut(res, clf, neurons, model: str) -> dict:
    """Export ``clf`` into ``<store root>/shortcuts/<search>-<neurons>/`` (once: a folder already exported for the
    same classifier is reused after its card verifies) and stream it into a ZIP beside it, with a progress bar.
    Returns ``{folder, zip, bytes, zip_bytes}``."""
    import hashlib
    import shutil

    from sn_core.shortcut import ShortcutError, export_shortcut, read_card, write_shortcut_zip

    tag = hashlib.sha256(json.dumps(list(neurons)).encode()).hexdigest()[:10]
    base = default_root() / "shortcuts"
    base.mkdir(parents=True, exist_ok=True)
    folder = base / f"{short_key(res.key)}-{tag}"
    try:
        read_card(folder)
    except ShortcutError:
        if folder.exists():
            shutil.rmtree(folder)
        with st.spinner("Exporting the ONNX graph (tens of seconds for small models, minutes for 7B ones)..."):
            export_shortcut(clf, folder, model=model, test_accuracy=res.test_accuracy(neurons))
    zip_path = folder.with_suffix(".zip")
    bar = st.progress(0.0, text="Writing shortcut.zip")
    tmp = zip_path.with_name(zip_path.name + ".partial")
    write_shortcut_zip(folder, tmp, progress=lambda done, total: bar.progress(
        min(1.0, done / max(total, 1)), text=f"Writing shortcut.zip: {done / 2 ** 20:.0f} of {total / 2 ** 20:.0f} MB"))
    os.replace(tmp, zip_path)
    bar.empty()
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    return {"folder": str(folder), "zip": str(zip_path), "bytes": size, "zip_bytes": zip_path.stat().st_size}


def file_reader(path):
    """Deferred download data: the file is read only when the button is clicked."""
    return lambda: Path(path).read_bytes()
