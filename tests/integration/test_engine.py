"""The engine on a tiny random LLaVA (fast) and on the demo model: sites, left padding, early exit parity, hooks,
cache reuse and resume, loading errors, search."""
from __future__ import annotations

import dataclasses
import os
import time

import numpy as np
import pytest
import torch

from sn_core.data import Task, get_task
from sn_core.activations import Trace, extract, read_activations
from sn_core.models import UnknownModelError, load_model, weights_hash
from sn_core.sites import site_name

# Questions of different lengths, so a batch of them is really left padded.
QUESTIONS = ["What color is the shape?", "How many shapes are there in this picture? Count them all carefully."]
SITES = ("mlp", "resid", "attn")


def _prompts(loaded, n):
    return [loaded.prompt(f"{QUESTIONS[i % 2]} Answer with one word.") for i in range(n)]


def _images(n, seed=3):
    return [ex.image for ex in get_task("shapes-color", n, seed=seed).examples]


def _our_hooks(model) -> int:
    """Hooks registered by sn_core's tracing scope (closures defined in Trace) still on the model."""
    n = 0
    for m in model.modules():
        for h in list(m._forward_hooks.values()) + list(m._forward_pre_hooks.values()):
            if "Trace" in getattr(h, "__qualname__", ""):
                n += 1
    return n


def _all_hooks(model) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def _reference_values(loaded, inputs):
    """Every site at the read position from an unhooked *full* forward: decoder-layer outputs come from
    ``output_hidden_states`` and the inputs of down_proj / o_proj from torch's own module call recording
    (``register_forward_pre_hook`` is not used), i.e. independent of sn_core's hooks."""
    layers = loaded.adapter.layers(loaded.model)
    captured = {}
    originals = {}
    for L, layer in enumerate(layers):
        for kind, mod in (("mlp", layer.mlp.down_proj), ("attn", layer.self_attn.o_proj)):
            originals[(kind, L)] = mod.forward

            def fwd(x, _orig=mod.forward, _key=(kind, L)):
                captured[_key] = x[:, -1].detach().clone()
                return _orig(x)
            mod.forward = fwd
    try:
        with torch.inference_mode():
            out = loaded.model(**inputs, output_hidden_states=True)
    finally:
        for (kind, L), f in originals.items():
            mod = layers[L].mlp.down_proj if kind == "mlp" else layers[L].self_attn.o_proj
            mod.forward = f
    ref = {}
    for L in range(len(layers)):
        ref[site_name("mlp", L)] = captured[("mlp", L)]
        ref[site_name("attn", L)] = captured[("attn", L)]
        if L < len(layers) - 1:  # the last entry of hidden_states is after the final norm
            ref[site_name("resid", L)] = out.hidden_states[L + 1][:, -1]
    return ref


# ---------------------------------------------------------------------------------------------- tiny model
def test_sites_have_the_right_shapes_at_the_read_position(tiny_llava):
    n = 3
    acts = read_activations(tiny_llava, _images(n), _prompts(tiny_llava, n), sites=SITES, batch_size=2)
    assert len(acts) == len(SITES) * tiny_llava.n_layers
    for L in range(tiny_llava.n_layers):
        for kind in SITES:
            a = acts[site_name(kind, L)]
            assert a.shape == (n, tiny_llava.widths[kind]) and a.dtype == np.float32
            assert np.isfinite(a).all()


def test_site_values_equal_an_unhooked_full_forward(tiny_llava):
    inputs = tiny_llava.encode(_images(2), _prompts(tiny_llava, 2))
    assert bool((inputs["attention_mask"] == 0).any()), "batch should be left padded"
    ref = _reference_values(tiny_llava, inputs)
    with Trace(tiny_llava, [(k, L) for L in range(tiny_llava.n_layers) for k in SITES]) as tr:
        got = tr.run(inputs)
    for name, r in ref.items():
        torch.testing.assert_close(got[name], r, atol=1e-5, rtol=1e-5, msg=name)


