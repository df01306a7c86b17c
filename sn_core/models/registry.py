"""Adapters registered by Hugging Face ``config.model_type``."""
from __future__ import annotations

from sn_core.models.base import ModelAdapter

_ADAPTERS: dict[str, type[ModelAdapter]] = {}


def register_adapter(cls: type[ModelAdapter]) -> type[ModelAdapter]:
    """Class decorator: register ``cls`` for each of its ``model_types``."""
    if not cls.model_types:
        raise ValueError(f"{cls.__name__} declares no model_types")
    for mt in cls.model_types:
        _ADAPTERS[mt] = cls
    return cls


def _load_families() -> None:
    # Importing a family module (one file per family in ``models/families/``) registers its adapter. Families
    # added later are picked up by folder;
    # a family whose module is missing or fails to import is simply not supported.
    import importlib
    import pkgutil

    from sn_core.models import families

    for info in pkgutil.iter_modules(families.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{families.__name__}.{info.name}")


def supported_model_types() -> list[str]:
    _load_families()
    return sorted(_ADAPTERS)


def adapter_for(model_type: str) -> ModelAdapter:
    """An adapter instance for ``model_type``; KeyError naming the supported types otherwise."""
    _load_families()
    if model_type not in _ADAPTERS:
        raise KeyError(f"no adapter for model_type {model_type!r}; supported: {', '.join(sorted(_ADAPTERS))}")
    return _ADAPTERS[model_type]()
