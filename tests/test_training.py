"""recipes/sft_llava.py under `accelerate launch --cpu` with a tiny LLaVA; optimizer groups; pre-flight; merge."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from helpers import tiny_recipe
from PIL import Image

from mirror_hf.cli import main
from mirror_hf.errors import MirrorError

ROOT = Path(__file__).resolve().parents[1]


CAPTURE = {"capture_output": True, "text": True, "timeout": 600}


def launch(config: Path, *extra: str, env: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": "", **(env or {})}
    cmd = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--num_processes",
        "1",
        "--cpu",
        str(ROOT / "recipes" / "sft_llava.py"),
        "--config",
        str(config),
        *extra,
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_llava, sample_dataset):
    """A run preempted after 12 steps, then relaunched with the same output_dir until step 30."""
    tmp = tmp_path_factory.mktemp("train")
    config = tiny_recipe(tmp, tiny_llava, sample_dataset)
    first = launch(config, "--max_steps", "12")
    assert "pre-flight: 4 rows OK" in first.stderr
    second = launch(config)
    return tmp / "run", first, second


def test_recipe_overfits_resumes_and_writes_adapter_card_and_config(trained):
    run, first, second = trained
    assert f"Resuming from {run / 'checkpoint-12'}" in second.stdout
    assert "Resuming" not in first.stdout
    assert "Token lengths" in first.stderr  # the length pass over the whole dataset shows its progress
    state = json.loads((run / "trainer_state.json").read_text())
    steps = [h["step"] for h in state["log_history"] if "loss" in h]
    assert steps == list(range(1, 31))  # resumed at 12: no step run twice, none lost
    losses = [h["loss"] for h in state["log_history"] if "loss" in h]
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3 - 1.5  # overfits 4 records clearly

    adapter = json.loads((run / "adapter_config.json").read_text())
    assert adapter["modules_to_save"] == ["multi_modal_projector"]
    targets = adapter["target_modules"]
    assert targets and all("language_model" in t for t in targets)
    assert {t.rsplit(".", 1)[1] for t in targets} == {
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
    }
    assert (run / "adapter_model.safetensors").is_file() and (run / "processor_config.json").is_file()

    resolved = yaml.safe_load((run / "mirror_recipe.yaml").read_text())
    assert resolved["training"]["projector_lr"] == 1.0e-3 and resolved["model"]["lora_r"] == 8
    card = (run / "README.md").read_text()
    meta = yaml.safe_load(card.split("---")[1])
    assert meta["library_name"] == "peft" and meta["pipeline_tag"] == "image-text-to-text"
    assert meta["base_model"] == str(Path(resolved["model"]["model_name_or_path"]))
    widget = meta["widget"][0]["messages"][0]["content"]
    assert widget[0]["type"] == "image_url" and widget[1]["text"].startswith("The image above shows the client.")
    assert (run / "widget_face.png").is_file()
    assert "not a replacement for professional psychological treatment" in card
    assert "| projector_lr | 0.001 |" in card


def test_adapter_reloads_and_answers_through_the_pipeline(trained, sample_dataset):
    from datasets import load_dataset

    from mirror_hf.data.sft import from_trl_messages
    from mirror_hf.training.inference import chat_messages, load_model, respond, therapist_pipeline

    run = trained[0]
    row = load_dataset(str(sample_dataset), "sft_base", split="train")[0]
    human = from_trl_messages(row["prompt"])
    pipe = therapist_pipeline(run)
    settings = dict(max_new_tokens=6, min_new_tokens=6, suppress_tokens=pipe.tokenizer.all_special_ids)
    answer = respond(pipe, row["images"][0], human, **settings)

    # the pipeline answers as the adapter on its base model does, from the same prompt, with 6 new tokens
    model, processor = load_model(run)
    inputs = processor.apply_chat_template(
        chat_messages(row["images"][0], human),
        tokenize=True,
        return_dict=True,
        return_tensors="pt",
        add_generation_prompt=True,
    )
    ids = model.generate(**inputs, do_sample=False, **settings)[0, inputs["input_ids"].shape[1] :]
    assert len(ids) == 6 and not set(ids.tolist()) & set(pipe.tokenizer.all_special_ids)
    assert answer == processor.decode(ids, skip_special_tokens=True).strip()


def test_optimizer_has_two_learning_rates(tiny_llava, sample_dataset, tmp_path):
    trainer = _trainer(
        tiny_llava, sample_dataset, tmp_path, lora=True, learning_rate=2e-4, projector_lr=2e-5, weight_decay=0.0,
        max_length=None,
    )  # fmt: skip
    optimizer = trainer.create_optimizer()
    by_param = {id(p): g["lr"] for g in optimizer.param_groups for p in g["params"]}
    trainable = {n: p for n, p in trainer.model.named_parameters() if p.requires_grad}
    assert set(by_param) == {id(p) for p in trainable.values()}
    for name, param in trainable.items():
        expected = 2e-5 if "multi_modal_projector" in name else 2e-4
        assert by_param[id(param)] == expected, name
        assert "lora_" in name or "multi_modal_projector" in name
    assert {g["lr"] for g in optimizer.param_groups} == {2e-4, 2e-5}
    assert not any("vision_tower" in n or "lm_head" in n for n in trainable)


def _trainer(tiny_llava, dataset, tmp_path, split="train", lora=False, dtype=None, **kwargs):
    """A MirrorSFTTrainer on the tiny LLaVA over ``split`` of sft_base (with LoRA r=4 if ``lora``)."""
    from datasets import load_dataset
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from mirror_hf.training.config import MirrorSFTConfig
    from mirror_hf.training.lora import mirror_lora_config
    from mirror_hf.training.trainer import MirrorSFTTrainer

    processor = AutoProcessor.from_pretrained(tiny_llava)
    if "chat_template" in kwargs:
        processor.chat_template = kwargs.pop("chat_template")
    args = MirrorSFTConfig(
        output_dir=str(tmp_path), use_cpu=True, report_to=[], **{"per_device_train_batch_size": 2, **kwargs}
    )
    model = AutoModelForImageTextToText.from_pretrained(tiny_llava, **({"dtype": dtype} if dtype else {}))
    return MirrorSFTTrainer(
        model=model,
        args=args,
        train_dataset=load_dataset(str(dataset), "sft_base", split=split),
        processing_class=processor,
        peft_config=mirror_lora_config(model, r=4, alpha=8, dropout=0.0) if lora else None,
    )


def _step(trainer, inputs, training_step=None):
    """One training step on ``inputs`` (by ``training_step``, default the trainer's own), under the autocast that
    ``train()`` would set: its loss and the trainable parameters' gradients."""
    trainer.current_gradient_accumulation_steps = 1  # what train() sets before its steps
    trainer.model.zero_grad()
    with trainer.accelerator.autocast():
        loss = (training_step or type(trainer).training_step)(trainer, trainer.model, dict(inputs))
    return loss, {n: p.grad.float().clone() for n, p in trainer.model.named_parameters() if p.requires_grad}


def test_preflight_passes_and_shows_the_learned_part(tiny_llava, sample_dataset, tmp_path):
    from mirror_hf.training.preflight import preflight

    report = preflight(_trainer(tiny_llava, sample_dataset, tmp_path, max_length=2048), n_batches=2, log=False)
    assert report.rows_checked == 4 and report.image_tokens_per_image == 4
    assert report.rendered_example.startswith("USER: <image>×4\nThe image above shows the client.")
    assert report.rendered_example.endswith(
        "ASSISTANT:[[ Work stuff can weigh a lot even when it seems small. What happened?</s>]]"
    )


def test_preflight_stops_a_template_that_drops_the_answer(tiny_llava, sample_dataset, tmp_path):
    from mirror_hf.training.preflight import preflight

    broken = (
        "{% for m in messages %}{% if m['role'] == 'user' %}USER: {% for c in m['content'] %}"
        "{% if c['type'] == 'image' %}<image>\n{% else %}{{ c['text'] }}{% endif %}{% endfor %}"
        "{% endif %}{% endfor %}{% if add_generation_prompt %} ASSISTANT:{% endif %}"
    )
    trainer = _trainer(tiny_llava, sample_dataset, tmp_path, max_length=2048, chat_template=broken)
    with pytest.raises(MirrorError, match="no unmasked label token") as err:
        preflight(trainer, log=False)
    assert err.value.row == 0 and err.value.idx.endswith(":2:response")


def test_preflight_stops_a_too_small_max_length(tiny_llava, sample_dataset, tmp_path):
    from mirror_hf.training.preflight import preflight

    with pytest.raises(MirrorError, match=r"needs \d+ tokens .* but max_length is 300.*raise max_length"):
        preflight(_trainer(tiny_llava, sample_dataset, tmp_path, max_length=300), log=False)


def test_export_merged_model_matches_the_adapter(trained, sample_dataset, tmp_path):
    from datasets import load_dataset
    from transformers import AutoModelForImageTextToText

    from mirror_hf.data.sft import from_trl_messages
    from mirror_hf.training.inference import chat_messages, load_model

    run = trained[0]
    assert main(["export", "--adapter", str(run), "--out", str(tmp_path / "merged")]) == 0
    adapter_model, processor = load_model(run)
    merged = AutoModelForImageTextToText.from_pretrained(tmp_path / "merged").eval()
    row = load_dataset(str(sample_dataset), "sft_base", split="train")[0]
    inputs = processor.apply_chat_template(
        chat_messages(row["images"][0], from_trl_messages(row["prompt"])),
        tokenize=True,
        return_dict=True,
        return_tensors="pt",
        add_generation_prompt=True,
    )
    with torch.no_grad():
        a = adapter_model(**inputs).logits
        b = merged(**inputs).logits
        base = (
            AutoModelForImageTextToText.from_pretrained(
                json.loads((run / "adapter_config.json").read_text())["base_model_name_or_path"]
            )
            .eval()(**inputs)
            .logits
        )
    print("MAXDIFF", (a - b).abs().max().item(), a.abs().max().item())
    # float32 rounding of W + BA against W and BA apart grows with the adapter (overfit at lr 3e-2 here)
    assert (a - b).abs().max() <= 1e-4 * a.abs().max()
    assert not torch.allclose(a, base, atol=1e-2)  # the adapter (and projector) really changed the model
    assert (tmp_path / "merged" / "README.md").is_file()
    assert isinstance(row["images"][0], Image.Image)


def test_preflight_checks_every_row_length_not_just_the_first_batches(tiny_llava, sample_dataset, tmp_path):
    from mirror_hf.training.preflight import preflight, record_lengths

    trainer = _trainer(tiny_llava, sample_dataset, tmp_path, max_length=4096)
    lengths = record_lengths(trainer.train_dataset, trainer.processing_class)
    order = sorted(range(len(lengths)), key=lengths.__getitem__)  # shortest first
    trainer.train_dataset = trainer.train_dataset.select(order)
    lengths = [lengths[i] for i in order]
    limit = lengths[3] + 40  # the collated batches (rows 0-3) fit, the longest rows do not
    assert lengths[-1] > limit
    trainer.args.max_length = limit
    with pytest.raises(MirrorError, match=rf"rows need more than max_length={limit}") as err:
        preflight(trainer, n_batches=2, log=False)
    assert err.value.row >= 4


def test_push_to_hub_publishes_adapter_and_a_card_whose_widget_image_resolves(
    tmp_path, tiny_llava, sample_dataset, monkeypatch
):
    """`--push_to_hub` through TRL to a loopback Hub: the files, a card that passes the Hub's YAML check, its widget
    image at the URL the card names, and the adapter pulled back with snapshot_download and loaded with peft."""
    import urllib.request

    import huggingface_hub.constants
    from hub_server import HubServer
    from huggingface_hub import ModelCard, snapshot_download
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForImageTextToText

    hub = HubServer()
    try:
        config = tiny_recipe(
            tmp_path, tiny_llava, sample_dataset, max_steps=2, save_strategy="no", push_to_hub=True,
            hub_model_id="me/mirror-tiny", hub_strategy="end",
        )  # fmt: skip
        launch(config, env={"HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0", "HF_TOKEN": "hf_test"})
        files = set(hub.repos["models", "me/mirror-tiny"].files)
        assert {"README.md", "adapter_model.safetensors", "adapter_config.json", "mirror_recipe.yaml"} <= files
        assert {"widget_face.png", "processor_config.json"} <= files and ("POST", "/api/validate-yaml") in hub.requests

        monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)  # pull back from the loopback Hub
        local = Path(snapshot_download("me/mirror-tiny", endpoint=hub.url, cache_dir=tmp_path / "dl", token="x"))
        card = ModelCard.load(local / "README.md")
        url = card.data.widget[0]["messages"][0]["content"][0]["image_url"]["url"]
        assert url == f"{hub.url}/me/mirror-tiny/resolve/main/widget_face.png"
        with urllib.request.urlopen(url) as answer:
            assert answer.read()[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        hub.close()
    assert card.data.library_name == "peft" and card.data.pipeline_tag == "image-text-to-text"
    assert card.data.base_model == str(tiny_llava) and "not a replacement for professional" in card.text
    pushed = load_file(local / "adapter_model.safetensors")
    trained = load_file(tmp_path / "run" / "adapter_model.safetensors")
    assert pushed.keys() == trained.keys() and all(torch.equal(pushed[k], trained[k]) for k in pushed)
    base = AutoModelForImageTextToText.from_pretrained(tiny_llava)
    model = PeftModel.from_pretrained(base, local)
    assert any("lora_A" in name for name, _ in model.named_parameters())


LOGITS_BY_HUB_ID = """
import json, sys, torch
from PIL import Image
from mirror_hf.training.inference import chat_messages, load_model

def logits(path):
    model, processor = load_model(path)
    messages = chat_messages(Image.new("RGB", (40, 40), (120, 90, 70)), "<image>\\nThe client frowns. Answer.")
    inputs = processor.apply_chat_template(
        messages, tokenize=True, return_dict=True, return_tensors="pt", add_generation_prompt=True
    )
    with torch.no_grad():
        return type(model).__name__, model(**inputs).logits

name_a, a = logits("me/llava-ec")
name_m, m = logits("me/llava-ec-merged")
name_l, local = logits(sys.argv[1])
print(json.dumps([name_a, name_m, (a - m).abs().max().item(), (m - local).abs().max().item()]))
"""


def test_an_adapter_and_its_merged_model_pushed_after_training_load_back_by_hub_id(trained, tmp_path):
    """`mirror-hf push` of a training output_dir (trained without --push_to_hub) and of its `mirror-hf export`: no
    checkpoints go up; each card's widget image (a bare file name while the repo was unknown) and usage snippet name
    the new repository, and the image resolves there; the merged card is a full model's (library transformers); the
    local cards are left as they were; `load_model("ORG/NAME")` loads both back by Hub id with the same logits, and
    `mirror-hf pull --repo-type model` brings back the adapter's exact weights."""
    import urllib.request

    from hub_server import HubServer
    from huggingface_hub import ModelCard
    from safetensors.torch import load_file

    run, merged = trained[0], tmp_path / "merged"
    assert main(["export", "--adapter", str(run), "--out", str(merged)]) == 0
    local_card = (run / "README.md").read_text()
    assert ModelCard(local_card).data.widget[0]["messages"][0]["content"][0]["image_url"]["url"] == "widget_face.png"
    assert ModelCard.load(merged / "README.md").data.library_name == "transformers"
    merged_card = (merged / "README.md").read_text()
    hub = HubServer()
    env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0", "HF_TOKEN": "hf_test"}
    env["HF_HOME"] = str(tmp_path / "home")
    steps = (
        ["-m", "mirror_hf", "push", str(run), "me/llava-ec"],
        ["-m", "mirror_hf", "push", str(merged), "me/llava-ec-merged"],
        ["-m", "mirror_hf", "pull", "me/llava-ec", "--repo-type", "model", "--out", "dl"],
        ["-c", LOGITS_BY_HUB_ID, str(merged)],
    )
    try:
        for args in steps:
            done = subprocess.run([sys.executable, *args], env=env, cwd=tmp_path, **CAPTURE)
            assert done.returncode == 0, done.stderr[-3000:]
        cards = {}
        for repo in ("me/llava-ec", "me/llava-ec-merged"):
            cards[repo] = ModelCard(hub.repos["models", repo].files["README.md"].decode())
            url = cards[repo].data.widget[0]["messages"][0]["content"][0]["image_url"]["url"]
            assert url == f"{hub.url}/{repo}/resolve/main/widget_face.png"
            with urllib.request.urlopen(url) as answer:
                assert answer.read() == (run / "widget_face.png").read_bytes()
            assert f'therapist_pipeline("{repo}")' in cards[repo].text
        files = set(hub.repos["models", "me/llava-ec"].files)
        merged_files = set(hub.repos["models", "me/llava-ec-merged"].files)
    finally:
        hub.close()
    adapter_name, merged_name, adapter_vs_merged, hub_vs_local = json.loads(done.stdout.strip().splitlines()[-1])
    assert adapter_name.startswith("PeftModel") and merged_name == "LlavaForConditionalGeneration"
    assert adapter_vs_merged < 1e-4 and hub_vs_local == 0.0
    assert {"adapter_model.safetensors", "adapter_config.json", "mirror_recipe.yaml", "processor_config.json"} <= files
    assert not [f for f in files if f.startswith("checkpoint-")] and any(run.glob("checkpoint-*"))
    assert {"model.safetensors", "config.json", "processor_config.json", "widget_face.png"} <= merged_files
    assert (run / "README.md").read_text() == local_card and (merged / "README.md").read_text() == merged_card
    assert cards["me/llava-ec"].data.library_name == "peft"
    assert cards["me/llava-ec-merged"].data.library_name == "transformers"
    assert "holds the full model" in cards["me/llava-ec-merged"].text
    assert all("not a replacement for professional" in c.text for c in cards.values())
    pulled = load_file(tmp_path / "dl" / "adapter_model.safetensors")
    mine = load_file(run / "adapter_model.safetensors")
    assert pulled.keys() == mine.keys() and all(torch.equal(pulled[k], mine[k]) for k in pulled)


def test_a_rewritten_card_keeps_its_evaluation_results(tmp_path):
    from types import SimpleNamespace

    from huggingface_hub import EvalResult, ModelCard

    from mirror_hf.cards import add_eval_results
    from mirror_hf.training.recipe import recipe_card_renderer

    prompt = [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Profile\nThe client says hi."}]}
    ]
    args = SimpleNamespace(
        output_dir=str(tmp_path), widget_image=None, hub_model_id=None, model_license="llama2", world_size=1
    )
    render = recipe_card_renderer(
        SimpleNamespace(dataset_name="mirror", dataset_config="sft_base"),
        args,
        SimpleNamespace(model_name_or_path="llava-hf/llava-1.5-7b-hf", lora_r=8, lora_alpha=16, lora_dropout=0.0),
        [{"prompt": prompt}],
    )
    readme = tmp_path / "README.md"
    readme.write_text(render(SimpleNamespace()))
    result = EvalResult(
        task_type="image-text-to-text", dataset_type="multimodal-reframing/mirror", dataset_name="MIRROR eval profiles",
        metric_type="wai_alliance/bond", metric_value=3.48, metric_name="wai_alliance bond",
    )  # fmt: skip
    add_eval_results(readme, [result])
    readme.write_text(render(SimpleNamespace()))  # e.g. the card written again before a push
    kept = ModelCard.load(readme)
    assert [(r.metric_type, r.metric_value) for r in kept.data.eval_results] == [("wai_alliance/bond", 3.48)]
    assert "| wai_alliance bond | 3.48 |" in kept.text


def test_two_processes_share_the_data_and_save_once(tmp_path, tiny_llava, sample_dataset):
    """DDP over 2 CPU processes (torchrun + gloo; accelerate's --cpu always runs one process): each step takes one
    row per process, the pre-flight prints once, the optimizer keeps its two learning rates, and the main process
    writes the outputs; compiled decoder layers train under DDP."""
    config = tiny_recipe(
        tmp_path, tiny_llava, sample_dataset, max_steps=4, save_steps=4, per_device_train_batch_size=1,
        use_cpu=True, activation_checkpointing=True,  # as the 7B YAMLs: recompute under DDP
        compile_decoder_layers=True,
    )  # fmt: skip
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    cmd += [str(ROOT / "recipes" / "sft_llava.py"), "--config", str(config)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": "", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    assert result.stderr.count("pre-flight:") == 1
    assert "find_unused_parameters=True" not in result.stderr  # DDP does not search the graph after each step
    state = json.loads((tmp_path / "run" / "trainer_state.json").read_text())
    assert state["global_step"] == 4 and state["log_history"][-1]["epoch"] == 2.0  # 4 rows, 2 per step
    card = (tmp_path / "run" / "README.md").read_text()
    assert "| world_size | 2 |" in card and "| activation_checkpointing | True |" in card
    assert yaml.safe_load((tmp_path / "run" / "mirror_recipe.yaml").read_text())["training"]["compile_decoder_layers"]
    assert all(h["loss"] == h["loss"] for h in state["log_history"] if "loss" in h)  # no NaN
    assert (tmp_path / "run" / "adapter_model.safetensors").is_file()
    optimizer = torch.load(tmp_path / "run" / "checkpoint-4" / "optimizer.pt", weights_only=False)
    assert sorted({g["lr"] for g in optimizer["param_groups"]}) == [1.0e-3, 3.0e-2]  # projector, LoRA


def test_zero3_over_two_processes_shards_trains_saves_a_whole_adapter_and_resumes(
    tmp_path, trained, tiny_llava, sample_dataset
):
    """`accelerate launch --config_file recipes/accelerate_configs/zero3.yaml` as written, over 2 CPU processes
    (DeepSpeed's CPU accelerator, gloo; only the device and precision differ from a GPU launch): ZeRO stage 3 shards
    the optimizer state, which keeps its two learning rates; the adapter is gathered whole on save (the names and
    shapes of a one-process run's, trained); a relaunch resumes from the DeepSpeed checkpoint."""
    from safetensors.torch import load_file

    config = tiny_recipe(
        tmp_path, tiny_llava, sample_dataset, max_steps=2, save_steps=2, per_device_train_batch_size=1, use_cpu=True,
        activation_checkpointing=True,  # as the 7B YAMLs (TRL forces reentrant recompute for peft under ZeRO-3)
    )  # fmt: skip
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file"]
    cmd += [str(ROOT / "recipes" / "accelerate_configs" / "zero3.yaml"), "--num_processes", "2"]
    cmd += ["--mixed_precision", "no", str(ROOT / "recipes" / "sft_llava.py"), "--config", str(config)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": "", "OMP_NUM_THREADS": "1", "DS_ACCELERATOR": "cpu"}
    first = subprocess.run(cmd, env=env, **CAPTURE)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-5000:]
    run = tmp_path / "run"
    shards = sorted((run / "checkpoint-2" / "global_step2").glob("zero_pp_rank_*_optim_states.pt"))
    assert len(shards) == 2  # one shard of the optimizer state per process
    state = torch.load(shards[0], weights_only=False)
    assert state["ds_config"]["zero_optimization"]["stage"] == 3
    groups = state["optimizer_state_dict"]["optimizer_state_dict"]["param_groups"]
    assert sorted({g["lr"] for g in groups}) == [1.0e-3, 3.0e-2]  # projector, LoRA

    adapter = load_file(run / "adapter_model.safetensors")
    alone = load_file(trained[0] / "adapter_model.safetensors")
    assert {k: tuple(v.shape) for k, v in adapter.items()} == {k: tuple(v.shape) for k, v in alone.items()}
    assert all(v.abs().sum() > 0 for k, v in adapter.items() if "lora_B" in k)  # gathered and trained

    second = subprocess.run([*cmd, "--max_steps", "3"], env=env, **CAPTURE)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-5000:]
    assert f"Resuming from {run / 'checkpoint-2'}" in second.stdout
    steps = [h["step"] for h in json.loads((run / "trainer_state.json").read_text())["log_history"] if "loss" in h]
    assert steps == [1, 2, 3]


def test_under_bf16_autocast_lora_inputs_stay_bf16_with_same_loss_and_gradients(tiny_llava, sample_dataset, tmp_path):
    """peft copies each LoRA layer's input to the adapter's float32 although autocast runs the LoRA matmuls in bf16;
    under mixed precision the trainer's steps skip that copy: the same loss and gradients, bf16 inputs, and peft's
    casting is back on after the step (it is needed without autocast)."""
    from peft.tuners.lora import LoraLayer
    from trl import SFTTrainer

    trainer = _trainer(
        tiny_llava, sample_dataset, tmp_path, "train[:2]", lora=True, dtype=torch.bfloat16, bf16=True, max_length=2048
    )
    assert trainer.accelerator.mixed_precision == "bf16"
    lora = next(m for m in trainer.model.modules() if isinstance(m, LoraLayer))
    assert lora.lora_A["default"].weight.dtype == torch.float32  # peft keeps adapters in fp32 over a bf16 model
    seen = []
    lora.lora_A["default"].register_forward_pre_hook(lambda module, inputs: seen.append(inputs[0].dtype))
    batch = next(iter(trainer.get_train_dataloader()))

    cast_loss, cast_grads = _step(trainer, batch, SFTTrainer.training_step)
    assert seen == [torch.float32] and lora.cast_input_dtype_enabled
    loss, grads = _step(trainer, batch)
    assert seen[1:] == [torch.bfloat16] and lora.cast_input_dtype_enabled  # restored after the step
    assert torch.allclose(loss, cast_loss, rtol=1e-3)
    assert grads.keys() == cast_grads.keys() and any("lora_B" in n for n in grads)
    for name in grads:  # both under bf16 autocast: equal up to bf16 rounding, judged over the whole tensor
        error = (grads[name] - cast_grads[name]).norm() / cast_grads[name].norm().clamp_min(1e-12)  # lora_A: 0
        assert error < 1e-2, name


def test_causal_only_attention_drops_the_right_padding_mask_with_the_same_loss_and_gradients(
    tiny_llava, sample_dataset, tmp_path
):
    """``causal_only_attention``: a right-padded batch's forward goes without its padding mask (causal attention
    alone: no real token sees a later position, and padding has no label), so the loss and gradients are those of
    the masked step; a batch padded on the left keeps its mask; the hook is gone after the step."""
    # float32, where the masked and the causal kernels agree to rounding
    trainer = _trainer(
        tiny_llava, sample_dataset, tmp_path, "train[:3]", lora=True, bf16=False, max_length=2048,
        per_device_train_batch_size=3, causal_only_attention=False,
    )  # fmt: skip
    masks = []
    language_model = trainer.model.get_base_model().model.language_model
    language_model.register_forward_pre_hook(
        lambda module, a, kwargs: masks.append(kwargs.get("attention_mask")), with_kwargs=True
    )
    batch = next(iter(trainer.get_train_dataloader()))
    assert (batch["attention_mask"] == 0).any()  # padded

    masked_loss, masked_grads = _step(trainer, batch)
    trainer.args.causal_only_attention = True
    loss, grads = _step(trainer, batch)
    assert masks[0] is not None and masks[1] is None
    assert not trainer.model._forward_pre_hooks  # removed after the step
    assert torch.allclose(loss, masked_loss, rtol=1e-5)
    assert any("lora_B" in n for n in grads)
    for name in grads:
        assert torch.allclose(grads[name], masked_grads[name], rtol=1e-4, atol=1e-6), name

    left = {k: v.clone() for k, v in batch.items()}
    for row, n in enumerate(batch["attention_mask"].sum(dim=1).tolist()):
        for key in ("input_ids", "attention_mask", "labels"):
            left[key][row] = torch.roll(batch[key][row], batch[key].shape[1] - n)
    _step(trainer, left)
    assert masks[2] is not None  # padded on the left: the mask matters, and stays


def test_compile_decoder_layers_compiles_the_language_model_layers_with_the_same_loss_and_gradients(
    tiny_llava, sample_dataset, tmp_path
):
    """``compile_decoder_layers``: each decoder layer of the language model runs compiled (the vision tower stays
    eager), with activation checkpointing outside the compiled code; the loss and gradients are the eager step's;
    parameter names (so adapters and checkpoints) are unchanged; ``on=False`` returns the layers to eager mode."""
    from mirror_hf.training.regional_compile import compile_decoder_layers, decoder_layers

    trainer = _trainer(
        tiny_llava, sample_dataset, tmp_path, "train[:2]", lora=True, bf16=False, max_length=2048,
        compile_decoder_layers=True,
    )  # fmt: skip
    model = trainer.model
    layers = decoder_layers(model)
    assert len(layers) == model.config.text_config.num_hidden_layers
    assert all(layer._compiled_call_impl is not None for layer in layers)
    assert not any(
        getattr(m, "_compiled_call_impl", None) is not None for n, m in model.named_modules() if "vision_tower" in n
    )
    names = [n for n, _ in model.named_parameters()]
    batch = next(iter(trainer.get_train_dataloader()))

    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    loss, grads = _step(trainer, batch)
    assert compile_decoder_layers(model, on=False) == len(layers)
    assert all(layer._compiled_call_impl is None for layer in layers)
    model.gradient_checkpointing_disable()
    eager_loss, eager_grads = _step(trainer, batch)
    assert [n for n, _ in model.named_parameters()] == names
    assert torch.allclose(loss, eager_loss, rtol=1e-5)
    assert any("lora_B" in n for n in grads) and grads.keys() == eager_grads.keys()
    for name in grads:
        assert torch.allclose(grads[name], eager_grads[name], rtol=1e-3, atol=1e-6), name


def test_under_mixed_precision_the_projector_trains_float32_weights(tiny_llava, sample_dataset, tmp_path):
    """A bf16 model under bf16 autocast: every trainable weight (LoRA and the fully trained projector) is float32,
    so one optimizer step at the projector's lr 2e-5 moves the projector, where bf16 weights would have rounded
    most of that step away."""
    trainer = _trainer(
        tiny_llava, sample_dataset, tmp_path, "train[:2]", lora=True, dtype=torch.bfloat16, bf16=True,
        max_length=2048, learning_rate=2e-4, projector_lr=2e-5,
    )  # fmt: skip
    trainable = {n: p for n, p in trainer.model.named_parameters() if p.requires_grad}
    assert any("multi_modal_projector" in n for n in trainable)
    assert {p.dtype for p in trainable.values()} == {torch.float32}
    assert next(trainer.model.get_base_model().model.vision_tower.parameters()).dtype == torch.bfloat16  # frozen
    projector = next(p for n, p in trainable.items() if "multi_modal_projector" in n and p.dim() == 2)
    before = projector.detach().clone()
    optimizer = trainer.create_optimizer()
    _step(trainer, next(iter(trainer.get_train_dataloader())))
    optimizer.step()
    moved = projector.detach() != before
    assert moved.float().mean() > 0.9
    lost_in_bf16 = projector.detach().bfloat16() == before.bfloat16()
    assert lost_in_bf16[moved].float().mean() > 0.5  # what a bf16 weight would have kept: nothing, mostly


def test_fsdp_config_wraps_layers_the_llava_model_holds(tiny_llava, monkeypatch):
    """fsdp.yaml as `accelerate launch` reads it: its wrap policy finds its layer classes in a LLaVA. (LLaVA's own
    `_no_split_modules` names CLIP text classes it does not hold, which stopped FSDP2 at the first step on a GPU.)"""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser, prepare_multi_gpu_env
    from accelerate.utils import FullyShardedDataParallelPlugin
    from transformers import AutoModelForImageTextToText

    config = ROOT / "recipes" / "accelerate_configs" / "fsdp.yaml"
    args = launch_command_parser().parse_args(["--config_file", str(config), str(ROOT / "recipes" / "sft_llava.py")])
    env = prepare_multi_gpu_env(_validate_launch_command(args)[0])
    for name, value in env.items():
        if name.startswith(("FSDP_", "ACCELERATE_")):
            monkeypatch.setenv(name, value)
    plugin = FullyShardedDataParallelPlugin()
    assert plugin.fsdp_version == 2
    plugin.set_auto_wrap_policy(AutoModelForImageTextToText.from_pretrained(tiny_llava))
    wrapped = {cls.__name__ for cls in plugin.auto_wrap_policy.keywords["transformer_layer_cls"]}
    assert wrapped == {"LlamaDecoderLayer", "CLIPEncoderLayer"}


CPU_FLAGS = ("--use_cpu", "true", "--tf32", "false")  # the parser checks bf16 and tf32 against the device


@pytest.mark.parametrize("variant", ["base", "planning", "ec_planning"])
def test_the_7b_yamls_hold_the_authors_settings_and_name_real_fields(variant, tmp_path):
    """recipes/llava-1.5-7b/*.yaml parse with the recipe's own parser into the authors' settings; the commented
    fastest-on-one-GPU lines, uncommented, name real fields too."""
    from trl import ModelConfig, ScriptArguments, TrlParser

    from mirror_hf.training.config import MirrorSFTConfig

    path = ROOT / "recipes" / "llava-1.5-7b" / f"{variant}.yaml"
    parser = TrlParser((ScriptArguments, MirrorSFTConfig, ModelConfig))
    script, training, model = parser.parse_args_and_config(["--config", str(path), *CPU_FLAGS])
    assert script.dataset_config == f"sft_{variant}" and model.model_name_or_path == "llava-hf/llava-1.5-7b-hf"
    assert (model.lora_r, model.lora_alpha, model.lora_dropout, model.lora_target_modules) == (128, 256, 0.05, None)
    assert (training.learning_rate, training.projector_lr, training.weight_decay) == (2e-4, 2e-5, 0.0)
    assert (training.num_train_epochs, training.per_device_train_batch_size, training.max_length) == (5, 32, 2048)
    assert training.lr_scheduler_type == "cosine" and training.warmup_steps == 0.03
    assert training.bf16 and yaml.safe_load(path.read_text())["tf32"] and training.activation_checkpointing
    assert training.train_sampling_strategy == "group_by_length" and training.causal_only_attention
    assert not training.compile_decoder_layers

    text = path.read_text()
    start = text.index("# Fastest on one 80 GB GPU")
    block = text[start : text.index("causal_only_attention", start)].splitlines()[2:]
    assert len(block) == 5 and all(line.startswith("# ") for line in block)
    fastest = tmp_path / "fastest.yaml"
    fastest.write_text(text.replace("\n".join(block), "\n".join(line[2:] for line in block)))
    _, training, _ = parser.parse_args_and_config(["--config", str(fastest), *CPU_FLAGS])
    assert (training.per_device_train_batch_size, training.gradient_accumulation_steps) == (8, 16)
    assert training.compile_decoder_layers and training.use_liger_kernel and not training.activation_checkpointing
