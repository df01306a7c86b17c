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


# ------------------------------------------------------------------------------------- tiny test models' tokenizers
def _words() -> list[str]:
    return vocabulary() + ["user", "assistant", "system", "model", ":", "you", "are", "helpful", "."]


def tiny_tokenizer(specials: list[str], chat_template: str, extra: dict[str, str] | None = None,
                   bos: str | None = None, eos: str | None = None, pad: str = "<pad>"):
    """A word-level fast tokenizer: ``<pad>``, ``<unk>``, the family's special tokens, then the bundled-task words.

    ``extra`` names special tokens as attributes (``image_token``, ``boi_token``...), as hub tokenizers do.
    """
    specials = list(dict.fromkeys(["<pad>", "<unk>"] + specials))
    return word_level_tokenizer(specials, _words(), chat_template, extra, bos=bos, eos=eos, pad=pad)


def family_chat_template(turn_open: str, turn_close: str, image: str, assistant: str, prefix: str = "",
                         system: str | None = None) -> str:
    """A Jinja chat template with the family's layout: ``prefix``, optional default system turn, user turns where
    each image part becomes ``image``, then the generation prompt ``assistant``. ``{role}`` in ``turn_open`` is
    replaced by the message role."""
    open_ = turn_open.replace("{role}", "{{ m['role'] }}")
    sys_ = ""
    if system is not None:
        sys_ = ("{%- if messages[0]['role'] != 'system' -%}" + turn_open.replace("{role}", "system") + system
                + turn_close + "{%- endif -%}")
    tpl = (
        prefix + sys_ + "{%- for m in messages -%}" + open_
        + "{%- if m['content'] is string -%}{{ m['content'] }}{%- else -%}{%- for p in m['content'] -%}"
        + "{%- if p['type'] == 'image' -%}" + image + "{%- elif p['type'] == 'text' -%}{{ p['text'] }}{%- endif -%}"
        + "{%- endfor -%}{%- endif -%}" + turn_close + "{%- endfor -%}"
        + "{%- if add_generation_prompt -%}" + assistant + "{%- endif -%}"
    )
    # The pieces are concatenated without whitespace, so non-trimming tags keep the families' newlines
    # (e.g. after "<|im_start|>user") exactly where the real templates put them.
    return tpl.replace("{%-", "{%").replace("-%}", "%}")
