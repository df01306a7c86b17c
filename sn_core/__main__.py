"""``python -m sn_core``: see ``sn_core.cli.main``.

The interrupt handling comes first: importing the CLI pulls in torch, transformers and scikit-learn (seconds), and
a Ctrl-C or SIGTERM during those imports must end in the same one line and exit code 130 as one during the command.
"""
import os
import signal
import sys


def _terminated(signum, frame):  # SIGTERM as Ctrl-C, as sn_core.cli.main handles it while a command runs
    raise KeyboardInterrupt


def _run() -> int:
    signal.signal(signal.SIGTERM, _terminated)
    try:
        from sn_core.cli.main import main

        return main()
    except KeyboardInterrupt:  # during the imports (the commands handle their own)
        print("error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    rc = _run()
    for s in (signal.SIGINT, signal.SIGTERM):  # the command is over: a late signal does not print a traceback
        signal.signal(s, signal.SIG_IGN)
    if rc == 130:
        # A KeyboardInterrupt that passed through Python code run by a C extension's import (numpy and scipy run
        # some with exec) leaves CPython's "unhandled interrupt" flag set even though it was caught, and the
        # interpreter would then end itself with SIGINT (exit -2) instead of 130. Every command has cleaned up
        # (temporary folders, partial files) before returning 130: flush and leave with that code.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)
    sys.exit(rc)
