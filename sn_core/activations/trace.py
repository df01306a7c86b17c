"""The tracing scope (baukit's ``nethook`` idea): :class:`Trace` registers hooks on the modules holding the requested
sites, keeps only the read position (column -1: batches are left padded, ``sn_core.models.prompts.encode``) and
ends the forward pass after the deepest requested layer, so later layers, the final norm and the LM head never run:
where the adapter can run the truncated pass itself (``ModelAdapter.prefix_forward``, LLaVA with a Llama decoder) it
does, otherwise the model's own forward is stopped by a hook raising a private :class:`StopForward`. Its exit
removes every hook it added, also after an exception. Extraction and early exit share it, so they agree by
construction."""
from __future__ import annotations

from typing import Iterable

import torch

from sn_core.activations.context import check_context, context_length
from sn_core.sites import site_kind, site_name


class StopForward(Exception):
    """Raised by the hook on the deepest requested layer to end the forward pass early. Private to this module
    and swallowed by :class:`Trace`; never seen by callers."""


def _as_tensor(out) -> torch.Tensor:
    # Decoder layers return a tensor in transformers 5, a tuple (hidden_states, ...) in older versions.
    return out[0] if isinstance(out, (tuple, list)) else out


class Trace:
    """Hook the given sites, keep the read position, stop after ``stop_after``; always unhook.

    Usage::

        with Trace(loaded, [("mlp", 3), ("resid", 5)]) as tr:
            tr.run(inputs)                        # the forward pass stops after layer 5
        tr.values["blocks.3.mlp.hook_post"]       # [batch, d_mlp] at the read position

    ``stop_after`` defaults to the deepest requested layer; ``None`` sites with ``stop_after`` set only truncate.
    ``position`` is the read column (-1 with left padding). With ``direct`` (default), an adapter that can run the
    truncated pass itself (``ModelAdapter.prefix_forward``: LLaVA with a Llama decoder, e.g. the demo) does so,
    which saves the wrappers' per-call work; the values are the same bit for bit, and ``ran_direct`` says which path
    the last ``run`` took.
    """

    def __init__(self, loaded, sites: Iterable[tuple[str, int]], stop_after: int | None = -1, position: int = -1,
                 direct: bool = True):
        self.loaded = loaded
        self.direct = direct  # let the adapter run the truncated pass itself (ModelAdapter.prefix_forward)
        self.sites = [(site_kind(k), int(layer)) for k, layer in sites]
        deepest = max((layer for _, layer in self.sites), default=None)
        self.stop_after = deepest if stop_after == -1 else stop_after
        self.position = position
        self.values: dict[str, torch.Tensor] = {}
        self._handles: list = []
        self._lock = None
        self._stop_armed = True
        self.ran_direct = False
        self.context = context_length(loaded)  # a longer batch is refused by run (PromptTooLongError)

    def _capture(self, name: str, side: str):
        pos = self.position
        values = self.values

        if side == "input":
            def pre_hook(module, args, kwargs=None):
                x = args[0] if args else next(iter(kwargs.values()))  # [batch, pos, width]
                values[name] = x[:, pos].detach().clone()  # [batch, width]; clone: don't pin [batch, pos, width]
            return pre_hook

        def hook(module, args, output):
            values[name] = _as_tensor(output)[:, pos].detach().clone()  # [batch, width]
        return hook

    def __enter__(self) -> "Trace":
        model, adapter = self.loaded.model, self.loaded.adapter
        lock = getattr(self.loaded, "lock", None)
        if lock is not None:  # one tracing scope per model at a time (hooks are global state)
            lock.acquire()
            self._lock = lock
        try:
            for kind, layer in self.sites:
                module, side = adapter.site_module(model, kind, layer)
                fn = self._capture(site_name(kind, layer), side)
                h = (module.register_forward_pre_hook(fn) if side == "input" else module.register_forward_hook(fn))
                self._handles.append(h)
            if self.stop_after is not None:
                layers = adapter.layers(model)
                late = [site_name(k, layer) for k, layer in self.sites if layer > self.stop_after]
                if late:
                    raise ValueError(f"{late[0]} is after the stop layer {self.stop_after}: the forward pass would "
                                     "end before reaching it (raise stop_after or drop the site)")
                if not 0 <= self.stop_after < len(layers):
                    raise ValueError(f"layer {self.stop_after} requested, the model has {len(layers)} decoder "
                                     f"layers loaded (0..{len(layers) - 1})")

                def stop(module, args, output):
                    if self._stop_armed:
                        raise StopForward()
                # Registered after the capture hooks, so the resid site of the same layer is read first.
                self._handles.append(layers[self.stop_after].register_forward_hook(stop))
        except BaseException:
            self.close()
            raise
        return self

    def run(self, inputs: dict) -> dict[str, torch.Tensor]:
        """One forward pass (inference mode) through the scope; returns a new dict of this pass's values
        (``values`` holds the latest pass's too)."""
        self.values.clear()
        self.ran_direct = False
        check_context(self.loaded, inputs, ctx=self.context)
        try:
            with torch.inference_mode():
                if self.direct and self.stop_after is not None:
                    self._stop_armed = False  # the direct path ends at the stop layer by itself
                    self.ran_direct = self.loaded.adapter.prefix_forward(self.loaded.model, inputs, self.stop_after)
                if not self.ran_direct:
                    self._stop_armed = True
                    self.loaded.model(**inputs)
        except StopForward:
            pass
        missing = [site_name(k, layer) for k, layer in self.sites if site_name(k, layer) not in self.values]
        if missing:
            raise RuntimeError(f"the forward pass never reached {missing}; is the adapter's module path right?")
        return dict(self.values)

    def close(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()
        if self._lock is not None:
            lock, self._lock = self._lock, None
            lock.release()

    def __exit__(self, exc_type, exc, tb) -> bool:
        self.close()
        return exc_type is not None and issubclass(exc_type, StopForward)
