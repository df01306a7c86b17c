"""Model loading and per-family adapters (where decoder layers and activation sites live).

``load_model("demo" | folder | cached hub id) -> LoadedModel``; adapters are registered by HF ``model_type``
(one file per family in this package, e.g. ``llava.py``).
"""
from sn_core.models.base import ModelAdapter, get_module
from sn_core.models.files import UnknownModelError, weights_hash
from sn_core.models.loading import LoadedModel, ModelInfo, load_model, peek_model, resolve_dtype, wrap_model
from sn_core.models.registry import adapter_for, register_adapter, supported_model_types

__all__ = ["LoadedModel", "ModelAdapter", "UnknownModelError", "adapter_for", "get_module",
           "load_model", "ModelInfo", "peek_model", "register_adapter", "resolve_dtype", "supported_model_types", "weights_hash",
           "wrap_model"]