def test_direct_truncated_pass_equals_the_hooked_model_forward_bit_for_bit(tiny_llava, monkeypatch):
    """LLaVA's ``prefix_forward`` (the modules called directly, no wrappers, no stop exception) reads exactly what
    the model's own forward stopped by a hook reads, on a left-padded batch, at every site and layer."""
    import sn_core.models.families.llava as llava_adapter

    inputs = tiny_llava.encode(_images(3), _prompts(tiny_llava, 3))
    assert bool((inputs["attention_mask"] == 0).any()), "batch should be left padded"
    pairs = [(k, L) for L in range(tiny_llava.n_layers) for k in SITES]
    for stop in range(tiny_llava.n_layers):
        want = [(k, L) for k, L in pairs if L <= stop]
        with Trace(tiny_llava, want, stop_after=stop) as tr:
            direct = {k: v.clone() for k, v in tr.run(inputs).items()}
            assert tr.ran_direct
        with Trace(tiny_llava, want, stop_after=stop, direct=False) as tr:
            hooked = {k: v.clone() for k, v in tr.run(inputs).items()}
            assert not tr.ran_direct
        assert direct.keys() == hooked.keys() == {site_name(k, L) for k, L in want}
        for name in direct:
            assert torch.equal(direct[name], hooked[name]), (stop, name)
    assert _our_hooks(tiny_llava.model) == 0
    # A text model the direct path was not written for takes the hooked path, with the same values.
    monkeypatch.setattr(llava_adapter, "_DIRECT_TEXT_MODELS", ())
    with Trace(tiny_llava, [("mlp", 1)]) as tr:
        assert torch.equal(tr.run(inputs)[site_name("mlp", 1)], direct[site_name("mlp", 1)])
        assert not tr.ran_direct


def test_direct_siglip_image_features_equal_the_models_own_bit_for_bit(tiny_llava, monkeypatch):
    """The direct pass computes a SigLIP tower's image features itself (no output-capturing wrappers, no discarded
    post-layernorm): the same tensor as ``get_image_features``, for both select strategies; other feature layers
    fall back to the model's method."""
    from sn_core.models.families.llava import _siglip_image_features

    core = tiny_llava.model.model
    pixels = tiny_llava.encode(_images(3), _prompts(tiny_llava, 3))["pixel_values"]
    with torch.inference_mode():
        for strategy in ("full", "default"):
            monkeypatch.setattr(core.config, "vision_feature_select_strategy", strategy)
            want = torch.cat(core.get_image_features(pixel_values=pixels, return_dict=True).pooler_output, dim=0)
            got = _siglip_image_features(core, pixels)
            assert got is not None and torch.equal(got, want), strategy
        monkeypatch.setattr(core.config, "vision_feature_layer", -2)
        assert _siglip_image_features(core, pixels) is None
        monkeypatch.setattr(core.config, "vision_feature_layer", -1)
        assert _siglip_image_features(core, pixels) is not None
        # A tower dispatched by accelerate (device_map, offload) keeps its own call, which runs the hooks.
        from accelerate.hooks import ModelHook, add_hook_to_module, remove_hook_from_module

        add_hook_to_module(core.vision_tower.encoder.layers[0], ModelHook())
        try:
            assert _siglip_image_features(core, pixels) is None
        finally:
            remove_hook_from_module(core.vision_tower.encoder.layers[0])


def test_left_padded_batch_reads_the_same_values_as_single_examples(tiny_llava):
    n = 4
    imgs, prompts = _images(n), _prompts(tiny_llava, n)
    lengths = {len(tiny_llava.processor.tokenizer(p)["input_ids"]) for p in prompts}
    assert len(lengths) > 1, "prompts must differ in length for this test to mean anything"
    batched = read_activations(tiny_llava, imgs, prompts, sites=SITES, batch_size=n)
    single = read_activations(tiny_llava, imgs, prompts, sites=SITES, batch_size=1)
    for name in batched:
        np.testing.assert_allclose(batched[name], single[name], atol=2e-5, rtol=1e-4, err_msg=name)


