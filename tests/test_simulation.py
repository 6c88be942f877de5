"""The session loop with scripted back-ends (test doubles for the models: the loop's logic is what is tested),
and one session with real transformers back-ends (tiny LLaVA therapist, tiny text-LM client)."""

import asyncio

import pytest
from PIL import Image

from mirror_hf.llm import BackendError, ChatResponse, TokenUsage
from mirror_hf.protocol import CORRECTED
from mirror_hf.simulation.client import ResistantClient
from mirror_hf.simulation.faces import IdentityFaces
from mirror_hf.simulation.session import run_session
from mirror_hf.therapist import MirrorTherapist, parse_plan

PROFILE = {
    "idx": "cactus-901-emotional-resistance",
    "personal_info": "Ada Moss is a 30-year-old female working as a Baker.",
    "personality": "The client exhibits the personality trait of 'Emotional Resistance'. Written for the tests.",
    "distorted_thought": "Nobody likes my bread.",
    "reason_for_seeking_counseling": "I feel unappreciated.",
    "identity_image": Image.new("RGB", (32, 32), (150, 110, 90)),
}


class ScriptedBackend:
    """Answers from a script (a list, or a function of the request) and records every request."""

    def __init__(self, name, answers):
        self.name, self.answers, self.requests, self.usage = name, answers, [], TokenUsage()

    @property
    def id(self):
        return self.name

    async def chat(self, request):
        self.requests.append(request)
        if callable(self.answers):
            text = self.answers(request)
        else:
            if not self.answers:
                raise AssertionError("script exhausted")
            text = self.answers.pop(0)
        if isinstance(text, Exception):
            raise text
        if isinstance(text, ChatResponse):  # a full answer (e.g. with logprobs)
            self.usage.add(text)
            return text
        response = ChatResponse(text=text, model=self.name, prompt_tokens=10, completion_tokens=2)
        self.usage.add(response)
        return response


def text_of(request) -> str:
    parts = []
    for message in request.messages:
        content = message["content"]
        parts += [content] if isinstance(content, str) else [b.get("text", "") for b in content]
    return "\n".join(parts)


def therapist_answers(request):
    prompt = text_of(request)
    if "Choose an appropriate CBT technique" in prompt:
        return "CBT technique:\nReality Testing\n\nCounseling planning:\n1. Check the evidence.\n2. Try a small step."
    if "assess the client’s emotional state" in prompt:
        return "Looks tense"
    return f"Therapist line {prompt.count('Therapist:') + 1}"


def play(client_answers, variant="planning_ec", **kwargs):
    therapist_backend = ScriptedBackend("therapist", therapist_answers)
    client_backend = ScriptedBackend("client", list(client_answers))
    therapist = MirrorTherapist(therapist_backend, variant=variant, protocol=CORRECTED)
    client = ResistantClient(client_backend, max_reasks=kwargs.pop("max_reasks", 2), protocol=CORRECTED)
    result = asyncio.run(run_session(PROFILE, therapist, client, IdentityFaces(), **kwargs))
    return result, therapist_backend, client_backend


def test_end_token_counts_only_after_two_exchanges_and_not_as_a_substring():
    result, _, _ = play(
        [
            "Client: [Arms crossed]",  # nonverbal opening
            "Client: [Sighs] Whatever. [/END]",  # exchange 1: too early, the session goes on
            "Client: [Nods] I'm ENDING this line of thought, maybe.",  # "END" inside a word ends nothing
            "Client: [Smiles] Thanks, that helped. [/END]",
        ]
    )
    assert result.end_reason == "client_ended" and result.exchanges == 3
    client_texts = [t.text for t in result.turns if t.speaker == "client"]
    assert client_texts == ["", "Whatever.", "I'm ENDING this line of thought, maybe.", "Thanks, that helped."]
    assert [t.stage_direction for t in result.turns if t.speaker == "client"] == [
        "Arms crossed",
        "Sighs",
        "Nods",
        "Smiles",
    ]
    assert all("[/END]" not in t.text for t in result.turns)


def test_turn_limit():
    result, _, _ = play(["Client: [Shrugs]"] + ["Client: [Frowns] I don't know."] * 10, max_exchanges=4)
    # four client turns (the opening the first), each answered: the therapist has the last word, as upstream
    assert result.end_reason == "turn_limit" and result.exchanges == 4 and len(result.turns) == 8


def test_disengagement_twice_in_a_row_ends_the_session():
    result, _, _ = play(["Client: [Looks down]", "Client: [Stares at the floor]", "Client: [Turns away, silent]"])
    assert result.end_reason == "disengaged" and result.exchanges == 2


def test_stage_directions_are_hidden_from_the_therapist_and_kept_in_the_record():
    result, therapist_backend, client_backend = play(
        ["Client: [Arms crossed]", "Client: [Rolls eyes] My bread is fine.", "Client: [Smiles faintly] Ok. [/END]"]
    )
    response_prompts = [text_of(r) for r in therapist_backend.requests if "Below is a conversation" in text_of(r)]
    assert response_prompts and all("Rolls eyes" not in p and "[" not in p for p in response_prompts)
    assert "Client: My bread is fine." in response_prompts[-1]
    assert "Client: [Rolls eyes] My bread is fine." in text_of(client_backend.requests[-1])  # the client remembers
    assert result.turns[2].stage_direction == "Rolls eyes" and result.turns[2].raw.startswith("Client: [Rolls eyes]")


