"""Telling an interrupt apart from a failure inside a library that converts exceptions.

A Ctrl-C or SIGTERM that arrives while ``torch.onnx.export`` runs can surface as the exporter's own error (a
Python exception raised from a callback inside torch's C++ code comes back as a ``RuntimeError``, and the exporter
then reports its capture strategies as failed). :class:`InterruptWatch` records whether SIGINT or SIGTERM arrived
while its block ran, so the caller re-raises ``KeyboardInterrupt`` (exit 130 in the CLI) instead of reporting
"export failed". The handlers it installs pass each signal on to the handler that was there before (the CLI's
SIGTERM handler raises ``KeyboardInterrupt``; with the default handlers, SIGINT raises ``KeyboardInterrupt`` and
SIGTERM ends the process as it would have). Outside the main thread (the app's sessions) no handler can be
installed and the block runs unwatched.
"""
from __future__ import annotations

import os
import signal
import threading


class InterruptWatch:
    """``with InterruptWatch() as w: ...``; ``w.hit`` is True when SIGINT or SIGTERM arrived inside the block."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.hit = False
        self._previous: dict = {}

    def _handler(self, signum, frame):
        self.hit = True
        prev = self._previous.get(signum)
        if callable(prev):
            return prev(signum, frame)
        if prev == signal.SIG_IGN:
            return None
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        signal.signal(signum, signal.SIG_DFL)  # the default action (end the process), as without the watch
        os.kill(os.getpid(), signum)
        return None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for s in self.SIGNALS:
                self._previous[s] = signal.signal(s, self._handler)
        return self

    def __exit__(self, *exc):
        for s, prev in self._previous.items():
            signal.signal(s, prev if prev is not None else signal.SIG_DFL)
        self._previous.clear()
        return False


__all__ = ["InterruptWatch"]