def test_trace_stops_after_the_deepest_layer_and_leaves_no_hooks(tiny_llava):
    model = tiny_llava.model
    inputs = tiny_llava.encode(_images(2), _prompts(tiny_llava, 2))
    with torch.inference_mode():
        model(**inputs)  # warm-up: transformers installs its own (permanent) output-capture hooks lazily
    before = _all_hooks(model)
    reached = []
    last = tiny_llava.adapter.layers(model)[-1]
    h = last.register_forward_hook(lambda *a: reached.append(True))
    try:
        with Trace(tiny_llava, [("mlp", 0)]) as tr:
            assert _our_hooks(model) == 2  # the site and the stop
            tr.run(inputs)
        assert not reached, "layers after the exit layer must not run"
    finally:
        h.remove()
    assert _all_hooks(model) == before and _our_hooks(model) == 0
    # An exception inside the scope (not StopForward) propagates and still removes the hooks.
    with pytest.raises(RuntimeError, match="boom"):
        with Trace(tiny_llava, [("resid", 1), ("attn", 0)]):
            raise RuntimeError("boom")
    assert _all_hooks(model) == before and _our_hooks(model) == 0
    # A bad layer fails before any hook is left behind.
    with pytest.raises(ValueError, match="layer 7 requested, the model has 3 decoder layers"):
        with Trace(tiny_llava, [("mlp", 0), ("mlp", 7)]):
            pass
    assert _all_hooks(model) == before
    # So does a site after the stop layer (it could never be read), with a message that says so.
    with pytest.raises(ValueError, match=r"blocks\.2\.mlp\.hook_post is after the stop layer 0"):
        with Trace(tiny_llava, [("mlp", 2)], stop_after=0):
            pass
    assert _all_hooks(model) == before


def test_early_exit_equals_full_forward_on_tiny(tiny_llava):
    from sn_core.classifier.estimator import SuperNeuronClassifier
    from sn_core.shortcut.early_exit import EarlyExitPredictor

    imgs = _images(2)
    questions = QUESTIONS
    inputs = tiny_llava.encode(imgs, [tiny_llava.prompt(f"{q} Answer with one word.") for q in questions])
    ref = _reference_values(tiny_llava, inputs)
    for layer in range(tiny_llava.n_layers):
        nids = (f"blocks.{layer}.mlp.hook_post[5]", "blocks.0.attn.hook_z[3]")
        clf = SuperNeuronClassifier(neurons=nids).fit(np.random.default_rng(0).normal(size=(8, 2)),
                                                      ["a", "b"] * 4)
        pred = EarlyExitPredictor(tiny_llava, clf, instruction="Answer with one word.")
        assert pred.exit_layer == layer
        vals = pred.values(imgs, questions)  # [2, 2]
        np.testing.assert_allclose(vals[:, 0], ref[site_name("mlp", layer)][:, 5].numpy(), atol=1e-5)
        np.testing.assert_allclose(vals[:, 1], ref[site_name("attn", 0)][:, 3].numpy(), atol=1e-5)
        assert _our_hooks(tiny_llava.model) == 0


def test_max_layers_loads_fewer_layers_with_the_same_values(tiny_llava, tiny_llava_dir):
    small = load_model(str(tiny_llava_dir), max_layers=2)
    assert small.n_layers == 2 and small.n_layers_total == 3 and small.truncated
    assert len(small.adapter.layers(small.model)) == 2
    assert small.weights_hash == tiny_llava.weights_hash
    imgs, prompts = _images(2), _prompts(tiny_llava, 2)
    a = read_activations(small, imgs, prompts, sites=SITES, layers=[0, 1])
    b = read_activations(tiny_llava, imgs, prompts, sites=SITES, layers=[0, 1])
    for name in a:
        np.testing.assert_allclose(a[name], b[name], atol=1e-6)
    with pytest.raises(ValueError, match="layer 2 requested, the model has 2 decoder layers"):
        read_activations(small, imgs, prompts, sites=("mlp",), layers=[2])


