"""Site names and neuron ids, spelled as in TransformerLens (docs/method.md, "Sites").

One name per tensor, everywhere (score tables, cache keys, plots, tests):

| kind      | hook name                   | tensor                                                     |
|-----------|-----------------------------|------------------------------------------------------------|
| ``mlp``   | ``blocks.{L}.mlp.hook_post``  | input of ``layers[L].mlp.down_proj``  [batch, pos, d_mlp]  |
| ``resid`` | ``blocks.{L}.hook_resid_post``| output of ``layers[L]``               [batch, pos, d_model]|
| ``attn``  | ``blocks.{L}.attn.hook_z``    | input of ``layers[L].self_attn.o_proj`` [batch, pos, n_heads*d_head] |

A neuron is one scalar of a site read at the read position: ``blocks.3.mlp.hook_post[17]``.
"""
from __future__ import annotations

import numbers
import re

SITE_KINDS = ("mlp", "resid", "attn")
HOOK_SUFFIX = {"mlp": "mlp.hook_post", "resid": "hook_resid_post", "attn": "attn.hook_z"}
_SUFFIX_TO_KIND = {v: k for k, v in HOOK_SUFFIX.items()}
# Spellings accepted on the command line and in configs, mapped to the canonical kind.
_ALIASES = {
    "mlp": "mlp", "mlp.hook_post": "mlp", "hook_post": "mlp", "mlp_post": "mlp",
    "resid": "resid", "hook_resid_post": "resid", "resid_post": "resid", "residual": "resid",
    "attn": "attn", "attn.hook_z": "attn", "hook_z": "attn", "z": "attn",
}
_SITE_RE = re.compile(r"^blocks\.(\d+)\.(mlp\.hook_post|hook_resid_post|attn\.hook_z)$")
_NEURON_RE = re.compile(r"^blocks\.(\d+)\.(mlp\.hook_post|hook_resid_post|attn\.hook_z)\[(\d+)\]$")


def site_kind(text: str) -> str:
    """The canonical kind (``mlp``, ``resid``, ``attn``) for any accepted spelling; ValueError otherwise."""
    key = str(text).strip().lower()
    if key not in _ALIASES:
        raise ValueError(f"unknown site {text!r}; use one of {', '.join(SITE_KINDS)} "
                         f"({', '.join(HOOK_SUFFIX[k] for k in SITE_KINDS)})")
    return _ALIASES[key]


def _check_int(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{what} must be an integer, got {value!r}")
    if value < 0:
        raise ValueError(f"{what} must be >= 0, got {value}")
    return int(value)


def site_name(kind: str, layer: int) -> str:
    """``site_name("mlp", 3) == "blocks.3.mlp.hook_post"``."""
    return f"blocks.{_check_int(layer, 'layer')}.{HOOK_SUFFIX[site_kind(kind)]}"


def neuron_id(kind: str, layer: int, index: int) -> str:
    """``neuron_id("mlp", 3, 17) == "blocks.3.mlp.hook_post[17]"``."""
    return f"{site_name(kind, layer)}[{_check_int(index, 'neuron index')}]"


def parse_site_name(text: str) -> tuple[str, int]:
    """``"blocks.3.mlp.hook_post"`` -> ``("mlp", 3)``; ValueError naming the text when it is not a site name."""
    m = _SITE_RE.match(str(text).strip())
    if not m:
        raise ValueError(f"not a site name: {text!r} (expected e.g. 'blocks.3.mlp.hook_post', "
                         "'blocks.3.hook_resid_post' or 'blocks.3.attn.hook_z')")
    return _SUFFIX_TO_KIND[m.group(2)], int(m.group(1))


def parse_neuron_id(text: str) -> tuple[str, int, int]:
    """``"blocks.3.mlp.hook_post[17]"`` -> ``("mlp", 3, 17)``; ValueError naming the text otherwise."""
    m = _NEURON_RE.match(str(text).strip())
    if not m:
        raise ValueError(f"not a neuron id: {text!r} (expected e.g. 'blocks.3.mlp.hook_post[17]')")
    return _SUFFIX_TO_KIND[m.group(2)], int(m.group(1)), int(m.group(3))
