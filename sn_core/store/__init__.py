"""The content-addressed activation and result store (``cache``) and its atomic, checksummed file I/O (``io``)."""
from sn_core.store.cache import (ActivationStore, CACHE_ENV, CorruptShardError, FORMAT_VERSION, atomic_write_bytes,
    canonical_json, content_key, default_root, list_stores)

__all__ = ["ActivationStore", "CACHE_ENV", "CorruptShardError", "FORMAT_VERSION", "atomic_write_bytes",
           "canonical_json", "content_key", "default_root", "list_stores"]
