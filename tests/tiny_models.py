"""Tiny models built fully offline for tests and benchmarks: a LLaVA (tokenizer, image processor, processor, model)
and a text chat LM."""

from __future__ import annotations

from pathlib import Path

# LLaVA-1.5's chat template shape, with generation markers so TRL/transformers can build assistant masks.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] != 'system' %}{{ message['role'].upper() + ': ' }}{% endif %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>\n' }}{% endfor %}"
    "{% if message['role'] != 'assistant' %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{{ content['text'] + ' ' }}{% endfor %}"
    "{% else %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{% generation %}{{ content['text'] + '</s>' }}{% endgeneration %}{% endfor %}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)

_CORPUS = [
    "USER: ASSISTANT: Therapist: Client: The image above shows the client.",
    "Personal Information: Reason for Counseling: Below is a conversation between the client and the psychotherapist.",
    "Based on their body language and facial expression, respond as a psychotherapist conducting a CBT session.",
    "Look at the provided image and assess the client’s emotional state. Clearly describe their emotions.",
    "CBT technique: Counseling planning: Client Emotional State: I feel worried sad angry tired okay maybe.",
    "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789 .,;:!?'\"-()[]",
]


def tiny_tokenizer(vocab_size: int = 400):
    """A byte-level BPE trained here on a few lines of MIRROR-like text, with LLaVA's special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<unk>", "<s>", "</s>", "<pad>", "<image>"]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, initial_alphabet=alphabet)
    tok.train_from_iterator(_CORPUS * 4, trainer)
    tok.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        extra_special_tokens={"image_token": "<image>"},
    )


# A plain-text chat template (string contents) for the text LM.
TEXT_CHAT_TEMPLATE = (
    "{% for message in messages %}{{ message['role'].upper() + ': ' + message['content'] + ' ' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)


def tiny_llama_config(tokenizer):
    """A 2-layer, 32-wide Llama for ``tokenizer``."""
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


def build_tiny_lm(path: str | Path, vocab_size: int = 400) -> Path:
    """Save a tiny random Llama chat LM + tokenizer under ``path`` (for `transformers serve` and local back-ends)."""
    import torch
    from transformers import LlamaForCausalLM

    path = Path(path)
    tokenizer = tiny_tokenizer(vocab_size)
    tokenizer.chat_template = TEXT_CHAT_TEMPLATE
    torch.manual_seed(0)
    LlamaForCausalLM(tiny_llama_config(tokenizer)).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def build_tiny_llava(path: str | Path, image_size: int = 28, patch_size: int = 14, vocab_size: int = 400) -> Path:
    """Save a tiny random LLaVA + processor under ``path`` and return it. (image_size/patch_size)^2 image tokens."""
    import torch
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    path = Path(path)
    tokenizer = tiny_tokenizer(vocab_size)
    tokenizer.chat_template = CHAT_TEMPLATE
    image_processor = CLIPImageProcessor(
        size={"shortest_edge": image_size},
        crop_size={"height": image_size, "width": image_size},
        do_center_crop=True,
        do_resize=True,
        do_normalize=True,
    )
    processor = LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=patch_size,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=CHAT_TEMPLATE,
    )
    torch.manual_seed(0)
    config = LlavaConfig(
        vision_config=CLIPVisionConfig(
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            image_size=image_size,
            patch_size=patch_size,
            projection_dim=16,
        ),
        text_config=tiny_llama_config(tokenizer),
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        vision_feature_select_strategy="default",
        vision_feature_layer=-2,
        projector_hidden_act="gelu",
    )
    model = LlavaForConditionalGeneration(config)
    # With the default init (std 0.02) a 32-wide model's logits are nearly uniform whatever LoRA does to the hidden
    # states: widen the output layer so that fine-tuning can visibly fit a few records.
    torch.nn.init.normal_(model.lm_head.weight, std=0.5)
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


def clip_tokenizer(folder: Path):
    """A character-level CLIP tokenizer written here (vocab + empty merges): SDXL's tokenizers, tiny."""
    import json
    import string

    from transformers import CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for char in string.ascii_lowercase + string.digits + ",.!?'-:;()[]":
        vocab.setdefault(char, len(vocab))
        vocab.setdefault(char + "</w>", len(vocab))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    return CLIPTokenizer(
        str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=77, pad_token="<|endoftext|>"
    )


