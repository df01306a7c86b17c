"""Robustness report: a search's Super Neuron classifier, fitted once on the probe split, scored unchanged on the test
split under changed prompts and images, beside the base model's greedy answers on the same changed inputs.

Conditions (one row each, see docs/robustness.md):

- ``original``: the test split as searched (the stored activations and stored base-model answers).
- ``rewording i``: the question and / or the answer-format instruction reworded (``sn_core.reports.rewordings``:
  :class:`Rewording`; a default list per bundled task, :func:`default_rewordings`, or the caller's own). Bundled
  tasks' defaults use only words of the demo tokenizer's vocabulary; every rewording is checked against the loaded
  model's tokenizer, and one that would read as the unknown token is refused (:class:`RewordingError`).
- ``shifted images``: the task's bundled shifted-image variant (``sn_core.data.shifted_variant``: same question and
  labels, shifted images), the examples at the search's test indices; "not available" when the task has none.
- grounding controls, question kept: ``blank image`` (every image a uniform mid-grey of the same size),
  ``noise image`` (uniform random pixels, seeded), ``shuffled images`` (the test images permuted across examples so
  no example keeps its own image, seeded).

Each row holds the neuron's accuracy with its 95% Wilson interval, the base model's (greedy generation with
``sn_core.search.baselines.generate_answers`` on the same modified inputs; an answer outside the label set is wrong) with
its interval, ``n`` and the chance rate (majority label share) of the examples scored. A control row where the
lower interval bound stays above chance is flagged ``"answers from the question, not the image"`` (``neuron_flag``
for the neuron, ``base_flag`` for the base model). Neuron values of modified inputs come from the early-exit
predictor (``sn_core.shortcut.early_exit.EarlyExitPredictor``), which runs only up to the neuron's layer.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from sn_core.progress import Progress
from sn_core.reports.rewordings import (DEFAULT_INSTRUCTION_REWORDINGS, DEFAULT_QUESTION_REWORDINGS, MAX_REWORDING_CHARS,
                         MAX_REWORDINGS, Rewording, RewordingError, check_rewordings, default_rewordings,
                         load_rewordings, parse_rewordings, reworded_questions, unknown_words)
from sn_core.data.splits import stratified_subset
from sn_core.reports.controls import BLANK_RGB, CONTROL_NAMES, CONTROLS, control_images  # noqa: F401
from sn_core.scoring.stats import CONF, accuracy_ci, wilson_interval  # noqa: F401  (wilson_interval: one release)

FLAG = "answers from the question, not the image"
ROW_COLUMNS = ("condition", "kind", "question", "instruction", "n", "chance", "neuron_accuracy", "neuron_ci_low",
               "neuron_ci_high", "base_accuracy", "base_ci_low", "base_ci_high", "base_outside_label_set",
               "neuron_flag", "base_flag", "available", "note", "seconds")


# ------------------------------------------------------------------------------------------ report
@dataclass
class RobustnessReport:
    """The rows (``ROW_COLUMNS``) and what they were measured on. ``flags`` lists the flagged control rows."""

    search_key: str
    model_id: str
    task: str
    neuron_ids: list[str]
    instruction: str | None
    chance: float
    n_test: int
    rows: "object"  # pandas DataFrame, ROW_COLUMNS
    flags: list[str] = field(default_factory=list)
    settings: dict = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def flagged(self) -> bool:
        return bool(self.flags)

    def to_json(self) -> dict:
        return {"search_key": self.search_key, "model_id": self.model_id, "task": self.task,
                "neuron_ids": list(self.neuron_ids), "instruction": self.instruction, "chance": _native(self.chance),
                "n_test": int(self.n_test), "flags": list(self.flags), "settings": self.settings,
                "seconds": float(self.seconds),
                "rows": [{k: _native(v) for k, v in r.items()} for r in self.rows.to_dict(orient="records")]}

    @classmethod
    def from_json(cls, doc: dict) -> "RobustnessReport":
        import pandas as pd

        rows = pd.DataFrame(doc["rows"], columns=list(ROW_COLUMNS))
        return cls(search_key=doc["search_key"], model_id=doc["model_id"], task=doc["task"],
                   neuron_ids=list(doc["neuron_ids"]), instruction=doc.get("instruction"),
                   chance=float(doc["chance"]), n_test=int(doc["n_test"]), rows=rows,
                   flags=list(doc.get("flags", [])), settings=dict(doc.get("settings", {})),
                   seconds=float(doc.get("seconds", 0.0)))


def _native(v):
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


@dataclass(frozen=True)
class _TestSet:
    """The test examples a report scores (a seeded, class-stratified subset when ``max_examples`` is set), in
    ``res.split.test`` order: ``keep`` indexes the search's test positions (``t_pos``), ``test_idx`` the task's
    examples."""

    t_pos: np.ndarray
    keep: np.ndarray
    test_idx: np.ndarray
    examples: list
    y: np.ndarray
    images: list
    questions: list


def _test_set(res, max_examples: int | None, seed: int) -> _TestSet:
    t_pos = res.positions("test")  # positions in example_index order
    keep = np.arange(len(t_pos))
    if max_examples is not None and max_examples < len(t_pos):
        keep = stratified_subset(np.asarray(res.y)[t_pos], int(max_examples), seed)
    test_idx = np.asarray(res.split.test)[keep]  # indices into the task's examples
    examples = [res.task.examples[int(i)] for i in test_idx]
    return _TestSet(t_pos, keep, test_idx, examples, np.array([ex.label for ex in examples], dtype=str),
                    [ex.image for ex in examples], [ex.question for ex in examples])


def _shown_question(questions: Sequence[str], otherwise: str = "(each example's own question)") -> str:
    """The question a row shows: the one question when every example has it, else ``otherwise``."""
    return questions[0] if len(set(questions)) == 1 else otherwise


def _check_settings(controls: Sequence[str], max_examples: int | None) -> None:
    bad = [c for c in controls if c not in CONTROLS]
    if bad:
        raise ValueError(f"unknown control {bad[0]!r}; use any of {', '.join(CONTROLS)}")
    if max_examples is not None and (isinstance(max_examples, bool) or int(max_examples) < 1):
        raise ValueError(f"max_examples must be a positive integer, got {max_examples!r}")


class _Conditions:
    """Scores conditions for one report: the neuron's classifier (through early-exit predictors, one per
    instruction) and the base model's greedy answers on the same inputs; holds the rows measured so far and
    reports progress after each condition."""

    def __init__(self, loaded, clf, labels: tuple, batch_size: int, conf: float, base: bool, total: int,
                 progress: Progress | None):
        self.loaded, self.clf, self.labels = loaded, clf, labels
        self.batch_size, self.conf, self.total, self.progress = batch_size, conf, total, progress
        self.can_generate = base and not loaded.truncated
        self.base_note = None if self.can_generate else (
            "base model not run" if not base else "model loaded with max_layers; generation needs every layer")
        self.predictors: dict = {}
        self.rows: list[dict] = []
        self.done = 0
        if progress:
            progress("robustness", 0, total)

    def step(self) -> None:
        self.done += 1
        if self.progress:
            self.progress("robustness", self.done, self.total)

    def predictor(self, instr):
        from sn_core.shortcut.early_exit import EarlyExitPredictor

        key = "\0none" if instr is None else instr
        if key not in self.predictors:
            self.predictors[key] = EarlyExitPredictor(self.loaded, self.clf,
                                                      instruction=instr if instr is not None else "")
        return self.predictors[key]

    def neuron_labels(self, ims, qs, instr) -> np.ndarray:
        pred, bs = self.predictor(instr), self.batch_size
        out = []
        for start in range(0, len(qs), bs):
            X = pred.values(ims[start:start + bs], qs[start:start + bs])  # [batch, k]
            out.append(np.asarray(pred.labels(X)).astype(str))
        return np.concatenate(out) if out else np.array([], dtype=str)

    def base_answers(self, ims, qs, instr) -> tuple[np.ndarray, int]:
        from sn_core.models.generation import generate_answers

        pred = self.predictor(instr)
        gen = generate_answers(self.loaded, ims, [pred.prompt(q) for q in qs], self.labels,
                               batch_size=self.batch_size, progress=self.progress)
        return (np.array([p if p is not None else "\0" for p in gen.predicted], dtype=object),
                int(sum(p is None for p in gen.predicted)))

    def add(self, condition, kind, ims, qs, y_, instr, question_text, neuron_pred=None, base_pred=None,
            outside=None, note=None) -> None:
        """Score one condition (the neuron's and, where it can run, the base model's labels unless given)."""
        from sn_core.scoring.metrics import chance_accuracy

        t0 = time.perf_counter()
        if neuron_pred is None:
            neuron_pred = self.neuron_labels(ims, qs, instr)
        n_acc, n_lo, n_hi = accuracy_ci(neuron_pred == y_, self.conf)
        b_acc = b_lo = b_hi = math.nan
        if base_pred is None and self.can_generate:
            base_pred, outside = self.base_answers(ims, qs, instr)
        if base_pred is not None:
            b_acc, b_lo, b_hi = accuracy_ci(np.asarray(base_pred) == y_, self.conf)
        chance = chance_accuracy(y_)
        control = kind == "control"
        self.rows.append({"condition": condition, "kind": kind, "question": question_text,
                          "instruction": instr if instr is not None else "", "n": int(len(y_)), "chance": chance,
                          "neuron_accuracy": n_acc, "neuron_ci_low": n_lo, "neuron_ci_high": n_hi,
                          "base_accuracy": b_acc, "base_ci_low": b_lo, "base_ci_high": b_hi,
                          "base_outside_label_set": outside,
                          "neuron_flag": FLAG if control and n_lo > chance else None,
                          "base_flag": FLAG if control and not math.isnan(b_lo) and b_lo > chance else None,
                          "available": True, "note": note if note is not None else self.base_note,
                          "seconds": time.perf_counter() - t0})

    def unavailable(self, condition, kind, note) -> None:
        self.rows.append({"condition": condition, "kind": kind, "question": None, "instruction": None, "n": 0,
                          "chance": math.nan, "neuron_accuracy": math.nan, "neuron_ci_low": math.nan,
                          "neuron_ci_high": math.nan, "base_accuracy": math.nan, "base_ci_low": math.nan,
                          "base_ci_high": math.nan, "base_outside_label_set": None, "neuron_flag": None,
                          "base_flag": None, "available": False, "note": note, "seconds": 0.0})


def _original_row(cond: _Conditions, res, ts: _TestSet, instruction, base: bool) -> None:
    """The test split as searched: the stored activations and the stored base-model answers (no forward pass)."""
    clf = cond.clf
    X = np.stack([np.asarray(res.neuron_values(n).values)[ts.t_pos[ts.keep]] for n in clf.neurons_], axis=1)
    orig_pred = np.asarray(clf.predict(X)).astype(str)
    stored = ((res.baselines or {}).get("base") or {}).get("answers")
    orig_base, orig_outside = None, None
    if stored is not None and len(stored) == len(ts.t_pos) and base:
        from sn_core.data.answers import match_label

        matched = [match_label(stored[int(j)], cond.labels) for j in ts.keep]
        orig_base = np.array([m if m is not None else "\0" for m in matched], dtype=object)
        orig_outside = int(sum(m is None for m in matched))
    cond.add("original", "original", ts.images, ts.questions, ts.y, instruction, _shown_question(ts.questions),
             neuron_pred=orig_pred, base_pred=orig_base, outside=orig_outside)


def _shifted_row(cond: _Conditions, res, task_name: str, ts: _TestSet, instruction) -> None:
    """The task's shifted-image variant at the search's test indices, or a row saying why there is none."""
    import sn_core.data as data_mod

    fn = getattr(data_mod, "shifted_variant", None)
    variant = None
    try:
        variant = fn(task_name) if fn is not None else None
    except (KeyError, ValueError):
        variant = None
    if fn is None:
        cond.unavailable("shifted images", "shifted", "no shifted-image variants in this version")
        return
    if variant is None:
        cond.unavailable("shifted images", "shifted", f"task {task_name!r} has no shifted-image variant")
        return
    origin = res.task.origin or {"n": len(res.task), "seed": res.config.data_seed}
    stask = data_mod.get_task(variant, int(origin["n"]), seed=int(origin["seed"]), part="eval")
    if not set(stask.labels) <= set(cond.labels) or len(stask) <= int(np.max(ts.test_idx)):
        cond.unavailable(f"shifted images ({variant})", "shifted",
                         f"{variant!r} does not have the search's labels and test indices")
        return
    sex = [stask.examples[int(i)] for i in ts.test_idx]
    sq = [ex.question for ex in sex]
    cond.add(f"shifted images ({variant})", "shifted", [ex.image for ex in sex], sq,
             np.array([ex.label for ex in sex], dtype=str), instruction, _shown_question(sq))


def _flags(rows: list[dict]) -> list[str]:
    flags = []
    for r in rows:
        for who, key, lo, acc in (("neuron", "neuron_flag", "neuron_ci_low", "neuron_accuracy"),
                                  ("base model", "base_flag", "base_ci_low", "base_accuracy")):
            if r[key]:
                flags.append(f"{r['condition']}: {who} accuracy {r[acc]:.3f} (95% CI from {r[lo]:.3f}) stays above "
                             f"chance {r['chance']:.3f}: {FLAG}")
    return flags


def robustness_report(res, loaded, rewordings: Sequence[Rewording] | None = None, shifted: bool = True,
                      controls: Sequence[str] = CONTROLS, base: bool = True, max_examples: int | None = None,
                      batch_size: int | None = None, seed: int = 0, conf: float = CONF,
                      progress: Progress | None = None) -> RobustnessReport:
    """The robustness report of search ``res`` on ``loaded`` (the same model weights; the whole model for the
    base-model rows). ``rewordings``: default :func:`default_rewordings` of the task (pass ``[]`` for none);
    ``shifted`` / ``controls`` / ``base``: which rows to run; ``max_examples``: score a seeded, class-stratified
    subset of that many test examples (default all); ``batch_size``: default the search's. See the module docstring."""
    import pandas as pd

    from sn_core.scoring.metrics import chance_accuracy

    t_start = time.perf_counter()
    _check_settings(controls, max_examples)
    batch_size = int(batch_size or res.config.batch_size)
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    task_name = res.summary_value("task") or res.task.name
    clf = res.classifier(res.chosen_neuron_ids())
    instruction = res.task.instruction
    rewordings = default_rewordings(task_name) if rewordings is None else list(rewordings)
    ts = _test_set(res, max_examples, seed)
    # every rewording is checked (placeholders, then the model's vocabulary) before any model work
    reworded = check_rewordings(rewordings, ts.examples, instruction, loaded.processor.tokenizer, loaded.model_id)

    total = 1 + len(reworded) + (1 if shifted else 0) + len(controls)
    cond = _Conditions(loaded, clf, tuple(res.labels), batch_size, conf, base, total, progress)
    images, questions, y = ts.images, ts.questions, ts.y
    _original_row(cond, res, ts, instruction, base)
    cond.step()
    for i, (rw, qs, instr) in enumerate(reworded, start=1):
        cond.add(f"rewording {i}", "rewording", images, qs, y, instr, _shown_question(qs, rw.question))
        cond.step()
    if shifted:
        _shifted_row(cond, res, task_name, ts, instruction)
        cond.step()
    for c in controls:  # grounding controls: the question kept, the image replaced
        cond.add(CONTROL_NAMES[c], "control", control_images(c, images, seed=seed), questions, y, instruction,
                 _shown_question(questions))
        cond.step()

    settings = {"batch_size": batch_size, "seed": int(seed), "max_examples": max_examples, "conf": float(conf),
                "rewordings": [rw.to_json() for rw in rewordings], "controls": list(controls),
                "shifted": bool(shifted), "base": bool(base), "blank_rgb": list(BLANK_RGB)}
    return RobustnessReport(search_key=res.key, model_id=res.summary_value("model_id") or loaded.model_id,
                            task=task_name, neuron_ids=list(clf.neurons_), instruction=instruction,
                            chance=chance_accuracy(y), n_test=int(len(y)), rows=pd.DataFrame(cond.rows,
                            columns=list(ROW_COLUMNS)), flags=_flags(cond.rows), settings=settings,
                            seconds=time.perf_counter() - t_start)


