"""sn_core.shortcut.timing: one warm-up per path, then repeats interleaved path by path, median per path."""
from sn_core.shortcut.timing import median_seconds, time_chunks_interleaved, time_interleaved


def test_median_seconds_warms_up_then_interleaves():
    calls, values = [], {"a": iter([9.0, 1.0, 3.0, 2.0]), "b": iter([9.0, 5.0, 4.0, 6.0])}

    def path(name):
        def run():
            calls.append(name)
            return next(values[name])
        return run

    med = median_seconds({"a": path("a"), "b": path("b")}, 3, on_repeat=lambda i: calls.append(f"r{i}"))
    assert med == {"a": 2.0, "b": 5.0}  # the warm-up values (9.0) are dropped
    assert calls == ["a", "b", "r0", "a", "b", "r1", "b", "a", "r2", "a", "b"]  # the order rotates per repeat


def test_median_seconds_uses_the_given_warmup():
    calls = []
    med = median_seconds({"a": lambda: calls.append("a") or 1.0}, 2, warmup={"a": lambda: calls.append("warm")})
    assert med == {"a": 1.0} and calls == ["warm", "a", "a"]


def test_wall_clock_helpers_call_each_path_as_documented():
    calls = []
    med = time_interleaved({"x": lambda: calls.append("x"), "y": lambda: calls.append("y")}, 2)
    assert set(med) == {"x", "y"} and all(v >= 0 for v in med.values())
    assert calls == ["x", "y", "x", "y", "y", "x"]  # warm-up, repeat 0, repeat 1 (order rotated)
    chunks = []
    med = time_chunks_interleaved({"x": lambda i: chunks.append(("x", i)), "y": lambda i: chunks.append(("y", i))},
                                  2, 2)
    assert set(med) == {"x", "y"}
    assert chunks[:4] == [("x", 0), ("x", 1), ("y", 0), ("y", 1)]  # warm-up pass, path by path
    assert chunks[4:8] == [("x", 0), ("y", 0), ("x", 1), ("y", 1)]  # repeat 0: x first
    assert chunks[8:] == [("y", 0), ("x", 0), ("y", 1), ("x", 1)]  # repeat 1: order rotated