def test_planning_and_emotional_captioning_calls():
    result, therapist_backend, _ = play(
        ["Client: [Arms crossed]", "Client: [Sighs] Fine.", "Client: [Nods] Ok then. [/END]"]
    )
    prompts = [text_of(r) for r in therapist_backend.requests]
    assert sum("Choose an appropriate CBT technique" in p for p in prompts) == 1  # planned once
    assert sum("assess the client’s emotional state" in p for p in prompts) == result.exchanges == 2
    responses = [p for p in prompts if "Below is a conversation" in p]
    assert all(
        "- Client Emotional State: Looks tense" in p and "- CBT technique: Reality Testing" in p for p in responses
    )
    assert result.technique == "Reality Testing" and result.plan.startswith("1. Check the evidence.")
    assert [t.emotional_caption for t in result.turns if t.speaker == "therapist"] == ["Looks tense"] * 2
    every_request_has_the_face = all(
        any(b.get("type") == "image_url" for m in r.messages if isinstance(m["content"], list) for b in m["content"])
        for r in therapist_backend.requests
    )
    assert every_request_has_the_face
    assert result.prompt_tokens == 10 * (len(therapist_backend.requests) + 3)


def test_base_variant_neither_plans_nor_captions():
    result, therapist_backend, _ = play(
        ["Client: [Shrugs]", "Client: [Sighs] Fine.", "Client: Ok. [/END]"], variant="base"
    )
    assert len(therapist_backend.requests) == result.exchanges == 2 and result.technique is None


def test_malformed_client_turns_are_re_asked_then_end_the_session():
    result, _, client_backend = play(
        [
            "Client: [Arms crossed]",
            "Counselor: Let me answer for you.",
            "",
            "Client: [Nods] Ok.",
            "Client: [Nods] Fine.",
            "   ",
            "",
            "",
        ],
        max_reasks=2,
    )
    assert result.end_reason == "malformed_client" and result.exchanges == 3
    assert len(client_backend.requests) == 1 + 3 + 1 + 3
    assert "empty client answer" in result.error


def test_a_failing_backend_ends_the_session_with_its_reason():
    failing = BackendError("gave up after 5 attempts (last: 503)", status=503, attempts=5)
    therapist = MirrorTherapist(ScriptedBackend("therapist", [failing]), variant="base", protocol=CORRECTED)
    client = ResistantClient(ScriptedBackend("client", ["Client: [Shrugs]"]), protocol=CORRECTED)
    result = asyncio.run(run_session(PROFILE, therapist, client, IdentityFaces()))
    assert result.end_reason == "backend_error" and "503" in result.error


@pytest.mark.parametrize(
    "text",
    [
        "CBT technique: Reality Testing\nCounseling planning: 1. Test it.",
        "**CBT technique:**\nReality Testing\n\n**Counselling plan:**\n1. Test it.",
    ],
)
def test_plan_parsing_variants(text):
    plan = parse_plan(text)
    assert plan.technique == "Reality Testing" and plan.plan.startswith("1. Test it.")


def test_session_with_transformers_backends(tiny_llava, tmp_path):
    from tiny_models import build_tiny_lm

    from mirror_hf.llm.local import TransformersBackend

    therapist_backend = TransformersBackend(str(tiny_llava))
    client_backend = TransformersBackend(str(build_tiny_lm(tmp_path / "lm")))
    therapist = MirrorTherapist(
        therapist_backend, variant="planning_ec", sampling={"max_tokens": 8}, protocol=CORRECTED
    )
    client = ResistantClient(client_backend, sampling={"max_tokens": 8, "temperature": 0}, protocol=CORRECTED)
    result = asyncio.run(run_session(PROFILE, therapist, client, IdentityFaces(), max_exchanges=2))
    assert result.end_reason == "turn_limit" and result.exchanges == 2, result.error
    # planning (1 to 3 tries), then per exchange one caption and one response; the client opens, then answers once
    assert 1 + 2 * 2 <= therapist_backend.usage.calls <= 3 + 2 * 2
    assert client_backend.usage.calls == 2
    assert result.technique and result.plan is not None
    assert all(t.emotional_caption is not None for t in result.turns if t.speaker == "therapist")
    assert result.prompt_tokens > 0 and result.completion_tokens > 0


def test_client_answer_parsing():
    from mirror_hf.simulation.client import parse_client_utterance

    turn = parse_client_utterance("**Client:** [Sighs] Fine,\x07 I guess. [Looks away]\nCounselor: Good.")
    assert (turn.stage_direction, turn.statement, turn.ended) == ("Sighs; Looks away", "Fine, I guess.", False)
    assert parse_client_utterance("Client: [Shrugs] [/END]").ended
    for bad in ("Counselor: I will answer for the client.", "   ", "Client: "):
        with pytest.raises(ValueError):
            parse_client_utterance(bad)
