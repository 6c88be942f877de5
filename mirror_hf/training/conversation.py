"""LLaVA's conversation format as a chat template, so that training and inference render the prompt the authors
trained and evaluated with.

The authors fine-tuned with ``--version v1`` (``mirror-llava/scripts/v1_5/finetune_mirror_lora.sh``) and ran the
therapist with ``--conv-mode vicuna_v1`` (``scripts/v1_5/eval/mirror_counseling.sh``): both are
``conv_vicuna_v1`` of ``mirror-llava/llava/conversation.py`` — a system sentence, then ``USER: {prompt}
ASSISTANT: {answer}</s>`` (``SeparatorStyle.TWO``: a space after the user's turn, ``</s>`` after the answer), the
tokenizer's BOS first. The llava-hf processor's own template renders ``USER: <image>\\n{prompt} ASSISTANT:`` without
the system sentence. ``conversation_format: llava_v1`` (the recipe's default) gives the processor a template that
renders ``conv_vicuna_v1`` exactly, built from the authors' file at run time (its system sentence is theirs; the
layout is LLaVA's), and saves it with the adapter, so that a merged model served by vLLM, TGI or ``transformers
serve`` renders the same prompt at inference. A system message, when given, replaces the sentence.

Example:
    >>> template = llava_v1_template({"system": "SYS.", "roles": ("USER", "ASSISTANT"), "sep": " ", "sep2": "</s>"})
    >>> render(template, [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Hi"}]}], "<s>")
    '<s>SYS. USER: <image>\\nHi ASSISTANT:'
"""

from __future__ import annotations

from mirror_hf.errors import MirrorError

FORMATS = ("llava_v1", "processor")


def llava_v1_template(conversation: dict) -> str:
    """A Jinja chat template for ``conversation`` (``conv_vicuna_v1``'s ``system``, ``roles``, ``sep``, ``sep2``):
    images as ``<image>\\n`` before the text, the answer in a ``{% generation %}`` block (TRL's assistant masks)."""
    if conversation.get("sep_style", "SeparatorStyle.TWO") not in ("SeparatorStyle.TWO", "TWO"):
        raise MirrorError(f"conversation style {conversation['sep_style']!r}: only LLaVA's TWO style is rendered")
    user, assistant = conversation["roles"]

    def literal(text: str) -> str:
        return "{{ " + repr(text) + " }}"

    return (
        "{{ bos_token }}"
        "{% if messages and messages[0]['role'] == 'system' %}"
        "{% set system = messages[0]['content'] if messages[0]['content'] is string "
        "else messages[0]['content'] | selectattr('type', 'equalto', 'text') | map(attribute='text') | join(' ') %}"
        "{% set messages = messages[1:] %}"
        "{% else %}" + "{% set system = " + repr(conversation["system"]) + " %}{% endif %}"
        "{{ system }}" + literal(conversation["sep"]) + "{% for message in messages %}"
        "{% set texts = [message['content']] if message['content'] is string "
        "else message['content'] | selectattr('type', 'equalto', 'text') | map(attribute='text') | list %}"
        "{% if message['role'] == 'user' %}" + literal(f"{user}: ") + "{% if message['content'] is not string %}"
        "{% for block in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>\\n' }}{% endfor %}"
        "{% endif %}{{ texts | join(' ') }}"
        + literal(conversation["sep"])
        + "{% else %}"
        + literal(f"{assistant}: ")
        + "{% generation %}{{ texts | join(' ') }}"
        + literal(conversation["sep2"])
        + "{% endgeneration %}"
        "{% endif %}{% endfor %}{% if add_generation_prompt %}" + literal(f"{assistant}:") + "{% endif %}"
    )


def render(template: str, messages: list[dict], bos_token: str = "", add_generation_prompt: bool = True) -> str:
    """``template`` applied as transformers applies chat templates (for checks and tests)."""
    from transformers.utils.chat_template_utils import render_jinja_template

    rendered, _ = render_jinja_template(
        conversations=[messages], chat_template=template, add_generation_prompt=add_generation_prompt,
        bos_token=bos_token, eos_token="",
    )  # fmt: skip
    return rendered[0]


def conversation_template(name: str, upstream=None) -> str | None:
    """The chat template a recipe's ``conversation_format`` asks for: LLaVA-v1's (``llava_v1``), or None (the
    processor's own: ``processor``)."""
    if name not in FORMATS:
        raise MirrorError(f"conversation_format {name!r}", fix=f"use one of {FORMATS}")
    if name == "processor":
        return None
    from mirror_hf.upstream import MIRROR
    from mirror_hf.upstream.prompts import conversation_format

    return llava_v1_template(conversation_format(upstream or MIRROR))


def system_sentence(upstream=None) -> str:
    """The system sentence of the authors' conversation format (``conv_vicuna_v1.system``)."""
    from mirror_hf.upstream import MIRROR
    from mirror_hf.upstream.prompts import conversation_format

    return conversation_format(upstream or MIRROR)["system"]
