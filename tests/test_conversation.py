"""LLaVA's v1 conversation format: the chat template renders conv_vicuna_v1 exactly as LLaVA's TWO separator style
lays it out; the recipe trains in it (the system sentence read from the stand-in of the authors' files), shows it
in the pre-flight and saves it with the adapter; an unknown format is refused."""

import pytest
from helpers import tiny_recipe
from test_training import launch
from upstream_writer import pins_path

from mirror_hf.errors import MirrorError
from mirror_hf.training.conversation import conversation_template, llava_v1_template, render

CONV = {"system": 'A chat, it\'s "quoted".', "roles": ("USER", "ASSISTANT"), "sep": " ", "sep2": "</s>"}
SENTENCE = "SYSTEM SENTENCE OF THE TESTS. It is two sentences."  # the stand-in's conv_vicuna_v1.system


def two_style(conv: dict, turns: list[tuple[str, str | None]]) -> str:
    """LLaVA's SeparatorStyle.TWO prompt, written out from its rule: the system and a space, then per message
    ``role: message`` and the separators in turn (a space after the user, sep2 after the answer); an empty message
    leaves ``role:`` open for generation."""
    seps = [conv["sep"], conv["sep2"]]
    text = conv["system"] + seps[0]
    for i, (role, message) in enumerate(turns):
        text += f"{role}: {message}{seps[i % 2]}" if message else f"{role}:"
    return text


def test_the_template_renders_llava_v1_exactly():
    template = llava_v1_template(CONV)
    user = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "The image above.\n- Info"}]}]
    answer = [{"role": "assistant", "content": [{"type": "text", "text": "How are you?"}]}]
    human = "<image>\nThe image above.\n- Info"
    assert render(template, user, "<s>") == "<s>" + two_style(CONV, [("USER", human), ("ASSISTANT", None)])
    full = render(template, user + answer, "<s>", add_generation_prompt=False)
    assert full == "<s>" + two_style(CONV, [("USER", human), ("ASSISTANT", "How are you?")])
    system = [{"role": "system", "content": [{"type": "text", "text": "Other."}]}]
    assert render(template, system + user, "").startswith("Other. USER: <image>\n")  # a system message replaces it
    with pytest.raises(MirrorError, match="conversation_format"):
        conversation_template("chatml")
    assert conversation_template("processor") is None


def test_the_recipe_trains_in_the_authors_format_and_saves_it(tiny_llava, sample_dataset, upstream, tmp_path):
    from transformers import AutoProcessor

    config = tiny_recipe(
        tmp_path, tiny_llava, sample_dataset, max_steps=2, save_strategy="no", conversation_format="llava_v1",
        upstream=upstream.clone, upstream_pins=str(pins_path(upstream.clone)),
    )  # fmt: skip
    result = launch(config)
    assert "pre-flight: 4 rows OK" in result.stderr
    example = result.stderr.split("learned tokens in [[ ]]:\n")[1]
    assert example.startswith(f"<s>{SENTENCE} USER: <image>×4\nThe image above shows the client.")
    assert "ASSISTANT:[[ Work stuff can weigh a lot even when it seems small. What happened?</s>]]" in example
    saved = AutoProcessor.from_pretrained(tmp_path / "run").chat_template
    assert saved == conversation_template("llava_v1", upstream)