def test_extraction_cache_hit_and_resume_after_interruption(tiny_llava, tmp_path):
    task = get_task("shapes-color", 10, seed=1)
    kw = dict(sites=("mlp", "resid"), layers=[0, 2], batch_size=2, chunk_size=3)
    # Uninterrupted reference run in its own store root.
    ref = extract(tiny_llava, task, root=tmp_path / "ref", **kw)
    assert not ref.cache_hit

    calls = []

    def interrupt_after_two_chunks(stage, done, total):
        calls.append(done)
        if len([c for c in calls if c > 0]) >= 2:
            raise KeyboardInterrupt("simulated")

    root = tmp_path / "resume"
    with pytest.raises(KeyboardInterrupt):
        extract(tiny_llava, task, root=root, progress=interrupt_after_two_chunks, **kw)
    assert _our_hooks(tiny_llava.model) == 0
    from sn_core.store.cache import ActivationStore

    partial = ActivationStore(ref.key, root=root)
    assert partial.finished_chunks() == [0, 1] and not partial.is_complete()
    # Resume: only the missing chunks are computed (progress starts at the finished count).
    seen = []
    resumed = extract(tiny_llava, task, root=root, progress=lambda s, d, t: seen.append(d), **kw)
    assert seen[0] == 6 and seen[-1] == 10 and not resumed.cache_hit
    for kind in ("mlp", "resid"):
        for L in (0, 2):
            np.testing.assert_array_equal(resumed.get(kind, L), ref.get(kind, L))
    # Same key again: a cache hit, equal arrays, no forward pass.
    again = extract(tiny_llava, task, root=root, **kw)
    assert again.cache_hit and again.key == ref.key
    np.testing.assert_array_equal(again.get("mlp", 2), ref.get("mlp", 2))
    # Another task content (one label changed) -> another key.
    other = Task(task.name, task.labels, list(task.examples), instruction="Reply with a colour.")
    assert extract(tiny_llava, other, root=root, **kw).key != ref.key


def test_search_on_tiny_model_is_cached_and_reloadable(tiny_llava, sn_cache):
    from sn_core.config import SearchConfig
    from sn_core.search.run import SearchResult, list_searches, run_search

    cfg = SearchConfig(model="unused", task="shapes-color", n_examples=16, probe_per_class=2, sites=("mlp", "attn"),
                       k=2, batch_size=8)
    stages = set()
    res = run_search(cfg, loaded=tiny_llava, progress=lambda s, d, t: stages.add(s))
    assert {"extract", "score", "baselines"} <= stages
    s = res.summary
    assert not res.cache_hit and s.n_probe == 8 and s.n_test == 8
    assert res.scores("mlp").shape == (3, tiny_llava.widths["mlp"])
    assert res.scores("attn").shape == (3, tiny_llava.widths["attn"])
    assert 0 <= s.sn_test_accuracy <= 1 and s.sav_test_accuracy is not None
    assert s.probe_lr_test_accuracy is not None and s.base_accuracy is not None
    top = res.top_k
    assert list(top["rank"][:3]) == [1, 2, 3] and (np.diff(top["probe_score"]) <= 0).all()
    assert top["probe_score"][0] == max(res.scores("mlp").max(), res.scores("attn").max())
    assert len(res.layer_best("mlp")) == 3
    # top-k per layer (docs/method.md): k=2 by default here; ranked by probe score within each layer, the first of each
    # layer is layer_best's, and each row's test accuracy is that neuron's own held-out accuracy
    per_layer = res.layer_top("mlp")
    assert len(per_layer) == 3 * 2 and list(per_layer["rank"]) == [1, 2] * 3
    deep = res.layer_top("mlp", 5)
    for li, (L, rows) in enumerate(deep.groupby("layer", sort=True)):
        assert list(rows["probe_score"]) == sorted(res.scores("mlp")[li], reverse=True)[:5], L
        assert (rows["probe_score"] == res.scores("mlp")[li][rows["index"]]).all()
        for nid, acc in zip(rows["neuron_id"], rows["test_accuracy"]):
            assert acc == res.test_accuracy([nid]), nid
    best = res.layer_best("mlp")
    assert list(res.layer_top("mlp", 1)["neuron_id"]) == list(best["neuron_id"])
    with pytest.raises(ValueError, match="kept to depth 5"):
        res.layer_top("mlp", 6)
    with pytest.raises(ValueError, match="at least one neuron id"):
        res.test_accuracy([])
    values, labels, split = res.neuron_values(s.sn_neuron_id)
    assert values.shape == (16,) and set(split) == {"probe", "test"} and (split == "probe").sum() == 8
    clf = res.classifier()
    assert clf.neurons_ == tuple(s.sn_neuron_ids) and len(clf.neurons_) == 2
    again = run_search(cfg, loaded=tiny_llava)
    assert again.cache_hit and again.key == res.key
    assert again.summary.sn_test_accuracy == s.sn_test_accuracy
    np.testing.assert_array_equal(again.scores("mlp"), res.scores("mlp"))
    reopened = SearchResult.load(res.key)
    assert reopened.top_k.equals(again.top_k)
    assert reopened.top_k.equals(res.top_k) and reopened.layer_best("mlp").equals(res.layer_best("mlp"))  # order too
    assert reopened.layer_top("mlp", 5).equals(deep)
    assert reopened.scores("attn").dtype == res.scores("attn").dtype == np.float64
    np.testing.assert_array_equal(reopened.scores("attn"), res.scores("attn"))
    assert reopened.examples(s.sn_neuron_id, n=2)[0][2].label in reopened.labels
    assert res.key in [r["key"] for r in list_searches()]


