"""Activations at the read position: the ``Trace`` hook context, prompt-context checks and the cached,
chunked extraction of a task's activations."""
from sn_core.activations.extract import (EXTRACT_FORMAT, Extraction, Progress, PromptTooLongError, SITE_KINDS,
    StopForward, Trace, as_rgb, check_context, check_sites_layers, context_length, extract, extraction_key,
    plan_extraction, read_activations, site_kind, site_name, task_fingerprint, task_prompts)

__all__ = ["EXTRACT_FORMAT", "Extraction", "Progress", "PromptTooLongError", "SITE_KINDS", "StopForward", "Trace",
           "as_rgb", "check_context", "check_sites_layers", "context_length", "extract", "extraction_key",
           "plan_extraction", "read_activations", "site_kind", "site_name", "task_fingerprint", "task_prompts"]
