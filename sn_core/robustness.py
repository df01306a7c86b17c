"""Robustness report: a search's Super Neuron classifier, fitted once on the probe split, scored unchanged on the test
split under changed prompts and images, beside the base model's greedy answers on the same changed inputs.

Conditions (one row each, see docs/robustness.md):

- ``original``: the test split as searched (the stored activations and stored base-model answers).
- ``rewording i``: the question and / or the answer-format instruction reworded (:class:`Rewording`; a default list
  per bundled task, :func:`default_rewordings`, or the caller's own). Bundled tasks' defaults use only words of the
  demo tokenizer's vocabulary; every rewording is checked against the loaded model's tokenizer, and one that would
  read as the unknown token is refused (:class:`RewordingError`).
- ``shifted images``: the task's bundled shifted-image variant (``sn_core.data.shifted_variant``: same question and
  labels, shifted images), the examples at the search's test indices; "not available" when the task has none.
- grounding controls, question kept: ``blank image`` (every image a uniform mid-grey of the same size),
  ``noise image`` (uniform random pixels, seeded), ``shuffled images`` (the test images permuted across examples so
  no example keeps its own image, seeded).

Each row holds the neuron's accuracy with its 95% Wilson interval, the base model's (greedy generation with
``sn_core.baselines.generate_answers`` on the same modified inputs; an answer outside the label set is wrong) with
its interval, ``n`` and the chance rate (majority label share) of the examples scored. A control row where the
lower interval bound stays above chance is flagged ``"answers from the question, not the image"`` (``neuron_flag``
for the neuron, ``base_flag`` for the base model). Neuron values of modified inputs come from the early-exit
predictor (``sn_core.early_exit.EarlyExitPredictor``), which runs only up to the neuron's layer.
"""
from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from string import Formatter
from typing import Callable, Sequence

import numpy as np

from .stats import CONF, wilson_interval
from .uncertainty import chosen_neuron_ids, summary_value, test_positions

Progress = Callable[[str, int, int], None]
FLAG = "answers from the question, not the image"
CONTROLS = ("blank", "noise", "shuffled")
CONTROL_NAMES = {"blank": "blank image", "noise": "noise image", "shuffled": "shuffled images"}
BLANK_RGB = (128, 128, 128)
MAX_REWORDINGS = 100
MAX_REWORDING_CHARS = 1000
ROW_COLUMNS = ("condition", "kind", "question", "instruction", "n", "chance", "neuron_accuracy", "neuron_ci_low",
               "neuron_ci_high", "base_accuracy", "base_ci_low", "base_ci_high", "base_outside_label_set",
               "neuron_flag", "base_flag", "available", "note", "seconds")


class RewordingError(ValueError):
    """A rewording that cannot be used: bad syntax, an unknown placeholder, or words the model cannot read."""


@dataclass(frozen=True)
class Rewording:
    """A changed prompt. ``question`` is a template: ``{question}`` is the example's own question; on tasks whose
    question names a target (``shapes-exists``: "Is there a red circle?") ``{color}`` and ``{shape}`` are the
    target's. ``instruction`` replaces the answer-format instruction (``""``: none; ``None``: the search's own)."""

    question: str = "{question}"
    instruction: str | None = None

    def to_json(self) -> dict:
        return {"question": self.question, "instruction": self.instruction}


# Question rewordings of the six trained tasks. Every word is in the demo model's word-level vocabulary
# (assets/demo-vlm/tokenizer.json; tests/unit/test_robustness_rewordings.py checks it).
DEFAULT_QUESTION_REWORDINGS: dict[str, tuple[str, ...]] = {
    "shapes-color": ("What color is it?", "Which color is the shape?", "What color is this shape?",
                     "The shape is what color?"),
    "shapes-shape": ("Which shape is it?", "What shape is this?", "What is the shape?", "What shape is there?"),
    "shapes-count": ("How many shapes?", "How many are there?", "There are how many shapes?"),
    "shapes-exists": ("Is a {color} {shape} there?", "Is there one {color} {shape}?", "There is a {color} {shape}?"),
    "digits-class": ("What digit is this?", "Which digit is it?", "What is the digit?", "Which digit is there?"),
    "digits-parity": ("Is this digit even?", "Is it even?", "The digit is even?"),
}
# Instruction rewordings, applied to every task with its own question kept (the default is "Answer with one word.").
DEFAULT_INSTRUCTION_REWORDINGS: tuple[str, ...] = ("Answer with a word.", "")


