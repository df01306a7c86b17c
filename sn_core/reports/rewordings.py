"""Rewordings of a task's prompt for the robustness report (``sn_core.reports.robustness``): the changed question and / or
answer-format instruction (:class:`Rewording`), the default list per bundled task (:func:`default_rewordings`), the
text-file format (:func:`parse_rewordings`, :func:`load_rewordings`), the questions a rewording gives each example
(:func:`reworded_questions`), and the check against a model's vocabulary (:func:`unknown_words`,
:func:`check_rewordings`): a rewording that would read as the tokenizer's unknown token is refused
(:class:`RewordingError`). Bundled tasks' defaults use only words of the demo tokenizer's vocabulary.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from string import Formatter
from typing import Sequence

MAX_REWORDINGS = 100
MAX_REWORDING_CHARS = 1000


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
        from sn_core.data import bundled_spec

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
        placeholders(out[-1].question, f"{source} line {no}")
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


def placeholders(template: str, where: str) -> list[str]:
    """The placeholder names of a question template; RewordingError (naming ``where``) for bad syntax or a name
    other than ``question``, ``color`` and ``shape``."""
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
    names = placeholders(rewording.question, where)
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


def prompt_text(question: str, instruction: str | None) -> str:
    """The prompt's text: the question, then the instruction when there is one."""
    return f"{question} {instruction}".strip() if instruction else question


def check_rewordings(rewordings: Sequence, examples, instruction: str | None, tokenizer,
                     model_id: str) -> list[tuple[Rewording, list[str], str | None]]:
    """``(rewording, questions, instruction)`` for each rewording on ``examples``: the questions it gives them and
    the instruction it uses (``instruction``, the search's, where the rewording keeps it). Raises RewordingError
    for an item that is not a Rewording, a placeholder an example lacks, or a prompt with words the tokenizer reads
    as its unknown token; nothing runs on the model."""
    out = []
    for i, rw in enumerate(rewordings, start=1):
        if not isinstance(rw, Rewording):
            raise RewordingError(f"rewording {i}: expected a Rewording, got {type(rw).__name__}")
        qs = reworded_questions(rw, examples, where=f"rewording {i}")
        instr = instruction if rw.instruction is None else rw.instruction
        for text in dict.fromkeys(prompt_text(q, instr) for q in qs):
            unk = unknown_words(tokenizer, text)
            if unk:
                raise RewordingError(f"rewording {i} ({text!r}): {', '.join(repr(w) for w in unk)} not in the "
                                     f"vocabulary of {model_id!r} (it would read as "
                                     f"{getattr(tokenizer, 'unk_token', 'the unknown token')})")
        out.append((rw, qs, instr))
    return out


__all__ = ["DEFAULT_INSTRUCTION_REWORDINGS", "DEFAULT_QUESTION_REWORDINGS", "MAX_REWORDINGS", "MAX_REWORDING_CHARS",
           "Rewording", "RewordingError", "check_rewordings", "default_rewordings", "load_rewordings",
           "parse_rewordings", "placeholders", "prompt_text", "reworded_questions", "unknown_words"]