def tiny_photomaker_encoder():
    """PhotoMaker's ID encoder at tiny sizes (the package hard-codes CLIP ViT-L/14 and SDXL's 2048-wide text
    embeddings): a CLIP vision tower of width 32 whose two projections (32 + 32) match the tiny SDXL's 64."""
    from photomaker.model import FuseModule, PhotoMakerIDEncoder
    from torch import nn
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    class TinyPhotoMakerIDEncoder(PhotoMakerIDEncoder):
        def __init__(self):
            vision = CLIPVisionConfig(
                hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2, projection_dim=32
            )
            CLIPVisionModelWithProjection.__init__(self, vision)
            self.visual_projection_2 = nn.Linear(32, 32, bias=False)
            self.fuse_module = FuseModule(64)

    return TinyPhotoMakerIDEncoder


def build_tiny_photomaker(path: str | Path) -> Path:
    """A tiny random SDXL pipeline (diffusers' test-sized UNet, VAE and two CLIP text encoders) saved at ``path``,
    with a PhotoMaker adapter file ``photomaker-tiny.bin`` beside it (the tiny ID encoder + LoRA on the UNet's
    attention), the same two parts as ``photomaker-v1.bin``. Load it with the tiny encoder patched in."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from peft import LoraConfig, get_peft_model_state_dict
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    path = Path(path)
    torch.manual_seed(0)
    tokenizer = clip_tokenizer(path / "_tokenizer")
    text = dict(
        hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2, projection_dim=32,
        vocab_size=len(tokenizer) + 8, max_position_embeddings=77, bos_token_id=0, eos_token_id=1, pad_token_id=1,
    )  # fmt: skip
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=2, sample_size=32, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4), use_linear_projection=True, addition_embed_type="text_time",
        addition_time_embed_dim=8, transformer_layers_per_block=(1, 2), projection_class_embeddings_input_dim=80,
        cross_attention_dim=64, norm_num_groups=1,
    )  # fmt: skip
    vae = AutoencoderKL(
        block_out_channels=[32, 64], in_channels=3, out_channels=3, latent_channels=4, norm_num_groups=1,
        down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2, sample_size=128,
    )  # fmt: skip
    scheduler = DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, clip_sample=False)
    StableDiffusionXLPipeline(
        vae=vae,
        text_encoder=CLIPTextModel(CLIPTextConfig(**text)),
        text_encoder_2=CLIPTextModelWithProjection(CLIPTextConfig(**text)),
        tokenizer=tokenizer,
        tokenizer_2=tokenizer,
        unet=unet,
        scheduler=scheduler,
    ).save_pretrained(path)
    attention = ["to_q", "to_k", "to_v", "to_out.0"]
    unet.add_adapter(LoraConfig(r=4, lora_alpha=4, target_modules=attention, init_lora_weights=False))
    lora = {f"unet.{k}": v for k, v in get_peft_model_state_dict(unet).items()}
    adapter = {"id_encoder": tiny_photomaker_encoder()().state_dict(), "lora_weights": lora}
    torch.save(adapter, path / "photomaker-tiny.bin")
    return path


def tiny_photomaker_settings(folder: str | Path, steps: int = 3, generation_size: int = 64):
    """PhotoMaker's settings for the pipeline :func:`build_tiny_photomaker` saved in ``folder``: few steps, small."""
    from mirror_hf.synthesis.settings import PhotoMakerSettings

    return PhotoMakerSettings(base_model=str(folder), adapter=str(folder), weight_name="photomaker-tiny.bin",
                              steps=steps, generation_size=generation_size)  # fmt: skip


def build_tiny_clip(path: str | Path) -> Path:
    """A tiny random open_clip model (both towers, embeddings of 16) saved at ``path`` as open_clip reads a local
    model: its config ``mirror-tiny-clip.json`` and weights ``mirror-tiny-clip.pt``. The tokenizer is open_clip's
    own, bundled with the package (CLIP's 49,408 tokens)."""
    import json

    import open_clip
    import torch

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    config = {
        "embed_dim": 16,
        "vision_cfg": {"image_size": 32, "layers": 2, "width": 32, "head_width": 16, "patch_size": 8},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
    }
    (path / "mirror-tiny-clip.json").write_text(json.dumps(config))
    model = open_clip.model.CLIP(**config)
    torch.save(model.state_dict(), path / "mirror-tiny-clip.pt")
    return path


