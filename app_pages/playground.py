"""Early-exit playground: one image and one question, answered twice. The Super Neuron path runs the model only up
to the neuron's layer and applies its fitted rule (``sn_core.shortcut.early_exit``); the full model generates its answer
(``sn_core.models.generation.generate_answers``). Both are timed on the same machine in the same run; the speedup is their
ratio. The neuron's value is drawn against its probe-split histograms."""
import hashlib
import time

import numpy as np
import streamlit as st

import sn_app
from sn_app.text import code, md
from sn_core.data.manifest import MAX_QUESTION_CHARS
from sn_core.models.flops import flop_limit
from sn_core.shortcut.timing import median_seconds
from sn_core.plots import search_figures as plots

st.title("⚡ Early-exit playground")
res = sn_app.require_result()
s = res.summary
cfg = res.config
st.caption("The Super Neuron answers after running the vision encoder and the first decoder layers only; the full "
           "model runs every layer and decodes its answer token by token. Same image, same question, same machine.")

loaded = None
with sn_app.guarded(f"Loading model {cfg.model!r}"):
    loaded = sn_app.get_model(cfg.model, cfg.device, cfg.dtype)
with sn_app.guarded("Opening the task"):
    task = res.task

# ------------------------------------------------------------------------------------------------ the classifier
neurons = sn_app.choose_classifier(res, key="ee_which")
with sn_app.guarded("Fitting the classifier"):
    clf = res.classifier(neurons)
    from sn_core.shortcut.early_exit import EarlyExitPredictor

    predictor = EarlyExitPredictor(loaded, clf, instruction=task.instruction)

with st.expander("Take this shortcut with you: export it as a standalone ONNX model"):
    st.caption("One ONNX graph (vision encoder, projector, embeddings, the decoder layers up to the exit, the "
               "neuron read-out and its rule), the processor files it needs and a JSON card with the source model, "
               "rule, accuracies and sha256 hashes. Run it anywhere with onnxruntime, without torch: "
               "`load_shortcut(folder).predict(images, questions)` or `python -m sn_core predict --shortcut folder "
               "--task ...` (docs/shortcut.md).")
    zip_context = (res.key, tuple(neurons))
    if st.button("Build the shortcut", key="ee_export"):
        with sn_app.guarded("Exporting the shortcut", stop=False):
            st.session_state["ee_zip"] = {"context": zip_context, **sn_app.build_shortcut(
                res, clf, neurons, cfg.model)}
    built = st.session_state.get("ee_zip")
    if built and built["context"] == zip_context:
        st.success(f"Shortcut folder on this server: {code(built['folder'])} ({built['bytes'] / 2 ** 20:.1f} MB); "
                   f"the same as one ZIP: {code(built['zip'])}.")
        if built["zip_bytes"] <= sn_app.SHORTCUT_DOWNLOAD_LIMIT:
            st.download_button(f"Download shortcut.zip ({built['zip_bytes'] / 2 ** 20:.1f} MB)",
                               sn_app.file_reader(built["zip"]),
                               file_name=f"shortcut-{clf.exit_layer_}-{sn_app.short_key(res.key)}.zip",
                               mime="application/zip", key="ee_download")
        else:
            st.info(f"At {built['zip_bytes'] / 2 ** 30:.1f} GB the ZIP is too large for a browser download from "
                    "this page; copy the folder or the ZIP from the paths above.")

# ------------------------------------------------------------------------------------------ image and question
st.subheader("1 · Image and question")
c1, c2 = st.columns([1, 2])
src = c1.radio("Image", ["example from the task's test split", "upload"], key="ee_source")
image, default_q, true_label = None, None, None
test_idx = np.asarray(res.split.test)
if src == "upload":
    up = c1.file_uploader("Image (PNG, JPEG, GIF, BMP, WebP, TIFF; up to 20 MB)", key="ee_upload",
                          type=["png", "jpg", "jpeg", "gif", "bmp", "webp", "tif", "tiff"])
    if up is not None:
        from sn_core.data.images import load_image

        with sn_app.guarded("Reading the uploaded image"):
            image = load_image(up.getvalue(), name=up.name)
    default_q = task.examples[int(test_idx[0])].question if len(test_idx) else ""
else:
    pick = int(c1.number_input(f"Test example (0–{len(test_idx) - 1})", 0, max(len(test_idx) - 1, 0), 0,
                               key="ee_example"))
    ex = task.examples[int(test_idx[pick])]
    from sn_core.data.images import load_image

    with sn_app.guarded("Reading the example image"):
        image = load_image(ex.image)
    default_q, true_label = ex.question, ex.label
question = c2.text_input("Question", default_q, key=f"ee_question_{src}_{default_q}",
                         help=f"The answer-format instruction “{md(task.instruction)}” is appended, as in the search.")
if image is None:
    c2.info("Upload an image, or pick an example.")
    st.stop()
c2.image(image.resize((192, 192), 0) if max(image.size) < 192 else image, width=192,
         caption=f"{image.size[0]}×{image.size[1]} px" + (f", true label: {md(true_label)}" if true_label else ""))
if not question.strip():
    st.error("**Question**: type a question to ask about the image.")
    st.stop()
MAX_QUESTION = MAX_QUESTION_CHARS  # as for manifests: a categorical question is a sentence
if len(question) > MAX_QUESTION:
    st.error(f"**Question**: {len(question):,} characters is more than the {MAX_QUESTION:,} this page accepts; ask "
             "a short categorical question, as in the search.")
    st.stop()