def default_rewordings(task_name: str) -> list[Rewording]:
    """The default rewordings of a task: its question rewordings (bundled trained tasks and their shifted variants)
    with the search's instruction, then the instruction rewordings with its own question."""
    name = task_name
    try:
        from .data import bundled_spec

        spec = bundled_spec(task_name)
        if getattr(spec, "kind", "trained") == "shifted" and getattr(spec, "derived_from", None):
            name = spec.derived_from
    except (KeyError, ImportError):
        pass
    out = [Rewording(q, None) for q in DEFAULT_QUESTION_REWORDINGS.get(name, ())]
    return out + [Rewording("{question}", instr) for instr in DEFAULT_INSTRUCTION_REWORDINGS]


def parse_rewordings(text: str, source: str = "rewordings") -> list[Rewording]:
    """Rewordings from text, one per line: ``QUESTION`` or ``QUESTION | INSTRUCTION`` (an empty instruction after
    ``|`` means none; ``{question}`` keeps each example's own question). Blank lines and lines starting with ``#``
    are skipped."""
    out = []
    for no, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if len(line) > MAX_REWORDING_CHARS:
            raise RewordingError(f"{source} line {no}: longer than {MAX_REWORDING_CHARS} characters")
        if "|" in line:
            q, instr = (part.strip() for part in line.split("|", 1))
            if "|" in instr:
                raise RewordingError(f"{source} line {no}: more than one '|' (use QUESTION | INSTRUCTION)")
        else:
            q, instr = line, None
        out.append(Rewording(q or "{question}", instr))
        _placeholders(out[-1].question, f"{source} line {no}")
    if not out:
        raise RewordingError(f"{source}: no rewordings (one per line: QUESTION or QUESTION | INSTRUCTION)")
    if len(out) > MAX_REWORDINGS:
        raise RewordingError(f"{source}: {len(out)} rewordings; at most {MAX_REWORDINGS}")
    return out


