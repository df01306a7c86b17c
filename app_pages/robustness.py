"""Robustness: the current search's Super Neuron, fitted once on the probe split, scored unchanged under reworded
prompts, shifted images and grounding controls (blank, noise, shuffled images), beside the base model
(``sn_core.reports.robustness.robustness_report``); and the probe-size curve, the selected neuron's test accuracy against
probe examples per class over several split seeds (``sn_core.reports.probe_curve.probe_size_curve``). Both are computed on
request and kept in session state per search."""
import json
import math

import pandas as pd
import streamlit as st

import sn_app
from sn_app.text import code, md
from sn_core.plots import report_figures as plots_claims
from sn_core.reports.probe_curve import CURVE_COLUMNS, DEFAULT_SIZES, curve_to_json, probe_curve_summary
from sn_core.reports.robustness import CONTROL_NAMES, CONTROLS, FLAG, RobustnessReport, default_rewordings

REPORTS, CURVES = sn_app.ROBUSTNESS, sn_app.PROBE_CURVES  # session state: the last report / curve of each search
SIZE_CHOICES = (2, 5, 10, 20, 50, 100, 200)

st.title("🛡️ Robustness and probe size")
res = sn_app.require_result()
s = res.summary
cfg = res.config
ids = res.chosen_neuron_ids()
st.caption(f"Search {code(sn_app.short_key(res.key))}: **{md(s.task)}** on {code(s.model_id)}, {s.n_probe} probe / "
           f"{s.n_test} test examples. The neuron{'s' if len(ids) > 1 else ''} {md(', '.join(ids))} (the search's top-{len(ids)}"
           f"{' vote' if len(ids) > 1 else ''}) is fitted once on the probe split and never refitted below.")


def rewordings_text(rewordings) -> str:
    """The editable form of rewordings: ``QUESTION`` or ``QUESTION | INSTRUCTION`` per line."""
    lines = []
    for rw in rewordings:
        lines.append(rw.question if rw.instruction is None else f"{rw.question} | {rw.instruction}".rstrip())
    return "\n".join(lines)


def pct(v) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.1f}%"


# ---------------------------------------------------------------------------------------------- robustness report
st.subheader("Robustness report")
st.markdown("Does the neuron still answer when the question is worded differently, when the images shift, and "
            "does it need the image at all? The **grounding controls** keep the question and replace the image "
            "(blank grey, random noise, or another example's image): a classifier that stays above chance there "
            f"is flagged **“{FLAG}”**.")
with st.form("rb_form", border=True):
    default_text = ""
    with sn_app.guarded("Default rewordings", stop=False):
        default_text = rewordings_text(default_rewordings(str(s.task)))
    text = st.text_area("Rewordings (one per line: QUESTION, or QUESTION | INSTRUCTION)", default_text, height=170,
                        key=f"rb_rewordings_{res.key[:16]}",
                        help="{question} keeps each example's own question; on tasks whose question names a target "
                             "{color} and {shape} are its colour and shape. After '|' the answer-format instruction "
                             "(empty after '|': none). Every word must be in the model's vocabulary.")
    c1, c2, c3 = st.columns(3)
    shifted = c1.checkbox("Shifted images (where the task has a variant)", True, key="rb_shifted")
    base = c1.checkbox("Base model rows (slower)", True, key="rb_base",
                       help="The base model generates an answer per example and condition, beside the neuron.")
    controls = c2.multiselect("Grounding controls", list(CONTROLS), default=list(CONTROLS), key="rb_controls",
                              format_func=CONTROL_NAMES.get)
    n_default = 0 if s.n_test <= 100 else 100
    max_examples = int(c3.number_input("Test examples scored (0 = all)", 0, int(s.n_test), n_default,
                                       key="rb_max_examples",
                                       help="A seeded subset of the test split, each class in proportion; fewer "
                                            "examples run faster but give wider intervals."))
    run = st.form_submit_button("Run the robustness report", type="primary", key="rb_run")