repeats = st.slider("Timing repeats (median reported, after one warm-up run)", 1, 9, 5, key="ee_repeats",
                    help="Latencies are wall-clock times on this server; other work on a busy CPU makes them noisy.")

# ------------------------------------------------------------------------------------------------------ predict
# What a shown result belongs to: a result is drawn only for the same search, classifier, image and question.
context = (res.key, tuple(neurons), hashlib.sha256(image.tobytes()).hexdigest()[:16], image.size, question)
if st.button("Answer with both paths", type="primary", key="ee_go"):
    bar = sn_app.ProgressBar()
    result = None
    with sn_app.guarded("Answering", stop=False):
        generate = None
        if getattr(loaded, "truncated", False):
            st.info("This model was loaded with only its first layers, so the full model cannot generate an answer.")
        else:
            from sn_core.models.generation import generate_answers

            prompt = loaded.prompt(task.prompt_text(question))

            def generate():
                return generate_answers(loaded, [image], [prompt], list(res.labels))
        last = {}  # each path's latest answer, shown below

        def answered(path, fn):
            def run():
                last[path] = fn()
                return last[path].seconds
            return run

        paths = {"ee": answered("ee", lambda: predictor.predict(image, question))}
        if generate:
            paths["full"] = answered("full", generate)
        def next_repeat(i):
            bar("timing", i, repeats)
            time.sleep(0.05)  # the browser draws the bar now, not during the next timed call (same CPU when local)

        med = median_seconds(paths, repeats, on_repeat=next_repeat)
        pred, full = last["ee"], last.get("full")
        bar("timing", repeats, repeats)
        limit = flop_limit(predictor, image, question, res.labels) if generate else None
        result = {
            "context": context, "neurons": neurons, "question": question, "label": pred.label,
            "values": dict(pred.values), "exit_layer": pred.exit_layer,
            "ee_s": med["ee"], "answer": full.answers[0] if full else None,
            "matched": full.predicted[0] if full else None,
            "full_s": med.get("full"), "limit": limit,
            "true": true_label, "at": time.time()}
    bar.clear()
    if result is not None:
        st.session_state["ee_last"] = result

out = st.session_state.get("ee_last")
if out and out.get("context") == context:
    st.subheader("2 · Answers")
    a, b, c = st.columns(3)
    with a.container(border=True):
        st.markdown(f"**Super Neuron** (exits after decoder layer {out['exit_layer']}; the model has layers "
                    f"0–{loaded.n_layers_total - 1})")
        st.metric("Prediction", md(out["label"]), help="The neuron's fitted rule applied to its value.")
        st.caption(f"{1000 * out['ee_s']:.1f} ms")
    with b.container(border=True):
        st.markdown("**Full model** (every layer, greedy generation)")
        if out["answer"] is None:
            st.metric("Answer", "n/a")
        else:
            st.metric("Answer", md(out["answer"]) or "(empty)",
                      help="The generated text; matched to the label set: " + md(out["matched"]))
            unmatched = "none (counted wrong)" if out["true"] else "none (not one of the labels)"
            st.caption(f"{1000 * out['full_s']:.1f} ms · matched label: **{md(out['matched'] or unmatched)}**")
    with c.container(border=True):
        st.markdown("**Speedup**")
        if out["full_s"]:
            speedup = out["full_s"] / out["ee_s"]
            if len(out["neurons"]) == 1:
                sn_app.record_speed(res.key, out["exit_layer"], speedup)
            st.metric("Full / early exit", f"{speedup:.1f}×",
                      help="Ratio of the median latencies measured above (interleaved repeats, batch size 1).")
            if out.get("limit"):
                st.caption(f"FLOP bound for this exit: {out['limit']:.1f}× (what the skipped work is worth if time "
                           "followed FLOPs; fixed per-call costs keep batch-1 speedups below it on small models).")
                if speedup > 1.5 * out["limit"]:
                    st.warning("The measured speedup is far above the FLOP bound: the machine was probably busy "
                               "while the full model ran. Measure again (or with more repeats).")
                elif speedup < out["limit"] / 3:
                    st.warning("The measured speedup is far below the FLOP bound: the machine was probably busy "
                               "while the early exit ran. Measure again (or with more repeats).")
            if out["exit_layer"] >= loaded.n_layers_total - 1:
                st.caption("This classifier exits after the last decoder layer, so there is little to skip: "
                           "pick a search limited to early layers (l_max) for a real saving.")
        else:
            st.metric("Full / early exit", "n/a")
        if out["true"]:
            st.caption(f"True label: **{md(out['true'])}**")

    nid = neurons[0]
    value = out["values"].get(nid)
    if value is not None:
        with sn_app.guarded("Drawing the histogram", stop=False):
            vals, labels, split = res.neuron_values(nid)
            vals, labels, split = np.asarray(vals, float), np.asarray(labels).astype(str), np.asarray(split)
            params = res.neuron_params(nid)
            classes = [str(x) for x in res.labels]
            fig = plots.value_on_histogram(vals[split == "probe"], labels[split == "probe"], classes, value,
                                           **plots.rule_guides(params, classes),
                                           title=f"This image's value of {plots.plain(nid)} against the probe split")
            st.plotly_chart(fig, key="ee_hist", alt="The neuron's value for this image against its histogram")
            st.caption("The thick black line is this image; coloured bars are the probe examples of each class. "
                       + md(plots.rule_caption(params))
                       + (" (The prediction above is the vote of all the classifier's neurons; this is the first.)"
                          if len(neurons) > 1 else ""))
