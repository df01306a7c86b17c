"""One declarative adapter per model family (``ModelAdapter`` subclasses); ``sn_core.models.registry`` imports each
module of this folder to register its adapter, so a new family is supported by adding its file."""
