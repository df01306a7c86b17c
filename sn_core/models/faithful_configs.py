"""Checkpoint configs of the config-faithful models (:mod:`sn_core.models.config_faithful`) and how they are
scaled: reading ``sn_core/models/checkpoint_configs/<family>/``, cutting the decoder, tiny widths, M-RoPE sections
rescaled in proportion, and the registry of family builders (:mod:`sn_core.models.faithful_builds`) with the helpers
they share."""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path

CONFIG_DIR = Path(__file__).resolve().parent / "checkpoint_configs"
MODES = ("tiny", "real")

# tiny text model: 4 heads of d_model // 4; key/value heads 2 (grouped) or 4 (when the checkpoint is multi-head)
TINY_HEADS = 4
TINY_VISION = dict(width=32, mlp=64, heads=2, patch=4)


def checkpoint_files(family: str) -> dict[str, dict]:
    """The stored JSON files of ``family``'s example checkpoint, by file name."""
    folder = CONFIG_DIR / family
    if not folder.is_dir():
        raise ValueError(f"no checkpoint configs for {family!r} in {CONFIG_DIR}")
    return {p.name: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))}


def real_config(family: str):
    """The example checkpoint's full config object (transformers' class, hub values, class defaults elsewhere)."""
    from transformers import CONFIG_MAPPING

    raw = checkpoint_files(family)["config.json"]
    return CONFIG_MAPPING[raw["model_type"]](**copy.deepcopy(raw))


_VISION_INDEX_KEYS = ("fullatt_block_indexes", "deepstack_visual_indexes")


def shallow_vision_files(files: dict[str, dict], depth: int) -> dict[str, dict]:
    """``files`` with the vision tower cut to ``depth`` blocks (a copy): the block indexes that name a kind of block
    (Qwen2.5-VL's full-attention blocks, Qwen3-VL's DeepStack taps) are remapped in proportion, so the pattern
    stays (every fourth block full-attention; taps spread over the tower). ``vision_feature_layer`` counts from the
    end and needs no change. For tests whose cost grows with the tower's depth (graph export)."""
    from transformers import CONFIG_MAPPING

    out = copy.deepcopy(files)
    cfg = out["config.json"]
    vc = cfg.setdefault("vision_config", {})
    real = CONFIG_MAPPING[cfg["model_type"]](**copy.deepcopy(files["config.json"])).vision_config
    key = "depth" if hasattr(real, "depth") else "num_hidden_layers"
    real_depth = int(getattr(real, key))
    if not 1 <= depth <= real_depth:
        raise ValueError(f"vision depth must be 1..{real_depth} for {cfg['model_type']}, got {depth}")
    vc[key] = depth
    for k in _VISION_INDEX_KEYS:
        idx = getattr(real, k, None)
        if idx:
            new = sorted({max(0, round((int(i) + 1) * depth / real_depth) - 1) for i in idx})
            if len(new) != len(idx):
                raise ValueError(f"vision depth {depth} is too shallow for {k} {list(idx)}")
            vc[k] = new
    return out


# ----------------------------------------------------------------------------------------------------- scaling
_NOT_ARCHITECTURE = ("architectures", "_name_or_path", "torch_dtype", "dtype", "transformers_version")


def strip_bookkeeping(d: dict) -> dict:
    """A deep copy without bookkeeping keys (the storage dtype too: every build is float32 until loaded)."""
    if isinstance(d, dict):
        return {k: strip_bookkeeping(v) for k, v in d.items() if k not in _NOT_ARCHITECTURE}
    return copy.deepcopy(d)


def scale_sections(sections: list[int], half: int) -> list[int]:
    """M-RoPE (time, height, width) sections rescaled to sum to ``half`` (head_dim / 2), in proportion, largest
    remainders first, each at least 1."""
    total = sum(sections)
    exact = [s * half / total for s in sections]
    out = [max(1, int(x)) for x in exact]
    order = sorted(range(len(out)), key=lambda i: exact[i] - int(exact[i]), reverse=True)
    i = 0
    while sum(out) < half:
        out[order[i % len(out)]] += 1
        i += 1
    while sum(out) > half:
        j = max(range(len(out)), key=lambda k: out[k])
        out[j] -= 1
    return out


