"""The base model's answer budget (``generation.label_token_budget``) on a stand-in tokenizer: no model needed."""
from types import SimpleNamespace

from sn_core.models.generation import label_token_budget


class _CaseTokenizer:
    """One token per lower-case word; a word with a capital letter splits into one token per character, as a
    byte-pair vocabulary without the capitalised word would (' Yes' -> 'Y', 'e', 's')."""

    def __call__(self, text, add_special_tokens=False):
        words = text.split()
        return {"input_ids": [0] * sum(1 if w.islower() or w.isdigit() else len(w) for w in words)}


def test_budget_covers_a_capitalised_answer():
    proc = SimpleNamespace(tokenizer=_CaseTokenizer())
    assert label_token_budget(proc, ["yes", "no"]) == 3  # "Yes": 3 tokens; cut at 1 it would read "Y" and count wrong
    assert label_token_budget(proc, ["1", "22"]) == 1  # digits have no capitalised form
    assert label_token_budget(proc, ["red", "Dark blue"]) == 5  # the label as given counts too: "Dark" 4 + "blue" 1
