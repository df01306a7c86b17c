"""Activations at the read position: the ``Trace`` hook scope (``trace``), checks before a forward pass
(``context``), and the batched, cached, resumable extraction of a task's activations (``extract``)."""
from sn_core.activations.context import PromptTooLongError, check_context, check_sites_layers, context_length
from sn_core.activations.extract import (EXTRACT_FORMAT, Extraction, Progress, extract, extraction_key,
                                         plan_extraction, read_activations, task_prompts)
from sn_core.activations.trace import StopForward, Trace
# sn_core.extract (this package's former single module) also exposed these helpers of other packages:
from sn_core.data.images import as_rgb  # noqa: F401
from sn_core.data.tasks import task_fingerprint  # noqa: F401
from sn_core.sites import SITE_KINDS, site_kind, site_name  # noqa: F401

__all__ = ["EXTRACT_FORMAT", "Extraction", "Progress", "PromptTooLongError", "StopForward", "Trace", "check_context",
           "check_sites_layers", "context_length", "extract", "extraction_key", "plan_extraction", "read_activations",
           "task_prompts"]
