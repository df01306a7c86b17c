"""Interrupts and raising chat templates end in one line.

- Ctrl-C or SIGTERM in the first seconds of ``python -m sn_core`` (while torch, transformers and scikit-learn are
  imported): exit code 130 and the one line ``error: interrupted``, no KeyboardInterrupt traceback. The signal is
  sent a set time after the process installs its SIGTERM handler (read from ``/proc/<pid>/status``), and at set
  times after it starts.
- An interrupt that the ONNX exporter turns into its own error (an exception raised from a callback inside
  torch's C++ code comes back as a RuntimeError): exit 130 and the export's interrupt line, not "ONNX export
  failed" with exit 2, and none of the exporter's log or stderr output.
- A model folder whose chat template raises (``{{ raise_exception('boom') }}``): one UnknownModelError naming the
  folder and the template's message when the model is loaded; ``error:`` and exit 2 from the CLI.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sn_core.cli.main import main

REPO = Path(__file__).resolve().parents[2]
COMMAND = ["-m", "sn_core", "search", "--task", "shapes-color", "--json"]


def _sigterm_caught(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return True  # gone: let communicate() report it
    mask = int(next(ln for ln in status.splitlines() if ln.startswith("SigCgt:")).split()[1], 16)
    return bool(mask & (1 << (signal.SIGTERM - 1)))


def _interrupt(sig: int, delay: float, after_handler: bool, tmp_path) -> tuple[int, list[str]]:
    env = {**os.environ, "SN_CACHE_DIR": str(tmp_path / "cache")}
    # SIGINT at its default in the child, as under a terminal: a suite started in the background by a shell without
    # job control runs with SIGINT ignored, which children inherit (Python then installs no KeyboardInterrupt).
    p = subprocess.Popen([sys.executable, *COMMAND], cwd=REPO, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        if after_handler:
            t0 = time.monotonic()
            while not _sigterm_caught(p.pid) and time.monotonic() - t0 < 60:
                time.sleep(0.005)
        time.sleep(delay)
        p.send_signal(sig)
        _, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    return p.returncode, [ln for ln in err.splitlines() if ln.strip()]


@pytest.mark.reliability
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the signal mask from /proc")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("delay, after_handler", [(0.0, True), (0.3, True), (1.0, True), (1.5, False),
                                                  (3.0, False)], ids=["handler+0s", "handler+0.3s", "handler+1s",
                                                                      "start+1.5s", "start+3s"])
def test_reliability_interrupt_in_the_first_seconds_is_one_line(sig, delay, after_handler, tmp_path):
    rc, err = _interrupt(sig, delay, after_handler, tmp_path)
    assert rc == 130, (rc, err[-5:])
    assert len(err) == 1 and err[0].startswith("error: interrupted"), err


@pytest.fixture()
def tiny_llava(tiny_llava_artifact):
    """The folder holding a tiny LLaVA (``model``) and a classifier artifact naming it (``sn.json``)."""
    return tiny_llava_artifact[0]


@pytest.mark.reliability
def test_reliability_interrupt_turned_into_an_exporter_error_exits_130(tiny_llava, tmp_path, monkeypatch, capfd):
    import logging

    import torch

    def exporter(*a, **k):
        try:
            os.kill(os.getpid(), signal.SIGINT)  # delivered at once to the main thread
        except KeyboardInterrupt:  # as torch's C++ layer does with an exception from a Python callback
            for i in range(50):
                logging.getLogger("torch.onnx._internal.exporter._core").error("exporter log line %d", i)
                print(f"exporter stderr line {i}", file=sys.stderr)
            raise RuntimeError("Failed to export the model with torch.export. KeyboardInterrupt\n...") from None
        raise AssertionError("SIGINT was not turned into an interrupt")

    monkeypatch.setattr(torch.onnx, "export", exporter)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    capfd.readouterr()
    rc = main(["export", "--classifier", str(tiny_llava / "sn.json"), "--out", str(out_dir / "sc")])
    err = [ln for ln in capfd.readouterr().err.splitlines() if ln.strip()]
    assert rc == 130 and err == ["error: interrupted; nothing was written to --out"], (rc, err[:5])
    assert list(out_dir.iterdir()) == []


@pytest.mark.reliability
def test_reliability_failed_export_keeps_its_one_line_without_logs(tiny_llava, tmp_path, monkeypatch, capfd):
    """A real exporter failure (no interrupt) is still "ONNX export ... failed", exit 2, and its logs are not
    printed."""
    import logging

    import torch

    def exporter(*a, **k):
        logging.getLogger("torch.onnx._internal.exporter._core").error("exporter log line")
        print("exporter stderr line", file=sys.stderr)
        raise RuntimeError("the exporter broke\nsecond line")

    monkeypatch.setattr(torch.onnx, "export", exporter)
    capfd.readouterr()
    rc = main(["export", "--classifier", str(tiny_llava / "sn.json"), "--out", str(tmp_path / "sc")])
    err = [ln for ln in capfd.readouterr().err.splitlines() if ln.strip()]
    assert rc == 2 and len(err) == 1 and "ONNX export" in err[0] and "the exporter broke" in err[0], err


@pytest.mark.reliability
def test_reliability_raising_chat_template_names_the_model(tiny_llava, tmp_path, capsys):
    import shutil

    from sn_core.models import UnknownModelError, load_model

    folder = tmp_path / "model"
    shutil.copytree(tiny_llava / "model", folder)
    (folder / "chat_template.jinja").write_text("{{ raise_exception('boom') }}", encoding="utf-8")
    with pytest.raises(UnknownModelError, match=f"chat template of model '{folder}' fails: boom") as e:
        load_model(str(folder))
    assert "\n" not in str(e.value)
    rc = main(["search", "--model", str(folder), "--task", "shapes-color", "--json",
               "--cache-dir", str(tmp_path / "cache")])
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert rc == 2 and len(err) == 1 and err[0].startswith("error: the chat template of model") \
        and "boom" in err[0], err
