"""Family processors: image-only loading without torchvision, settings surviving save/load, the Qwen-VL pixel
budget. Select with ``pytest -k families``."""
from __future__ import annotations

import json

import pytest
from PIL import Image

from sn_core.models.processors import image_only, load_processor
from sn_core.models.families.qwen2_vl import pin_pixel_budget
from sn_core.models.tiny import save_tiny_vlm, tiny_vlm


def _torchvision_missing() -> bool:
    try:
        import torchvision  # noqa: F401
        return False
    except ImportError:
        return True


@pytest.mark.parametrize("family,cls_name,setting,value", [
    ("smolvlm", "SmolVLMProcessor", "image_seq_len", 4),
    ("llava_onevision", "LlavaOnevisionProcessor", "num_image_tokens", 16),
    ("qwen2_vl", "Qwen2VLProcessor", None, None),
])
def test_families_image_only_processor_round_trip(family, cls_name, setting, value, tmp_path):
    import transformers

    folder = save_tiny_vlm(family, tmp_path / family)
    saved = json.loads((folder / "processor_config.json").read_text())
    assert saved["processor_class"] == cls_name  # the real class name, loadable with torchvision too
    proc = load_processor(folder, getattr(transformers, cls_name))
    assert type(proc).__name__ == cls_name
    if setting:
        assert saved[setting] == value and getattr(proc, setting) == value  # not reset to the class default
    if _torchvision_missing():
        with pytest.raises(RuntimeError, match="videos are not supported"):
            proc.video_processor([])


def test_families_load_processor_reraises_unrelated_errors(tmp_path):
    from transformers import Qwen2VLProcessor

    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(Exception) as info:
        load_processor(tmp_path, Qwen2VLProcessor)
    assert "video" not in str(info.value).lower()


def test_families_image_only_keeps_parent_arguments():
    import inspect

    from transformers import LlavaOnevisionProcessor

    sub = image_only(LlavaOnevisionProcessor)
    assert sub is image_only(LlavaOnevisionProcessor)  # one class per parent
    params = list(inspect.signature(sub.__init__).parameters)
    assert "video_processor" not in params
    assert params[:3] == ["self", "image_processor", "tokenizer"]
    assert {"num_image_tokens", "vision_feature_select_strategy", "vision_aspect_ratio"} <= set(params)
    assert sub.get_attributes() == ["image_processor", "tokenizer"]


def test_families_qwen_pixel_budget_is_fixed_and_never_raised():
    from transformers import Qwen2VLImageProcessorPil

    hub_like = Qwen2VLImageProcessorPil(patch_size=14, merge_size=2, min_pixels=56 * 56, max_pixels=28 * 28 * 1280)
    assert pin_pixel_budget(hub_like, 256) == 256 * 28 * 28  # 448 x 448 px
    tokens = []
    for size in [(48, 48), (900, 900), (400, 200)]:
        out = hub_like(images=[Image.new("RGB", size, "white")], return_tensors="pt")
        tokens.append(int(out["image_grid_thw"][0].prod()) // 4)  # merged 2x2 -> LLM tokens
    assert tokens[0] == tokens[1] == 256  # a small and a large square image: the same 16 x 16 tokens
    assert 220 <= tokens[2] <= 300  # aspect ratio kept: about the budget (rounded to whole 28 px patches)

    _, proc = tiny_vlm("qwen2_vl")  # the tiny checkpoint pins 16 x 16 px: the budget must not raise it
    ip = proc.image_processor
    assert pin_pixel_budget(ip, 256) == 16 * 16
    out = ip(images=[Image.new("RGB", (64, 32), "white")], return_tensors="pt")
    assert int(out["image_grid_thw"][0].prod()) // 4 <= 4


def test_families_qwen_adapter_pins_budget_on_load(tmp_path):
    from sn_core.models import load_model

    folder = save_tiny_vlm("qwen2_5_vl", tmp_path / "q")
    cfg = json.loads((folder / "processor_config.json").read_text())
    cfg["image_processor"]["size"] = {"shortest_edge": 8 * 8, "longest_edge": 64 * 64}  # a range, as on the hub
    (folder / "processor_config.json").write_text(json.dumps(cfg))
    loaded = load_model(str(folder))
    size = loaded.processor.image_processor.size
    assert size["shortest_edge"] == size["longest_edge"] == 64 * 64  # min(256 * 8^2, max_pixels)
    batch = loaded.encode([Image.new("RGB", (20, 20), "red"), Image.new("RGB", (200, 200), "blue")],
                          [loaded.prompt("What color is the shape?")] * 2)
    # both images -> 64 x 64 px -> 16 x 16 patches of 4 px -> 64 tokens after the 2 x 2 merge
    assert batch["image_grid_thw"].tolist() == [[1, 16, 16], [1, 16, 16]]
    assert int((batch["mm_token_type_ids"][0] == 1).sum()) == 64