def format_report(report: RobustnessReport) -> str:
    """A plain-text table of the report (the CLI's output without ``--json``)."""
    def pct(v):
        return "  n/a " if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:5.1f}%"

    def ci(lo, hi):
        if lo is None or (isinstance(lo, float) and math.isnan(lo)):
            return " " * 13
        return f"[{100 * lo:4.1f}-{100 * hi:5.1f}]"

    lines = [f"model {report.model_id}  task {report.task}  neuron {', '.join(report.neuron_ids)}  "
             f"(fitted once on the probe split; {report.n_test} test examples, chance {100 * report.chance:.1f}%)",
             "", f"  {'condition':34s} {'n':>4}  {'neuron':>6} {'95% CI':13s}  {'base':>6} {'95% CI':13s}  note"]
    for r in report.rows.to_dict(orient="records"):
        if not r["available"]:
            lines.append(f"  {r['condition']:34s} {'':>4}  not available: {r['note']}")
            continue
        note = "; ".join(v for v in (r["neuron_flag"] and f"neuron: {r['neuron_flag']}",
                                     r["base_flag"] and f"base: {r['base_flag']}") if v)
        lines.append(f"  {r['condition'][:34]:34s} {r['n']:>4}  {pct(r['neuron_accuracy'])} "
                     f"{ci(r['neuron_ci_low'], r['neuron_ci_high'])}  {pct(r['base_accuracy'])} "
                     f"{ci(r['base_ci_low'], r['base_ci_high'])}  {note}")
    rw = [r for r in report.rows.to_dict(orient="records") if r["kind"] == "rewording"]
    if rw:
        lines += ["", "rewordings:"]
        lines += [f"  {r['condition']}: {r['question']!r} + instruction {r['instruction']!r}" for r in rw]
    lines += ["", "flags: " + ("none" if not report.flags else "")]
    lines += [f"  {f}" for f in report.flags]
    return "\n".join(lines) + "\n"


__all__ = ["CONTROLS", "DEFAULT_INSTRUCTION_REWORDINGS", "DEFAULT_QUESTION_REWORDINGS", "FLAG", "MAX_REWORDINGS",
           "MAX_REWORDING_CHARS", "ROW_COLUMNS", "Rewording", "RewordingError", "RobustnessReport", "control_images",
           "default_rewordings", "format_report", "load_rewordings", "parse_rewordings", "reworded_questions",
           "robustness_report", "unknown_words"]
