"""The embedded demo VLM: its architecture and processor (``model``), training (``training``), model card
(``card``); ``python -m sn_core.demo`` trains it into ``assets/demo-vlm/``."""
from sn_core.demo.model import (CHAT_TEMPLATE, COLORS, COUNTS, DEMO_MODEL_DIR, DemoConfig, IMAGE_SIZE, SHAPES,
    SPECIAL_TOKENS, build_model, build_processor, build_tokenizer, bundled_spec, bundled_task_names, chat_prompt,
    encode, evaluate, get_task, match_label, vocabulary, word_level_tokenizer)
from sn_core.demo.cli import main

__all__ = ["CHAT_TEMPLATE", "COLORS", "COUNTS", "DEMO_MODEL_DIR", "DemoConfig", "IMAGE_SIZE", "SHAPES",
           "SPECIAL_TOKENS", "build_model", "build_processor", "build_tokenizer", "bundled_spec",
           "bundled_task_names", "chat_prompt", "encode", "evaluate", "get_task", "main", "match_label",
           "vocabulary", "word_level_tokenizer"]