def _rescale_mrope(obj, half: int):
    if isinstance(obj, dict):
        return {k: (scale_sections(v, half) if k == "mrope_section" and isinstance(v, list)
                    else _rescale_mrope(v, half)) for k, v in obj.items()}
    return obj


def _layer_types(real: list[str] | None, n: int) -> list[str] | None:
    if not real:
        return None
    return [real[i % len(real)] for i in range(n)]


def text_dict(cfg) -> dict:
    tc = cfg.text_config if hasattr(cfg, "text_config") and cfg.text_config is not None else cfg
    return tc.to_dict()


def scaled_text(real_text: dict, n_layers: int, mode: str, d_model: int, d_mlp: int, vocab: int,
                ids: dict[str, int | list[int] | None]) -> dict:
    """The text config dict: ``real_text`` with the decoder cut to ``n_layers`` and, in tiny mode, widths set."""
    t = strip_bookkeeping(real_text)
    full_layers = int(t["num_hidden_layers"])
    real_heads = int(t["num_attention_heads"])
    real_kv = int(t.get("num_key_value_heads") or real_heads)
    real_hd = int(t.get("head_dim") or t["hidden_size"] // real_heads)
    t["num_hidden_layers"] = n_layers
    t["layer_types"] = _layer_types(t.get("layer_types"), n_layers)
    if t["layer_types"] is None:
        t.pop("layer_types")
    t["vocab_size"] = max(int(t.get("vocab_size") or 0), vocab) if mode == "real" else vocab
    if mode == "tiny":
        if d_model % (2 * TINY_HEADS):
            raise ValueError(f"d_model must be a multiple of 8 (4 heads with an even head_dim), got {d_model}")
        hd = d_model // TINY_HEADS
        t.update(hidden_size=d_model, intermediate_size=d_mlp, num_attention_heads=TINY_HEADS,
                 num_key_value_heads=TINY_HEADS if real_kv == real_heads else TINY_HEADS // 2, head_dim=hd)
        if t.get("query_pre_attn_scalar"):  # Gemma: the attention scale follows the head size
            t["query_pre_attn_scalar"] = max(1, round(float(t["query_pre_attn_scalar"]) * hd / real_hd))
        for key in ("rope_parameters", "rope_scaling"):
            if t.get(key):
                t[key] = _rescale_mrope(t[key], hd // 2)
    for k, v in ids.items():
        if k in t or k in ("bos_token_id", "eos_token_id", "pad_token_id"):
            t[k] = v
    if mode == "real":
        t["sn_full_depth"] = full_layers
    return t


# ----------------------------------------------------------------------------------------------------- families
@dataclass(frozen=True)
class FamilyBuild:
    name: str
    model_type: str
    checkpoint: str
    builder: callable  # (files, mode, n_layers, d_model, d_mlp) -> (model, processor)


BUILDS: dict[str, FamilyBuild] = {}


def register(name: str, model_type: str, checkpoint: str):
    def deco(fn):
        BUILDS[name] = FamilyBuild(name, model_type, checkpoint, fn)
        return fn
    return deco


def tokenizer(specials, tpl, extra, bos=None, eos=None, pad="<pad>"):
    from sn_core.models.tokenizers import tiny_tokenizer

    return tiny_tokenizer(specials, tpl, extra, bos=bos, eos=eos, pad=pad)


def token_id(tok, name: str) -> int:
    i = tok.convert_tokens_to_ids(name)
    if i is None or i == tok.unk_token_id:
        raise ValueError(f"token {name!r} missing from the tiny tokenizer")
    return int(i)


def scaled_vision(vc: dict, mode: str, *, width_key="hidden_size", mlp_key="intermediate_size",
                  heads_key="num_attention_heads", patch_key="patch_size", **sizes) -> dict:
    v = strip_bookkeeping(vc)
    if mode == "tiny":
        v[width_key] = TINY_VISION["width"]
        if mlp_key:
            v[mlp_key] = TINY_VISION["mlp"]
        v[heads_key] = TINY_VISION["heads"]
        v[patch_key] = TINY_VISION["patch"]
    v.update(sizes)
    return v


def finish(model, tok):
    gc = model.generation_config
    gc.pad_token_id, gc.eos_token_id, gc.bos_token_id = tok.pad_token_id, tok.eos_token_id, tok.bos_token_id
    gc.do_sample = False
    return model


def special_ids(tok) -> dict:
    return dict(bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
