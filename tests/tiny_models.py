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
