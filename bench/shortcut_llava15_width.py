"""The shortcut of a LLaVA-1.5-7B-width model: export after layer 0 and the library's agreement at batch 1, 2, 5.

A random-weight model with the widths and layout of llava-hf/llava-1.5-7b-hf (CLIP ViT-L/14 at 336 px, 24 vision
layers, ``vision_feature_layer=-2``, strategy ``default``, Llama 4096 / 11008 with 32 heads, vocabulary 32064),
decoder cut to 2 layers, is written to OUT/model (``build``, about 3.4 GB); ``run`` loads layers 0..0, fits a
one-neuron classifier on 6 examples (5 of shapes-color and a 300x200 photo-like image with a longer question),
exports it (weights over 1 GiB: ``shortcut.onnx.data``), verifies it on load, and compares the shortcut at batch 1,
2 and 5 (left-padded) with the library's early exit at batch 1. Prints load / extraction / export seconds, peak
RSS, the files and their sizes, and per batch size the seconds per example, the largest relative difference and
the share of equal labels.

    python bench/shortcut_llava15_width.py OUT build && python bench/shortcut_llava15_width.py OUT run
"""
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
out = Path(sys.argv[1]); stage = sys.argv[2]
if stage == "build":
    import torch
    from transformers import (CLIPImageProcessorPil, CLIPVisionConfig, LlamaConfig, LlavaConfig,
                              LlavaForConditionalGeneration, LlavaProcessor)
    from sn_core.models.tiny import tiny_tokenizer
    tpl = ("{% for m in messages %}{{ m['role'].upper() }}: {% for p in m['content'] %}{% if p['type'] == 'image' %}"
           "<image>\n{% else %}{{ p['text'] }}{% endif %}{% endfor %} {% endfor %}"
           "{% if add_generation_prompt %}ASSISTANT:{% endif %}")
    tok = tiny_tokenizer(["<s>", "</s>", "<image>"], tpl, {"image_token": "<image>"}, bos="<s>", eos="</s>")
    ip = CLIPImageProcessorPil(size={"shortest_edge": 336}, crop_size={"height": 336, "width": 336})
    proc = LlavaProcessor(image_processor=ip, tokenizer=tok, patch_size=14, vision_feature_select_strategy="default",
                          chat_template=tpl, image_token="<image>", num_additional_image_tokens=1)
    torch.manual_seed(0)
    cfg = LlavaConfig(vision_config=CLIPVisionConfig(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24,
                                                     num_attention_heads=16, image_size=336, patch_size=14, projection_dim=768),
                      text_config=LlamaConfig(hidden_size=4096, intermediate_size=11008, num_attention_heads=32,
                                              num_key_value_heads=32, num_hidden_layers=2, vocab_size=32064,
                                              pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
                                              eos_token_id=tok.eos_token_id),
                      image_token_index=tok.convert_tokens_to_ids("<image>"), image_seq_length=576,
                      vision_feature_select_strategy="default", vision_feature_layer=-2, projector_hidden_act="gelu")
    with torch.device("cpu"):
        model = LlavaForConditionalGeneration(cfg).eval()
    model.save_pretrained(out / "model"); proc.save_pretrained(out / "model")
    print("built")
else:
    from PIL import Image
    from sn_core.classifier import SuperNeuronClassifier
    from sn_core.shortcut.early_exit import EarlyExitPredictor
    from sn_core.models import load_model
    from sn_core.shortcut import export_shortcut, load_shortcut
    from sn_core.data import get_task
    t = time.time(); loaded = load_model(str(out / "model"), max_layers=1); print("load", time.time() - t, flush=True)
    task = get_task("shapes-color", 8, seed=0, part="eval")
    rng = np.random.default_rng(0)
    images = [e.image for e in task.examples[:5]] + [Image.fromarray(rng.integers(0, 255, (200, 300, 3), dtype=np.uint8))]
    qs = [e.question for e in task.examples[:5]] + ["What color is the large shape on the left side of the picture?"]
    neurons = ("blocks.0.mlp.hook_post[3]",)
    dummy = SuperNeuronClassifier(neurons=neurons).fit([[0.0], [1.0]], ["a", "b"])
    t = time.time(); V = EarlyExitPredictor(loaded, dummy).values(images, qs); print("values", time.time() - t, flush=True)
    clf = SuperNeuronClassifier(neurons=neurons).fit(V, [e.label for e in task.examples[:5]] + ["red"])
    clf.meta_ = {"model_id": str(out / "model"), "weights_hash": loaded.weights_hash, "instruction": "Answer with one word."}
    t = time.time(); path = export_shortcut(clf, out / "sc", loaded=loaded); print("export", time.time() - t,
        "maxrss GB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, flush=True)
    card = json.loads((path / "card.json").read_text())
    print("files", {p.name: p.stat().st_size for p in path.iterdir()}, card["onnx"]["external_data"], flush=True)
    t = time.time(); sc = load_shortcut(path, threads=2); print("load_shortcut (hashes verified)", time.time() - t, flush=True)
    pred = EarlyExitPredictor(loaded, clf)
    ref = np.concatenate([pred.values([im], [q]) for im, q in zip(images, qs)])
    for bs in (1, 2, 5):
        t = time.time(); got = sc.predict(images, qs, batch_size=bs)
        print("batch", bs, "s/ex", (time.time() - t) / len(images), "max rel", float(np.max(np.abs(got.values - ref) / np.abs(ref).mean())),
              "labels equal", float(np.mean(np.array(got.labels) == pred.labels(ref))), flush=True)