def test_search_keys_and_inputs_that_once_went_wrong(tiny_llava, tiny_llava_dir, sn_cache):
    """Regressions: a search on a model loaded with max_layers is not the whole model's search; layers above l_max
    are dropped before the range check; a task passed in (any seed) reopens; the caller's task is not changed."""
    from sn_core.config import SearchConfig
    from sn_core.search.run import SearchResult, run_search

    cfg = SearchConfig(model="unused", task="shapes-color", n_examples=16, probe_per_class=2, baselines=False)
    small = load_model(str(tiny_llava_dir), max_layers=2)
    part = run_search(cfg, loaded=small)
    whole = run_search(cfg, loaded=tiny_llava)
    assert part.layers == (0, 1) and whole.layers == (0, 1, 2)
    assert part.key != whole.key and not whole.cache_hit
    # layers (0, 2) with l_max=1 searches layer 0 only, also on a model loaded up to l_max (as run_search does)
    capped = dataclasses.replace(cfg, layers=(0, 2), l_max=1)
    assert run_search(capped, loaded=load_model(str(tiny_llava_dir), max_layers=2)).layers == (0,)
    # a bundled task generated with another seed, passed in: reopened from the store, the same examples come back
    task = get_task("shapes-color", 16, seed=3)
    res = run_search(dataclasses.replace(cfg, instruction="Reply in one word."), task=task, loaded=tiny_llava)
    assert task.instruction != "Reply in one word."  # the caller's task is untouched
    nid = res.summary.sn_neuron_id
    again = SearchResult.load(res.key)
    got = again.examples(nid, n=2)
    assert [ex.question for _, _, ex in got] == [ex.question for _, _, ex in res.examples(nid, n=2)]
    assert again.task.instruction == "Reply in one word."


def test_editing_the_model_config_in_place_is_a_cache_miss(tiny_llava_dir, tmp_path, sn_cache):
    """Activations depend on config.json too (e.g. which vision layer feeds the projector): an in-place edit must not
    reuse the cache made before it."""
    import json
    import shutil

    folder = tmp_path / "model"
    shutil.copytree(tiny_llava_dir, folder)
    task = get_task("shapes-color", 4, seed=0)
    before = extract(load_model(str(folder)), task, sites=("mlp",), layers=[0], root=tmp_path / "store")
    assert not before.cache_hit
    assert extract(load_model(str(folder)), task, sites=("mlp",), layers=[0], root=tmp_path / "store").cache_hit
    cfg = json.loads((folder / "config.json").read_text())
    cfg["vision_feature_layer"] = -2 if cfg.get("vision_feature_layer", -1) != -2 else -1
    (folder / "config.json").write_text(json.dumps(cfg))
    after = extract(load_model(str(folder)), task, sites=("mlp",), layers=[0], root=tmp_path / "store")
    assert not after.cache_hit and after.key != before.key
    assert not np.array_equal(after.get("mlp", 0), before.get("mlp", 0))  # the edit really changed the values


