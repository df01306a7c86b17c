"""The plotly figure builders (sn_core/plots.py): display arithmetic checked against brute force, and the
figures carry the numbers they were given."""
import numpy as np
import pandas as pd
import pytest

from sn_core.plots import search_figures as plots


def test_bin_max_matches_brute_force():
    rng = np.random.default_rng(0)
    scores = rng.random((5, 1000))
    binned, starts = plots.bin_max(scores, max_bins=64)
    assert binned.shape == (5, 64) and starts[0] == 0 and len(starts) == 64
    ends = np.append(starts[1:], 1000)
    assert np.all(np.diff(starts) > 0) and ends[-1] == 1000
    for j, (a, b) in enumerate(zip(starts, ends)):
        np.testing.assert_array_equal(binned[:, j], scores[:, a:b].max(axis=1))
    # the global best neuron survives binning
    assert binned.max() == scores.max()


def test_bin_max_narrow_layer_is_unchanged_and_nan_is_ignored():
    s = np.array([[0.5, np.nan, 0.7], [np.nan, np.nan, np.nan]])
    b, starts = plots.bin_max(s, 8)
    np.testing.assert_array_equal(starts, [0, 1, 2])
    np.testing.assert_array_equal(b, s)
    wide = np.full((1, 10), np.nan)
    wide[0, 7] = 0.9
    b, starts = plots.bin_max(wide, 2)  # bins [0,5) and [5,10)
    assert np.isnan(b[0, 0]) and b[0, 1] == 0.9


@pytest.mark.parametrize("bad,msg", [(np.zeros(5), "2-D"), (np.zeros((2, 3)), "max_bins")])
def test_bin_max_errors_name_the_problem(bad, msg):
    with pytest.raises(ValueError, match=msg):
        plots.bin_max(bad, 0 if msg == "max_bins" else 4)


def test_layer_heatmap_hover_names_bins():
    s = np.random.default_rng(1).random((3, 300))
    fig = plots.layer_heatmap(s, [0, 2, 4], "mlp", max_bins=100, chance=0.25)
    hm = fig.data[0]
    assert np.asarray(hm.z).shape == (3, 100)
    assert list(hm.y) == ["0", "2", "4"]
    assert hm.customdata[0][0] == "0-2" and hm.zmin == 0.25
    assert "max per bin" in fig.layout.xaxis.title.text


def test_confusion_matrix_counts_and_other_column():
    fig = plots.confusion_matrix(["a", "a", "b", "b", "b"], ["a", "b", "b", "b", "zzz"], ["a", "b"])
    z = np.asarray(fig.data[0].z)
    assert list(fig.data[0].x) == ["a", "b", "other"]
    np.testing.assert_array_equal(z, [[1, 1, 0], [0, 2, 1]])
    assert z.sum() == 5


def test_class_histograms_counts_every_example_once_per_panel():
    rng = np.random.default_rng(2)
    v = rng.normal(size=50)
    lab = np.array(["x", "y"] * 25)
    fig = plots.class_histograms({"probe": (v[:20], lab[:20]), "test": (v[20:], lab[20:])}, ["x", "y"],
                                 threshold=0.1)
    per_panel = {}
    for tr in fig.data:
        per_panel[tr.xaxis] = per_panel.get(tr.xaxis, 0) + int(np.sum(tr.y))
    assert sorted(per_panel.values()) == [20, 30]
    assert sum(sh.x0 == 0.1 for sh in fig.layout.shapes) == 2  # the threshold line, in both panels
    texts = [a.text for a in fig.layout.annotations]
    assert texts.count("threshold") == 1 and None not in texts  # labelled once; no placeholder ("new text")


def test_best_per_layer_and_reference_lines():
    t = pd.DataFrame({"layer": [0, 1, 2], "probe_score": [0.5, 0.8, 0.9], "test_accuracy": [0.45, 0.7, 0.85]})
    fig = plots.best_per_layer(t, base_accuracy=0.95, null_control=0.6, chance=0.25)
    names = [tr.name for tr in fig.data]
    assert any("base model (0.95)" == n for n in names) and any("null control (0.60)" == n for n in names)
    assert {sh.y0 for sh in fig.layout.shapes} == {0.95, 0.6, 0.25}
    with pytest.raises(ValueError, match="layer"):
        plots.best_per_layer(pd.DataFrame({"x": [1]}))


def test_compare_figures_validate_columns():
    with pytest.raises(ValueError, match="test_accuracy"):
        plots.accuracy_bars(pd.DataFrame({"method": ["a"]}))
    with pytest.raises(ValueError, match="ms_per_example"):
        plots.latency_bars(pd.DataFrame({"path": ["a"]}))
    fig = plots.latency_bars(pd.DataFrame({"path": ["full", "early", "full", "early"], "batch_size": [1, 1, 8, 8],
                                           "ms_per_example": [10.0, 2.0, 4.0, 1.0]}))
    assert [tr.name for tr in fig.data] == ["full", "early"]
    assert list(fig.data[0].y) == [10.0, 4.0]


def _fitted_params(rule, y):
    """``SearchResult.neuron_params``'s dict (``SuperNeuronClassifier.neuron_rule``) for one fitted neuron."""
    from sn_core.classifier.estimator import SuperNeuronClassifier

    x = np.where(np.asarray(y) == "yes", 2.0, -1.0)[:, None] + np.linspace(0, 0.5, len(y))[:, None]
    return SuperNeuronClassifier(neurons=("blocks.0.mlp.hook_post[1]",), rule=rule).fit(x, y).neuron_rule(0)


@pytest.mark.parametrize("rule", ["stump", "nearest_mean", "ovr_stump"])
def test_rule_lines_and_caption_follow_the_rule_on_a_binary_task(rule):
    """Each rule draws its own lines and says what they are (a binary nearest-mean or one-vs-rest neuron has no
    single threshold: no 'threshold nan' text and no missing dashed line)."""
    y = ["yes", "no"] * 6
    params = _fitted_params(rule, y)
    guides = plots.rule_guides(params, ["yes", "no"])
    caption = plots.rule_caption(params)
    assert "nan" not in caption
    fig = plots.class_histograms({"probe": (np.arange(12.0), y)}, ["yes", "no"], **guides)
    lines = [s for s in fig.layout.shapes if s.type == "line"]
    if rule == "stump":
        assert set(guides) == {"threshold"} and np.isfinite(guides["threshold"])
        assert "above" in caption and "'yes'" in caption and len(lines) == 1 and lines[0].line.dash == "dash"
    elif rule == "nearest_mean":
        assert set(guides) == {"class_means"} and "mean is nearest" in caption
        assert len(lines) == 2 and all(s.line.dash == "dot" for s in lines)
    else:
        assert set(guides) == {"class_thresholds"} and "One-vs-rest" in caption
        assert len(lines) == 2 and all(s.line.dash == "dash" for s in lines)
