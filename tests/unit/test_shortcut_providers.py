"""Which onnxruntime execution providers a shortcut opens on (``load_shortcut(providers=...)``, ``predict
--shortcut --device``): requested providers onnxruntime lacks are one-line errors, before any file is read."""
from __future__ import annotations

import pytest

from sn_core.shortcut.card import ShortcutError
from sn_core.shortcut.runtime import DEVICE_PROVIDERS, _providers


class FakeOrt:
    def __init__(self, have):
        self.have = list(have)

    def get_available_providers(self):
        return self.have


def test_default_is_the_cpu_provider():
    assert _providers(FakeOrt(["CPUExecutionProvider"]), None) == ["CPUExecutionProvider"]


def test_cuda_without_the_gpu_wheel_names_the_wheel():
    with pytest.raises(ShortcutError, match="no CUDAExecutionProvider .*onnxruntime-gpu.*offers CPUExecutionProvider"):
        _providers(FakeOrt(["CPUExecutionProvider"]), DEVICE_PROVIDERS["cuda"])


def test_cuda_with_the_gpu_wheel_keeps_order_and_options():
    ort = FakeOrt(["CUDAExecutionProvider", "CPUExecutionProvider"])
    assert _providers(ort, DEVICE_PROVIDERS["cuda"]) == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    got = _providers(ort, [("CUDAExecutionProvider", {"device_id": 1}), "CPUExecutionProvider"])
    assert got == [("CUDAExecutionProvider", {"device_id": 1}), "CPUExecutionProvider"]
    assert _providers(ort, "CPUExecutionProvider") == ["CPUExecutionProvider"]


def test_unknown_or_empty_provider_lists_are_refused():
    with pytest.raises(ShortcutError, match="no TensorrtExecutionProvider"):
        _providers(FakeOrt(["CPUExecutionProvider"]), ["TensorrtExecutionProvider"])
    with pytest.raises(ShortcutError, match="no onnxruntime execution provider"):
        _providers(FakeOrt(["CPUExecutionProvider"]), [])


def test_a_missing_provider_is_refused_before_the_folder_is_read(tmp_path, monkeypatch):
    import onnxruntime

    from sn_core.shortcut import load_shortcut

    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CPUExecutionProvider"])
    with pytest.raises(ShortcutError, match="no CUDAExecutionProvider"):
        load_shortcut(tmp_path / "not-there", providers=["CUDAExecutionProvider"])