def test_trace_run_returns_each_pass_its_own_values(tiny_llava):
    a_in = tiny_llava.encode(_images(1, seed=1), _prompts(tiny_llava, 1))
    b_in = tiny_llava.encode(_images(1, seed=2), _prompts(tiny_llava, 1))
    with Trace(tiny_llava, [("mlp", 1)]) as tr:
        a = tr.run(a_in)
        b = tr.run(b_in)
    assert a is not b and not torch.equal(a[site_name("mlp", 1)], b[site_name("mlp", 1)])


# ---------------------------------------------------------------------------------------------- loading
def test_device_map_on_a_cpu_machine_keeps_float32(tiny_llava_dir):
    if torch.cuda.is_available():
        pytest.skip("checks the CPU default")
    loaded = load_model(str(tiny_llava_dir), device_map="auto")
    assert loaded.dtype == torch.float32 and next(loaded.model.parameters()).dtype == torch.float32


def test_load_model_errors_are_clear_and_fast(tmp_path):
    t0 = time.perf_counter()
    with pytest.raises(UnknownModelError, match="not in the local Hugging Face cache|neither a local folder"):
        load_model("some-org/some-model-that-is-not-cached")
    # A generous bound (a loaded CI machine needs seconds to import); a network attempt would hang far longer.
    assert time.perf_counter() - t0 < 60, "an uncached hub id must fail fast, not hang on the network"
    (tmp_path / "empty").mkdir()
    with pytest.raises(UnknownModelError, match="no config.json"):
        load_model(str(tmp_path / "empty"))
    with pytest.raises(ValueError, match="unknown dtype"):
        load_model("demo", dtype="int3")