def load_rewordings(path) -> list[Rewording]:
    """:func:`parse_rewordings` of a UTF-8 text file."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise RewordingError(f"rewordings file {str(path)!r} not found" if not p.exists()
                             else f"rewordings file {str(path)!r} is not a file")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise RewordingError(f"rewordings file {str(path)!r} is not UTF-8 text") from None
    return parse_rewordings(text, source=f"rewordings file {p.name!r}")


_FIELDS = ("question", "color", "shape")


def _placeholders(template: str, where: str) -> list[str]:
    try:
        names = [f for _, f, spec, conv in Formatter().parse(template) if f is not None]
    except ValueError as e:
        raise RewordingError(f"{where}: bad template {template!r} ({e}; write a literal brace twice)") from None
    bad = [n for n in names if n not in _FIELDS]
    if bad:
        raise RewordingError(f"{where}: unknown placeholder {{{bad[0]}}} in {template!r}; use {{question}} "
                             "(and {color} / {shape} on tasks whose question names a target)")
    return names


def _fields(example) -> dict:
    """Placeholder values of one example: its question, and the target its question names (if any)."""
    out = {"question": example.question}
    target = (example.meta or {}).get("target")
    if isinstance(target, (tuple, list)) and len(target) == 2:
        out["color"], out["shape"] = str(target[0]), str(target[1])
    return out


def reworded_questions(rewording: Rewording, examples, where: str = "rewording") -> list[str]:
    """The questions of ``examples`` under ``rewording``; RewordingError for a placeholder an example lacks."""
    names = _placeholders(rewording.question, where)
    out = []
    for ex in examples:
        f = _fields(ex)
        missing = [n for n in names if n not in f]
        if missing:
            raise RewordingError(f"{where}: {{{missing[0]}}} in {rewording.question!r}, but this task's questions "
                                 f"name no {missing[0]} (example question {ex.question!r})")
        out.append(rewording.question.format(**f))
    return out


_WORD = re.compile(r"\w+|[^\w\s]+")


def unknown_words(tokenizer, text: str) -> list[str]:
    """Words of ``text`` the tokenizer reads as its unknown token (none for a tokenizer without one)."""
    unk = getattr(tokenizer, "unk_token_id", None)
    if unk is None or not text:
        return []
    if unk not in tokenizer(text, add_special_tokens=False)["input_ids"]:
        return []
    return [w for w in dict.fromkeys(_WORD.findall(text))
            if unk in tokenizer(w, add_special_tokens=False)["input_ids"]]


def _prompt_text(question: str, instruction: str | None) -> str:
    return f"{question} {instruction}".strip() if instruction else question


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


def _ci(correct: np.ndarray, conf: float) -> tuple[float, float, float]:
    n = int(correct.size)
    if n == 0:
        return (math.nan, math.nan, math.nan)
    lo, hi = wilson_interval(int(correct.sum()), n, conf)
    return (float(correct.mean()), lo, hi)


def _derangement(n: int, rng: np.random.Generator) -> np.ndarray:
    """A random permutation without fixed points (n >= 2): a random cycle through all positions."""
    order = rng.permutation(n)
    perm = np.empty(n, dtype=np.int64)
    perm[order] = np.roll(order, -1)
    return perm


def control_images(kind: str, images: Sequence, seed: int = 0) -> list:
    """The images of a grounding control: ``blank`` (uniform mid-grey), ``noise`` (uniform random pixels) or
    ``shuffled`` (the images permuted so none stays in place), each the size of the image it replaces."""
    from PIL import Image

    from .images import as_rgb

    ims = [as_rgb(im) for im in images]
    if kind == "blank":
        return [Image.new("RGB", im.size, BLANK_RGB) for im in ims]
    if kind == "noise":
        return [Image.fromarray(np.random.default_rng([seed, 0xA015E, i]).integers(
            0, 256, size=(im.size[1], im.size[0], 3), dtype=np.uint8), "RGB") for i, im in enumerate(ims)]
    if kind == "shuffled":
        if len(ims) < 2:
            return list(ims)
        perm = _derangement(len(ims), np.random.default_rng([seed, 0x5A0FF1E]))
        return [ims[int(j)] for j in perm]
    raise ValueError(f"unknown control {kind!r}; use one of {', '.join(CONTROLS)}")


def robustness_report(res, loaded, rewordings: Sequence[Rewording] | None = None, shifted: bool = True,
                      controls: Sequence[str] = CONTROLS, base: bool = True, max_examples: int | None = None,
                      batch_size: int | None = None, seed: int = 0, conf: float = CONF,
                      progress: Progress | None = None) -> RobustnessReport:
    """The robustness report of search ``res`` on ``loaded`` (the same model weights; the whole model for the
    base-model rows). ``rewordings``: default :func:`default_rewordings` of the task (pass ``[]`` for none);
    ``shifted`` / ``controls`` / ``base``: which rows to run; ``max_examples``: score a seeded subset of that many
    test examples (default all); ``batch_size``: default the search's. See the module docstring."""
    import pandas as pd

    from .baselines import generate_answers
    from .early_exit import EarlyExitPredictor
    from .metrics import chance_accuracy

    t_start = time.perf_counter()
    bad = [c for c in controls if c not in CONTROLS]
    if bad:
        raise ValueError(f"unknown control {bad[0]!r}; use any of {', '.join(CONTROLS)}")
    if max_examples is not None and (isinstance(max_examples, bool) or int(max_examples) < 1):
        raise ValueError(f"max_examples must be a positive integer, got {max_examples!r}")
    batch_size = int(batch_size or res.config.batch_size)
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    task = res.task
    task_name = summary_value(res, "task") or task.name
    labels = tuple(res.labels)
    ids = chosen_neuron_ids(res)
    clf = res.classifier(ids)
    instruction = task.instruction
    rewordings = default_rewordings(task_name) if rewordings is None else list(rewordings)

    # ---- the test examples scored (a seeded subset when max_examples is set), in res.split.test order
    t_pos = test_positions(res)  # positions in example_index order
    n_all = len(t_pos)
    keep = np.arange(n_all)
    if max_examples is not None and max_examples < n_all:
        keep = np.sort(np.random.default_rng([seed, 0x7E57]).permutation(n_all)[: int(max_examples)])
    test_idx = np.asarray(res.split.test)[keep]  # indices into the task's examples
    examples = [task.examples[int(i)] for i in test_idx]
    y = np.array([ex.label for ex in examples], dtype=str)
    images = [ex.image for ex in examples]
    questions = [ex.question for ex in examples]

    # ---- check every rewording before any model work: placeholders, then the model's vocabulary
    tok = loaded.processor.tokenizer
    reworded = []
    for i, rw in enumerate(rewordings, start=1):
        if not isinstance(rw, Rewording):
            raise RewordingError(f"rewording {i}: expected a Rewording, got {type(rw).__name__}")
        qs = reworded_questions(rw, examples, where=f"rewording {i}")
        instr = instruction if rw.instruction is None else rw.instruction
        for text in dict.fromkeys(_prompt_text(q, instr) for q in qs):
            unk = unknown_words(tok, text)
            if unk:
                raise RewordingError(f"rewording {i} ({text!r}): {', '.join(repr(w) for w in unk)} not in the "
                                     f"vocabulary of {loaded.model_id!r} (it would read as "
                                     f"{getattr(tok, 'unk_token', 'the unknown token')})")
        reworded.append((rw, qs, instr))

    can_generate = base and not loaded.truncated
    base_note = None if can_generate else ("base model not run" if not base else
                                           "model loaded with max_layers; generation needs every layer")
    predictors: dict = {}

    def predictor(instr):
        key = "\0none" if instr is None else instr
        if key not in predictors:
            predictors[key] = EarlyExitPredictor(loaded, clf, instruction=instr if instr is not None else "")
        return predictors[key]

    def neuron_labels(ims, qs, instr) -> np.ndarray:
        pred = predictor(instr)
        out = []
        for start in range(0, len(qs), batch_size):
            X = pred.values(ims[start:start + batch_size], qs[start:start + batch_size])  # [batch, k]
            out.append(np.asarray(pred.labels(X)).astype(str))
        return np.concatenate(out) if out else np.array([], dtype=str)

    def base_answers(ims, qs, instr):
        pred = predictor(instr)
        gen = generate_answers(loaded, ims, [pred.prompt(q) for q in qs], labels, batch_size=batch_size,
                               progress=progress)
        return np.array([p if p is not None else "\0" for p in gen.predicted], dtype=object), \
            int(sum(p is None for p in gen.predicted))

    rows = []

    def add(condition, kind, ims, qs, y_, instr, question_text, neuron_pred=None, base_pred=None, outside=None,
            note=None):
        t0 = time.perf_counter()
        if neuron_pred is None:
            neuron_pred = neuron_labels(ims, qs, instr)
        n_acc, n_lo, n_hi = _ci(neuron_pred == y_, conf)
        b_acc = b_lo = b_hi = math.nan
        if base_pred is None and can_generate:
            base_pred, outside = base_answers(ims, qs, instr)
        if base_pred is not None:
            b_acc, b_lo, b_hi = _ci(np.asarray(base_pred) == y_, conf)
        chance = chance_accuracy(y_)
        control = kind == "control"
        rows.append({"condition": condition, "kind": kind, "question": question_text,
                     "instruction": instr if instr is not None else "", "n": int(len(y_)), "chance": chance,
                     "neuron_accuracy": n_acc, "neuron_ci_low": n_lo, "neuron_ci_high": n_hi,
                     "base_accuracy": b_acc, "base_ci_low": b_lo, "base_ci_high": b_hi,
                     "base_outside_label_set": outside,
                     "neuron_flag": FLAG if control and n_lo > chance else None,
                     "base_flag": FLAG if control and not math.isnan(b_lo) and b_lo > chance else None,
                     "available": True, "note": note if note is not None else base_note,
                     "seconds": time.perf_counter() - t0})

    def unavailable(condition, kind, note):
        rows.append({"condition": condition, "kind": kind, "question": None, "instruction": None, "n": 0,
                     "chance": math.nan, "neuron_accuracy": math.nan, "neuron_ci_low": math.nan,
                     "neuron_ci_high": math.nan, "base_accuracy": math.nan, "base_ci_low": math.nan,
                     "base_ci_high": math.nan, "base_outside_label_set": None, "neuron_flag": None, "base_flag": None,
                     "available": False, "note": note, "seconds": 0.0})

    total = 1 + len(reworded) + (1 if shifted else 0) + len(controls)
    done = 0

    def step():
        nonlocal done
        done += 1
        if progress:
            progress("robustness", done, total)

    if progress:
        progress("robustness", 0, total)
    example_question = questions[0] if len(set(questions)) == 1 else "(each example's own question)"

    # ---- original: stored activations and stored answers (no forward pass)
    X = np.stack([np.asarray(res.neuron_values(n).values)[t_pos[keep]] for n in clf.neurons_], axis=1)
    orig_pred = np.asarray(clf.predict(X)).astype(str)
    stored = ((res.baselines or {}).get("base") or {}).get("answers")
    orig_base, orig_outside = None, None
    if stored is not None and len(stored) == n_all and base:
        from .prompts import match_label

        matched = [match_label(stored[int(j)], labels) for j in keep]
        orig_base = np.array([m if m is not None else "\0" for m in matched], dtype=object)
        orig_outside = int(sum(m is None for m in matched))
    add("original", "original", images, questions, y, instruction, example_question, neuron_pred=orig_pred,
        base_pred=orig_base, outside=orig_outside)
    step()

    # ---- rewordings
    for i, (rw, qs, instr) in enumerate(reworded, start=1):
        shown = qs[0] if len(set(qs)) == 1 else rw.question
        add(f"rewording {i}", "rewording", images, qs, y, instr, shown)
        step()

    # ---- shifted images
    if shifted:
        import sn_core.data as data_mod

        fn = getattr(data_mod, "shifted_variant", None)
        variant = None
        try:
            variant = fn(task_name) if fn is not None else None
        except (KeyError, ValueError):
            variant = None
        if fn is None:
            unavailable("shifted images", "shifted", "no shifted-image variants in this version")
        elif variant is None:
            unavailable("shifted images", "shifted", f"task {task_name!r} has no shifted-image variant")
        else:
            origin = task.origin or {"n": len(task), "seed": res.config.data_seed}
            stask = data_mod.get_task(variant, int(origin["n"]), seed=int(origin["seed"]), part="eval")
            if not set(stask.labels) <= set(labels) or len(stask) <= int(np.max(test_idx)):
                unavailable(f"shifted images ({variant})", "shifted",
                            f"{variant!r} does not have the search's labels and test indices")
            else:
                sex = [stask.examples[int(i)] for i in test_idx]
                sq = [ex.question for ex in sex]
                add(f"shifted images ({variant})", "shifted", [ex.image for ex in sex], sq,
                    np.array([ex.label for ex in sex], dtype=str), instruction,
                    sq[0] if len(set(sq)) == 1 else "(each example's own question)")
        step()

    # ---- grounding controls: the question kept, the image replaced
    for c in controls:
        add(CONTROL_NAMES[c], "control", control_images(c, images, seed=seed), questions, y, instruction,
            example_question)
        step()

    df = pd.DataFrame(rows, columns=list(ROW_COLUMNS))
    flags = []
    for r in rows:
        for who, key, lo, acc in (("neuron", "neuron_flag", "neuron_ci_low", "neuron_accuracy"),
                                  ("base model", "base_flag", "base_ci_low", "base_accuracy")):
            if r[key]:
                flags.append(f"{r['condition']}: {who} accuracy {r[acc]:.3f} (95% CI from {r[lo]:.3f}) stays above "
                             f"chance {r['chance']:.3f}: {FLAG}")
    settings = {"batch_size": batch_size, "seed": int(seed), "max_examples": max_examples, "conf": float(conf),
                "rewordings": [rw.to_json() for rw in rewordings], "controls": list(controls),
                "shifted": bool(shifted), "base": bool(base), "blank_rgb": list(BLANK_RGB)}
    return RobustnessReport(search_key=res.key, model_id=summary_value(res, "model_id") or loaded.model_id,
                            task=task_name, neuron_ids=list(clf.neurons_), instruction=instruction,
                            chance=chance_accuracy(y), n_test=int(len(y)), rows=df, flags=flags, settings=settings,
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


__all__ = ["CONTROLS", "DEFAULT_INSTRUCTION_REWORDINGS", "DEFAULT_QUESTION_REWORDINGS", "FLAG", "ROW_COLUMNS",
           "Rewording", "RewordingError", "RobustnessReport", "control_images", "default_rewordings",
           "format_report", "load_rewordings", "parse_rewordings", "reworded_questions", "robustness_report",
           "unknown_words"]
