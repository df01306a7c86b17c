"""Processors of video-capable families (Qwen-VL, LLaVA-OneVision, SmolVLM) without torchvision.

In transformers 5.24 every video processor is torchvision-backed, and ``ProcessorMixin`` checks each sub-processor
against ``transformers.VideoProcessorMixin``, which is not even exported without torchvision. So
``AutoProcessor.from_pretrained`` fails for these families on a machine without torchvision (such as this
project's CI), although their image processors have pure-Pillow versions. Super Neuron Explorer only feeds still
images, so :func:`image_only` builds the family's own processor class minus its video processor, and
:func:`load_processor` falls back to it when (and only when) the normal load fails for lack of torchvision.
The prompt expansion, image-token counts and extra inputs (``image_grid_thw``, ``mm_token_type_ids``,
``pixel_attention_mask``) are then exactly those of the family's processor: nothing is reimplemented here.
"""
from __future__ import annotations

import functools
import inspect
from pathlib import Path

from transformers import AutoProcessor


class NoVideoProcessor:
    """Stands in for the missing video processor: the attributes processors read when formatting a chat
    (SmolVLM reads ``num_frames``/``fps``) are ``None``; calling it says why videos are unsupported."""

    num_frames = None
    fps = None

    def __call__(self, *args, **kwargs):
        raise RuntimeError("videos are not supported: this processor was built without a video processor "
                           "(torchvision is not installed)")


@functools.cache
def image_only(processor_cls: type) -> type:
    """A subclass of ``processor_cls`` whose only sub-processors are the image processor and the tokenizer.

    The subclass keeps the parent's class name, so ``save_pretrained`` records the real ``processor_class`` and a
    machine with torchvision loads the saved folder with the full processor.
    """

    # ProcessorMixin reads the names of __init__'s arguments (its code object, not just its signature) to decide
    # which settings (image_seq_len, num_image_tokens, ...) save_pretrained writes and from_pretrained passes
    # back, so the subclass's __init__ is generated with the parent's arguments minus video_processor.
    sig = inspect.signature(processor_cls.__init__)
    names = [p.name for p in sig.parameters.values()
             if p.kind is p.POSITIONAL_OR_KEYWORD and p.name not in ("self", "video_processor")]
    if names[:2] != ["image_processor", "tokenizer"]:
        raise TypeError(f"{processor_cls.__name__} does not start with (image_processor, tokenizer): {names}")
    defaults = {p.name: (None if p.default is p.empty else p.default) for p in sig.parameters.values()}
    rest = names[2:]
    src = (f"def __init__(self, {', '.join(f'{n}=_defaults[{n!r}]' for n in names)}, **kwargs):\n"
           f"    _parent.__init__(self, image_processor, tokenizer, None, "
           f"{''.join(f'{n}={n}, ' for n in rest)}**kwargs)\n")
    scope = {"_defaults": defaults, "_parent": processor_cls}
    exec(src, scope)  # noqa: S102 - source built above from the parent's own argument names
    __init__ = scope["__init__"]

    sub = type(processor_cls.__name__, (processor_cls,), {
        "__init__": __init__, "__module__": __name__, "video_processor": NoVideoProcessor(),
        "__doc__": f"{processor_cls.__name__} for still images only (no torchvision needed)."})
    return sub


def load_processor(path: str | Path, processor_cls: type, **kwargs):
    """``AutoProcessor.from_pretrained(path)``, or the image-only ``processor_cls`` when torchvision is missing.

    Any other failure is re-raised unchanged, so a broken folder is not hidden behind the fallback.
    """
    try:
        return AutoProcessor.from_pretrained(path, **kwargs)
    except (ImportError, OSError, TypeError, AttributeError, ValueError) as err:
        if not _video_processor_unavailable(err):
            raise
    return image_only(processor_cls).from_pretrained(path, **kwargs)


def _video_processor_unavailable(err: Exception) -> bool:
    """True when ``err`` comes from the video processor alone: torchvision is missing, or the folder has no video
    processor config (an image-only folder, such as those written by :mod:`sn_core.models.tiny`)."""
    text = str(err).lower()
    if "video processor" in text or "video_preprocessor" in text:
        return True
    try:
        import torchvision  # noqa: F401
        return False
    except ImportError:
        return "torchvision" in text or "videoprocessormixin" in text or "video_processor_mapping" in text