def test_load_model_refuses_pickles_and_unknown_architectures(tiny_llava_dir, tmp_path):
    import json
    import shutil

    pkl = tmp_path / "pickled"
    shutil.copytree(tiny_llava_dir, pkl)
    for f in pkl.glob("*.safetensors"):
        f.rename(f.with_suffix(".bin"))
    with pytest.raises(UnknownModelError, match="refused"):
        load_model(str(pkl))
    odd = tmp_path / "odd"
    shutil.copytree(tiny_llava_dir, odd)
    cfg = json.loads((odd / "config.json").read_text())
    cfg["model_type"] = "mamba"
    (odd / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(UnknownModelError, match="model_type='mamba'.*no adapter"):
        load_model(str(odd))


def test_weights_hash_is_cached_by_size_and_mtime(tiny_llava_dir, tmp_path, sn_cache):
    import shutil

    folder = tmp_path / "m"
    shutil.copytree(tiny_llava_dir, folder)
    h1 = weights_hash(folder)
    assert (sn_cache / "weights-hash.json").is_file()
    assert weights_hash(folder) == h1
    f = next(folder.glob("*.safetensors"))
    st0 = f.stat()
    data = bytearray(f.read_bytes())
    data[-1] ^= 0xFF
    f.write_bytes(bytes(data))
    # Same size and modification time: the cached hash is answered (the file is not read again) ...
    os.utime(f, ns=(st0.st_atime_ns, st0.st_mtime_ns))
    assert weights_hash(folder) == h1
    # ... a new modification time rehashes.
    os.utime(f, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert weights_hash(folder) != h1


# ---------------------------------------------------------------------------------------------- demo model
def test_demo_early_exit_equals_full_forward_for_several_layers(demo_loaded):
    from sn_core.classifier.estimator import SuperNeuronClassifier
    from sn_core.shortcut.early_exit import EarlyExitPredictor

    task = get_task("shapes-count", 3, seed=5)
    imgs = [e.image for e in task.examples]
    qs = [e.question for e in task.examples]
    inputs = demo_loaded.encode(imgs, [demo_loaded.prompt(task.prompt_text(q)) for q in qs])
    ref = _reference_values(demo_loaded, inputs)
    before = _all_hooks(demo_loaded.model)
    for layer in (0, 2, 5):
        nid = f"blocks.{layer}.hook_resid_post[17]" if layer < 5 else f"blocks.{layer}.mlp.hook_post[101]"
        clf = SuperNeuronClassifier(neurons=(nid,)).fit(np.arange(6.0)[:, None], list("aabbab"))
        clf.meta_ = {"instruction": task.instruction}
        vals = EarlyExitPredictor(demo_loaded, clf).values(imgs, qs)[:, 0]
        want = ref[nid.split("[")[0]][:, 17 if layer < 5 else 101].numpy()
        assert torch.allclose(torch.from_numpy(vals).float(), torch.from_numpy(want), atol=1e-5), (nid, vals, want)
    assert _all_hooks(demo_loaded.model) == before and _our_hooks(demo_loaded.model) == 0


def test_demo_left_padding_and_site_shapes(demo_loaded):
    exs = get_task("shapes-exists", 2, seed=1).examples + get_task("digits-class", 2, seed=1).examples
    prompts = [demo_loaded.prompt(e.question + " Answer with one word.") for e in exs]
    ids = [len(demo_loaded.processor.tokenizer(p)["input_ids"]) for p in prompts]
    assert len(set(ids)) > 1
    imgs = [e.image for e in exs]
    b = read_activations(demo_loaded, imgs, prompts, sites=SITES, layers=[0, 3], batch_size=4)
    s = read_activations(demo_loaded, imgs, prompts, sites=SITES, layers=[0, 3], batch_size=1)
    for name in b:
        kind = {"mlp.hook_post": "mlp", "hook_resid_post": "resid", "attn.hook_z": "attn"}[name.split(".", 2)[2]]
        assert b[name].shape == (4, demo_loaded.widths[kind])
        np.testing.assert_allclose(b[name], s[name], atol=2e-5, rtol=1e-4, err_msg=name)


def test_demo_search_beats_chance_on_the_held_out_split(demo_loaded, sn_cache):
    """The trained demo model has a neuron that reads out the colour: its held-out accuracy is far above chance
    (4 classes, 25%) and above the shuffled-label null control's chance level."""
    from sn_core.config import SearchConfig
    from sn_core.search.run import run_search

    cfg = SearchConfig(task="shapes-color", n_examples=72, probe_per_class=8, l_max=3, baselines=False,
                       batch_size=36)
    res = run_search(cfg, loaded=demo_loaded)
    s = res.summary
    assert s.n_test == 40 and s.n_probe == 32
    assert set(res.split.probe).isdisjoint(res.split.test)
    assert s.sn_layer <= 3
    assert s.sn_test_accuracy >= 0.85, s
    # the shuffled-label control: the best neuron under shuffled probe labels stays well below the real one
    assert s.sn_probe_accuracy > s.null_probe_accuracy and s.sn_test_accuracy > s.null_probe_accuracy, s


def test_chance_is_the_majority_rate_of_the_test_split(tiny_llava, sn_cache):
    """On imbalanced data, always answering the most frequent label beats 1/C: that is the floor reported."""
    from sn_core.config import SearchConfig
    from sn_core.search.run import run_search

    base = get_task("shapes-color", 40, seed=3)
    keep = [e for e in base.examples if e.label == "red"] + [e for e in base.examples if e.label == "blue"][:4]
    task = Task("imbalanced", ("blue", "red"), keep)  # 10 red, 4 blue
    res = run_search(SearchConfig(task="imbalanced", probe_per_class=2, layers=(0,), baselines=False, batch_size=8),
                     task=task, loaded=tiny_llava)
    y_test = [task.examples[i].label for i in res.split.test]
    assert len(y_test) == 10 and y_test.count("red") == 8
    assert res.summary.chance == 0.8 and res.summary.n_classes == 2


def test_concurrent_threads_do_not_read_each_others_forward_passes(tiny_llava):
    """Hooks are global state on a shared model (the app serves several sessions from one model): two threads
    extracting different layers at once must each get exactly their own values."""
    import threading

    imgs, prompts = _images(4), _prompts(tiny_llava, 4)
    want = {L: read_activations(tiny_llava, imgs, prompts, sites=("mlp",), layers=[L], batch_size=1)
            for L in (0, 2)}
    got, errors = {}, []

    def work(L):
        try:
            for _ in range(3):
                got[L] = read_activations(tiny_llava, imgs, prompts, sites=("mlp",), layers=[L], batch_size=1)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(L,)) for L in (0, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for L in (0, 2):
        np.testing.assert_array_equal(got[L][site_name("mlp", L)], want[L][site_name("mlp", L)])
    assert _our_hooks(tiny_llava.model) == 0
