"""Multiple choice as a categorical task: the options are listed under the question as lettered lines and the
classes are the letters.

A row carries ``choices`` (2 to 26 option texts) and a label that is one of the choices (its text, compared exactly
after stripping spaces) or its 0-based index (an integer, or a string of digits when no choice has that text). The
example's question becomes::

    What is the man holding?
    A. a kite
    B. an umbrella
    C. a phone

and its label the letter (``"B"``). The instruction is :data:`MC_INSTRUCTION` (LLaVA-1.5's multiple-choice
prompt), so the base model's generated letter, SAV, the Super Neuron classifier, the early exit and the shortcut
all see an ordinary categorical task whose classes are letters.
"""
from __future__ import annotations

import json
import string

MC_INSTRUCTION = "Answer with the option's letter from the given choices directly."
LETTERS = string.ascii_uppercase
MIN_CHOICES, MAX_CHOICES = 2, 26


class ChoiceError(ValueError):
    """A choices list or a label that does not fit it; the message names the row."""


def parse_choices(value, where: str) -> list[str]:
    """``value`` as a list of option texts: a list (JSON, Arrow), a JSON array string, or ``|``-separated text
    (CSV). Blank options, duplicates and a count outside 2-26 are refused."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as e:
                raise ChoiceError(f"{where}: choices look like a JSON list but do not parse ({e.msg})") from None
        else:
            value = text.split("|")
    if hasattr(value, "tolist"):  # numpy arrays from Arrow
        value = value.tolist()
    if not isinstance(value, (list, tuple)):
        raise ChoiceError(f"{where}: choices must be a list of option texts, got {type(value).__name__}")
    opts = [str(v).strip() if v is not None else "" for v in value]
    if not MIN_CHOICES <= len(opts) <= MAX_CHOICES:
        raise ChoiceError(f"{where}: {len(opts)} choice(s); a multiple-choice row needs {MIN_CHOICES} to "
                          f"{MAX_CHOICES} (one letter each)")
    if any(not o for o in opts):
        raise ChoiceError(f"{where}: choice {LETTERS[opts.index('')]} is blank")
    dup = [o for o in opts if opts.count(o) > 1]
    if dup:
        raise ChoiceError(f"{where}: choice {dup[0]!r} is listed twice")
    return opts


def choice_index(label, choices: list[str], where: str) -> int:
    """The 0-based index of ``label`` in ``choices``: its text, else an integer index. Anything else is refused,
    naming the row and the choices."""
    if isinstance(label, bool):
        raise ChoiceError(f"{where}: label {label!r} is neither one of the choices {choices} nor an index")
    if isinstance(label, str) and label.strip() in choices:
        return choices.index(label.strip())
    idx = None
    if isinstance(label, int) or (hasattr(label, "dtype") and getattr(label, "dtype").kind in "iu"):
        idx = int(label)
    elif isinstance(label, float) and label.is_integer():
        idx = int(label)
    elif isinstance(label, str) and label.strip().isdigit():
        idx = int(label.strip())
    if idx is None:
        raise ChoiceError(f"{where}: label {label!r} is not one of the choices {choices} (nor an index)")
    if not 0 <= idx < len(choices):
        raise ChoiceError(f"{where}: label index {idx} is outside the {len(choices)} choices {choices} "
                          f"(indices 0-{len(choices) - 1})")
    return idx


def mc_question(question: str, choices: list[str]) -> str:
    """The question followed by one ``X. option`` line per choice."""
    return question.rstrip() + "\n" + "\n".join(f"{LETTERS[i]}. {c}" for i, c in enumerate(choices))


def mc_example(question: str, choices, label, where: str) -> tuple[str, str, dict]:
    """(lettered question, letter label, meta with ``choices`` and ``answer``) of one multiple-choice row."""
    opts = parse_choices(choices, where)
    i = choice_index(label, opts, where)
    return mc_question(question, opts), LETTERS[i], {"choices": opts, "answer": opts[i], "stem": question.strip()}


__all__ = ["ChoiceError", "LETTERS", "MC_INSTRUCTION", "choice_index", "mc_example", "mc_question",
           "parse_choices"]