def build_tiny_nsfw_classifier(path: str | Path, verdict: str = "normal") -> Path:
    """A tiny ViT image classifier with the labels of ``Falconsai/nsfw_image_detection`` (normal, nsfw) whose bias
    makes every image ``verdict``."""
    import torch
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    path = Path(path)
    torch.manual_seed(0)
    config = ViTConfig(
        hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2, image_size=32,
        patch_size=8, id2label={0: "normal", 1: "nsfw"}, label2id={"normal": 0, "nsfw": 1},
    )  # fmt: skip
    model = ViTForImageClassification(config)
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.bias.copy_(torch.tensor([5.0, -5.0] if verdict == "normal" else [-5.0, 5.0]))
    model.save_pretrained(path)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(path)
    return path


def build_tiny_deepface(home: str | Path) -> Path:
    """DeepFace's ONNX graphs at tiny size, under the file names DeepFace looks for in
    ``$DEEPFACE_HOME/.deepface/weights`` (so nothing is downloaded), reading a face's mean colour (channels last):
    ArcFace embeds it (a random projection to 16 numbers); gender says Woman when channel 0 outweighs channel 2, Man
    otherwise; age puts its mass at 100 x channel 1's share of the colour."""
    import torch

    weights = Path(home) / ".deepface" / "weights"
    weights.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)

    class Embedding(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.project = torch.nn.Linear(3, 16)

        def forward(self, x):
            return self.project(x.mean(dim=(1, 2)))

    class Gender(torch.nn.Module):
        def forward(self, x):
            colour = x.mean(dim=(1, 2))
            lead = (colour[:, 0] - colour[:, 2]).unsqueeze(1) * 50
            return torch.softmax(torch.cat([lead, -lead], dim=1), dim=1)

    class Age(torch.nn.Module):
        def forward(self, x):
            colour = x.mean(dim=(1, 2))
            share = colour[:, 1] / colour.sum(dim=1).clamp(min=1e-6)  # unchanged by DeepFace's black padding
            years = torch.arange(101, dtype=x.dtype)
            return torch.softmax(-((years - 100 * share.unsqueeze(1)) ** 2), dim=1)

    for name, module, size in (
        ("arcface_weights.onnx", Embedding(), 112),
        ("gender_model_weights.onnx", Gender(), 224),
        ("age_model_weights.onnx", Age(), 224),
    ):
        torch.onnx.export(
            module, (torch.rand(1, size, size, 3),), str(weights / name), dynamo=False, input_names=["input"],
            output_names=["output"], dynamic_axes={"input": {0: "n"}, "output": {0: "n"}},
        )  # fmt: skip
    return Path(home)


def build_tiny_tagger(path: str | Path, sentences: list[str], lexicon: dict[str, str]) -> Path:
    """A spaCy pipeline (blank English + a tagger) trained here until it tags ``sentences`` as ``lexicon`` says (one
    Penn tag per lower-cased token); saved as a folder that ``spacy.load`` reads like an installed model."""
    import spacy
    from spacy.training import Example

    spacy.util.fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe("tagger")
    examples = []
    for sentence in sentences:
        doc = nlp.make_doc(sentence)
        examples.append(Example.from_dict(doc, {"tags": [lexicon[token.lower_] for token in doc]}))
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(60):
        nlp.update(examples, sgd=optimizer)
    for example in examples:  # it learnt them: tests may rely on its tags
        assert [t.tag_ for t in nlp(example.reference.text)] == [t.tag_ for t in example.reference]
    nlp.to_disk(path)
    return Path(path)


def build_tiny_canary(path: str | Path, pairs: list[tuple[str, str]]) -> tuple[Path, object]:
    """Canary as its authors released it, at tiny size: a T5 trained here to answer each input of ``pairs`` with its
    output, saved as a ParlAI checkpoint folder (``model`` with the T5 under ``t5.`` and again under
    ``encoder.stack.`` / ``decoder.stack.``, plus optimizer state; ``model.opt`` naming the T5 it came from, a folder
    here). Returns (the folder, the trained transformers model)."""
    import json

    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast, T5Config, T5ForConditionalGeneration

    path = Path(path)
    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2}
    splitter = pre_tokenizers.WhitespaceSplit()  # labels stay one token each: ``__casual__``
    for text in (t for pair in pairs for t in pair):
        for word, _ in splitter.pre_tokenize_str(text):
            vocab.setdefault(word, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = splitter
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
    config = T5Config(
        vocab_size=len(vocab), d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4, decoder_start_token_id=0,
        pad_token_id=0, eos_token_id=1, dropout_rate=0.0,
    )  # fmt: skip
    arch = path / "t5-tiny"  # what model.opt's t5_model_arch names (t5-large for the real Canary)
    config.save_pretrained(arch)
    tokenizer.save_pretrained(arch)

    torch.manual_seed(0)
    model = T5ForConditionalGeneration(config)
    batch = tokenizer([a for a, _ in pairs], return_tensors="pt", padding=True)
    labels = tokenizer([b for _, b in pairs], return_tensors="pt", padding=True)["input_ids"]
    labels[labels == 0] = -100
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(300):
        loss = model(**batch, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if loss.item() < 0.01:
            break
    model.eval()

    folder = path / "canary"
    folder.mkdir(parents=True)
    weights = model.state_dict()
    state = {f"t5.{k}": v for k, v in weights.items()}
    state.update({f"encoder.stack.{k[len('encoder.') :]}": v for k, v in weights.items() if k.startswith("encoder.")})
    state.update({f"decoder.stack.{k[len('decoder.') :]}": v for k, v in weights.items() if k.startswith("decoder.")})
    state["START"] = torch.tensor([0])
    checkpoint = {"model": state, "optimizer": {"state": {}, "param_groups": []}, "number_training_updates": 300}
    torch.save(checkpoint, folder / "model")
    (folder / "model.opt").write_text(json.dumps({"model": "hugging_face/t5", "t5_model_arch": str(arch)}))
    return folder, model


def build_tiny_nltk_data(path: str | Path, lexicon: dict[str, str]) -> Path:
    """An ``nltk_data`` folder with the two resources the authors' POS filter loads, written here: ``punkt_tab``
    for English with no learnt abbreviations or collocations, and ``averaged_perceptron_tagger_eng`` whose tag
    dictionary is ``lexicon`` (each word as written and capitalised; no weights, so the dictionary decides)."""
    import json

    path = Path(path)
    punkt = path / "tokenizers" / "punkt_tab" / "english"
    punkt.mkdir(parents=True, exist_ok=True)
    for name in ("collocations.tab", "sent_starters.txt", "abbrev_types.txt", "ortho_context.tab"):
        (punkt / name).write_text("")
    tagger = path / "taggers" / "averaged_perceptron_tagger_eng"
    tagger.mkdir(parents=True, exist_ok=True)
    tagdict = {**lexicon, **{word.capitalize(): tag for word, tag in lexicon.items()}}
    files = {"weights": {}, "tagdict": tagdict, "classes": sorted(set(lexicon.values()))}
    for part, value in files.items():
        (tagger / f"averaged_perceptron_tagger_eng.{part}.json").write_text(json.dumps(value))
    return path


def build_tiny_text_classifier(path: str | Path, labels: tuple[str, ...] = ("ok", "crisis"), favour: str = "crisis"):
    """A tiny BERT text classifier whose head always favours the label ``favour`` (its bias), saved with our tiny
    tokenizer: enough to run an operator's `--crisis-model` path locally."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    path = Path(path)
    tokenizer = tiny_tokenizer(400)
    config = BertConfig(
        vocab_size=400, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
        max_position_embeddings=128, num_labels=len(labels), id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)}, pad_token_id=tokenizer.pad_token_id or 0,
    )  # fmt: skip
    torch.manual_seed(0)
    model = BertForSequenceClassification(config)
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.bias.copy_(torch.tensor([5.0 if label == favour else 0.0 for label in labels]))
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
