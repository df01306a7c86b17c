"""The embedded demo VLM loads offline through the standard transformers path and answers questions;
the training script runs a few steps on a tiny config (it never retrains the real model in CI)."""
import json

import pytest
import torch
from transformers import AutoModelForImageTextToText, AutoProcessor, LlavaForConditionalGeneration

from sn_core import DEMO_MODEL_DIR
from sn_core.data import get_task
from sn_core.demo import DemoConfig, main as demo_main
from sn_core.data.answers import match_label
from sn_core.models.prompts import chat_prompt, encode


@pytest.fixture(scope="module")
def demo():
    model = AutoModelForImageTextToText.from_pretrained(DEMO_MODEL_DIR).eval()
    return model, AutoProcessor.from_pretrained(DEMO_MODEL_DIR)


def test_demo_model_is_a_real_llava_with_enough_layers(demo):
    model, processor = demo
    assert isinstance(model, LlavaForConditionalGeneration)
    text_layers = model.model.language_model.layers
    assert len(text_layers) >= 8
    n_text = sum(p.numel() for p in model.model.language_model.parameters())
    n_vision = sum(p.numel() for p in model.model.vision_tower.parameters())
    assert n_text > 5 * n_vision, "the language model should carry most of the compute, as in LLaVA"
    weights = sum(f.stat().st_size for f in DEMO_MODEL_DIR.glob("*.safetensors"))
    assert weights < 25e6


@pytest.mark.parametrize("name", ["shapes-color", "shapes-count", "digits-class"])
def test_demo_model_answers_above_chance(demo, name):
    """Greedy answers on held-out examples beat chance by a clear margin (n=40, balanced)."""
    model, processor = demo
    task = get_task(name, 40, seed=123, part="eval")
    batch = encode(processor, [e.image for e in task.examples],
                   [chat_prompt(processor, task.prompt_text(e.question)) for e in task.examples])
    with torch.no_grad():
        out = model.generate(**batch, max_new_tokens=2, do_sample=False)
    answers = processor.tokenizer.batch_decode(out[:, batch["input_ids"].shape[1]:], skip_special_tokens=True)
    acc = sum(match_label(a, task.labels) == e.label for a, e in zip(answers, task.examples)) / len(task)
    chance = 1 / len(task.labels)
    assert acc >= chance + 0.25, f"{name}: accuracy {acc:.2f} vs chance {chance:.2f}; answers {answers[:8]}"


def test_training_script_runs_a_few_steps_on_a_tiny_config(tmp_path, capsys):
    out = tmp_path / "tiny"
    rc = demo_main(["train", "--tiny", "--out", str(out), "--steps", "6", "--n-per-task", "8",
                    "--vision-warmup", "2", "--save-every", "3", "--batch-size", "8"])
    assert rc == 0
    info = json.loads((out / "training.json").read_text())
    assert info["steps"] == 6 and info["config"]["text_layers"] == DemoConfig(text_layers=2).text_layers
    model = AutoModelForImageTextToText.from_pretrained(out)
    processor = AutoProcessor.from_pretrained(out)
    task = get_task("shapes-color", 2)
    batch = encode(processor, [e.image for e in task.examples],
                   [chat_prompt(processor, task.prompt_text(e.question)) for e in task.examples])
    gen = model.generate(**batch, max_new_tokens=2, do_sample=False)
    assert gen.shape[0] == 2
    # resuming continues from the saved step count (not a fresh start that also ends at step 8)
    capsys.readouterr()
    rc = demo_main(["train", "--tiny", "--out", str(out), "--steps", "8", "--n-per-task", "8",
                    "--vision-warmup", "2", "--batch-size", "8", "--resume"])
    assert rc == 0 and json.loads((out / "training.json").read_text())["steps"] == 8
    assert "resuming from step 6" in capsys.readouterr().out


def test_training_arch_overrides_and_bad_overrides(tmp_path, capsys):
    """``--arch FIELD=INT`` changes the architecture that is trained and saved; a bad field is refused by name."""
    out = tmp_path / "arch"
    rc = demo_main(["train", "--tiny", "--arch", "text_layers=3", "--out", str(out), "--steps", "2",
                    "--n-per-task", "4", "--vision-warmup", "1", "--batch-size", "4"])
    assert rc == 0
    info = json.loads((out / "training.json").read_text())
    assert info["config"]["text_layers"] == 3 and info["device"].endswith("CPU threads")
    assert json.loads((out / "config.json").read_text())["text_config"]["num_hidden_layers"] == 3
    with pytest.raises(SystemExit) as e:
        demo_main(["train", "--tiny", "--arch", "text_depth=3", "--out", str(tmp_path / "bad")])
    assert e.value.code == 2 and "text_depth=3" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