if run:
    from sn_core.reports.robustness import parse_rewordings, robustness_report

    rewordings = None
    with sn_app.guarded("Rewordings", stop=False):
        rewordings = [] if not text.strip() else parse_rewordings(text)
    if rewordings is not None:
        loaded = None
        with sn_app.guarded(f"Loading model {cfg.model!r}", stop=False):
            loaded = sn_app.get_model(cfg.model, cfg.device, cfg.dtype)
        if loaded is not None:
            bar = sn_app.ProgressBar()
            with sn_app.guarded("Robustness report", stop=False):
                report = robustness_report(res, loaded, rewordings=rewordings, shifted=shifted, controls=controls,
                                           base=base, max_examples=max_examples or None, progress=bar)
                st.session_state.setdefault(REPORTS, {})[res.key] = {"report": report.to_json()}
            bar.clear()

stored = st.session_state.get(REPORTS, {}).get(res.key)
if stored is None:
    st.info("Press **Run the robustness report** to score the neuron under these conditions (the base model's "
            "rows run the whole model once per condition).", icon="ℹ️")
else:
    report = RobustnessReport.from_json(stored["report"])
    rows = report.rows
    st.caption(f"Neuron {md(', '.join(report.neuron_ids))} on {report.n_test} test examples (chance "
               f"{pct(report.chance)}), computed in {report.seconds:.1f} s.")
    neuron_flags = [r for r in rows.to_dict(orient="records") if r.get("neuron_flag")]
    base_flags = [r for r in rows.to_dict(orient="records") if r.get("base_flag")]
    ran_controls = (rows["kind"] == "control").any()
    if neuron_flags:
        st.warning(f"### ⚠️ The neuron {FLAG}\n" + "\n".join(
            f"- **{md(r['condition'])}**: {pct(r['neuron_accuracy'])} (95% CI {pct(r['neuron_ci_low'])}–"
            f"{pct(r['neuron_ci_high'])}) stays above chance {pct(r['chance'])} without the example's own image."
            for r in neuron_flags), icon="⚠️")
    if base_flags:
        st.warning(f"**The base model {FLAG}**\n" + "\n".join(
            f"- **{md(r['condition'])}**: {pct(r['base_accuracy'])} (95% CI {pct(r['base_ci_low'])}–"
            f"{pct(r['base_ci_high'])}) against chance {pct(r['chance'])}." for r in base_flags), icon="⚠️")
    if ran_controls and not neuron_flags and not base_flags:
        st.success("No grounding control is flagged: without the example's own image, the lower 95% bound of "
                   "every accuracy is at or below chance, so the answers come from the image.", icon="✅")
    elif not ran_controls:
        st.info("No grounding controls were run, so this report cannot tell whether the neuron uses the image.")
    with sn_app.guarded("Robustness chart", stop=False):
        st.plotly_chart(plots_claims.robustness_conditions(rows, report.chance), key="rb_chart",
                        alt="Accuracy of the neuron and the base model per condition, with 95% intervals")
    table = rows.assign(flag=[" · ".join(f"{who}: {f}" for who, f in (("neuron", r["neuron_flag"]),
                                                                        ("base", r["base_flag"])) if f)
                              for r in rows.to_dict(orient="records")])
    table = table[["condition", "kind", "question", "instruction", "n", "chance", "neuron_accuracy", "neuron_ci_low",
                   "neuron_ci_high", "base_accuracy", "base_ci_low", "base_ci_high", "base_outside_label_set",
                   "flag", "note"]]
    num = {c: st.column_config.NumberColumn(c.replace("_", " "), format="%.3f") for c in
           ("chance", "neuron_accuracy", "neuron_ci_low", "neuron_ci_high", "base_accuracy", "base_ci_low",
            "base_ci_high")}
    st.dataframe(table, hide_index=True, key="rb_table", column_config=num | {
        "neuron_ci_low": st.column_config.NumberColumn("neuron 95% CI low", format="%.3f"),
        "neuron_ci_high": st.column_config.NumberColumn("neuron 95% CI high", format="%.3f"),
        "base_ci_low": st.column_config.NumberColumn("base 95% CI low", format="%.3f"),
        "base_ci_high": st.column_config.NumberColumn("base 95% CI high", format="%.3f"),
        "base_outside_label_set": st.column_config.NumberColumn("base answers outside the labels")})
    st.caption("Accuracies are fractions of the examples scored, with 95% Wilson intervals. The neuron's values "
               "of changed inputs come from the early-exit path (the model runs only up to its layer); the base "
               "model's from greedy generation on the same inputs (an answer outside the label set counts as "
               "wrong). A control is flagged when the lower bound of its interval stays above chance.")
    st.download_button("Report (JSON)", json.dumps(stored["report"], indent=2),
                       file_name=f"robustness-{res.key[:10]}.json", mime="application/json", key="rb_download")

