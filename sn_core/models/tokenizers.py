"""Offline word-level tokenizers, for models built here rather than downloaded: the demo VLM and the tiny test
models of every family. ``vocabulary()`` is every word the bundled tasks use."""
from __future__ import annotations

from sn_core.data import bundled_spec, bundled_task_names
from sn_core.data.bundled.shapes import COLORS, COUNTS, SHAPES


def vocabulary() -> list[str]:
    """Every word of every bundled question, instruction and label (lower-cased), sorted: deterministic."""
    words: set[str] = set()
    from tokenizers.pre_tokenizers import Whitespace

    pre = Whitespace()
    texts = ["answer with one word .", "what is this ? yes no"]
    for name in bundled_task_names("trained"):
        spec = bundled_spec(name)
        texts += [spec.question, " ".join(spec.labels)]
    texts += [" ".join(COLORS), " ".join(SHAPES), " ".join(COUNTS), "is there a"]
    for t in texts:
        words.update(w for w, _ in pre.pre_tokenize_str(t.lower()) if w not in ("<", ">"))
    return sorted(words)


def word_level_tokenizer(specials: list[str], words: list[str], chat_template: str,
                         extra: dict[str, str] | None = None, bos: str | None = None, eos: str | None = None,
                         pad: str = "<pad>", unk: str = "<unk>"):
    """An offline word-level fast tokenizer: ``specials`` first (ids 0..), then ``words``; lower-cased,
    punctuation split, special tokens matched whole, left padding, ``chat_template`` set. ``extra`` names special
    tokens as attributes (``image_token``...), as hub tokenizers do. Used by the demo model and the tiny models."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(specials)}
    for w in words:
        vocab.setdefault(w, len(vocab))
    tk = Tokenizer(models.WordLevel(vocab=vocab, unk_token=unk))
    tk.normalizer = normalizers.Lowercase()
    tk.pre_tokenizer = pre_tokenizers.Whitespace()
    tk.add_special_tokens(list(specials))  # matched whole before pre-tokenisation (already in the vocabulary)
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, bos_token=bos, eos_token=eos, unk_token=unk, pad_token=pad,
                                  extra_special_tokens=extra or {}, padding_side="left")
    tok.chat_template = chat_template
    return tok