# ------------------------------------------------------------------------------------------------ probe-size curve
st.subheader("Probe-size curve")
n_per_class = int(s.n_probe) // max(int(s.n_classes), 1)
st.markdown(f"How many probe examples does this task need? For each size and split seed the search's stored "
            f"activations are split again, every searched neuron is re-ranked on the new probe split, and the "
            f"selected neuron's test accuracy is recorded (no forward pass). This search used {n_per_class} per "
            f"class.")
c1, c2, c3 = st.columns([3, 1, 1])
sizes = c1.multiselect("Probe examples per class", list(SIZE_CHOICES), default=list(DEFAULT_SIZES),
                       key="rb_sizes")
n_seeds = int(c2.number_input("Split seeds", 1, 20, 5, key="rb_seeds"))
if c3.button("Compute the probe-size curve", key="rb_curve_run", type="primary"):
    from sn_core.reports.probe_curve import probe_size_curve

    bar = sn_app.ProgressBar()
    with sn_app.guarded("Probe-size curve", stop=False):
        curve = probe_size_curve(res, sizes=sorted(sizes), seeds=range(n_seeds), progress=bar)
        st.session_state.setdefault(CURVES, {})[res.key] = {"sizes": sorted(sizes), "seeds": n_seeds,
                                                            "curve": curve_to_json(curve)}
    bar.clear()

kept = st.session_state.get(CURVES, {}).get(res.key)
if kept is None:
    st.info("Press **Compute the probe-size curve** (seconds: it re-uses the stored activations).", icon="ℹ️")
else:
    doc = kept["curve"]
    curve = pd.DataFrame(doc["rows"], columns=list(CURVE_COLUMNS))
    if doc.get("notes"):
        st.info("\n".join(f"- {md(note)}" for note in doc["notes"]))
    st.plotly_chart(plots_claims.probe_size_curve(curve, s.base_accuracy, s.chance), key="rb_curve_chart",
                    alt="Test accuracy of the selected neuron against probe examples per class")
    summ = probe_curve_summary(curve)
    st.dataframe(summ, hide_index=True, key="rb_curve_table", column_config={
        c: st.column_config.NumberColumn(c.replace("_", " "), format="%.3f") for c in
        ("test_accuracy_mean", "test_accuracy_min", "test_accuracy_max", "search_neuron_test_accuracy_mean",
         "share_same_as_search")})
    st.caption(f"{kept['seeds']} split seed(s) per size: the line is the mean test accuracy of the neuron each split "
               "selects, the band its spread (min to max) over seeds; the dashed line is the search's own neuron "
               "refitted on each split. *share same as search*: how often the split selects the search's neuron. "
               "Per-seed rows with 95% intervals are in the expander.")
    with st.expander("Every split seed (95% intervals)"):
        st.dataframe(curve.drop(columns=["neuron_ids"]), hide_index=True, key="rb_curve_rows",
                     column_config={c: st.column_config.NumberColumn(c.replace("_", " "), format="%.3f") for c in
                                    ("probe_score", "test_accuracy", "test_ci_low", "test_ci_high",
                                     "search_neuron_test_accuracy", "search_neuron_ci_low", "search_neuron_ci_high")})
