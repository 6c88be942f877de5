"""Chat back-ends: retries honouring Retry-After, the cache, the concurrency bound, images, specs, a real
`transformers serve`, and the local back-end's batched generation."""

import asyncio

import pytest
from PIL import Image

from mirror_hf.errors import MirrorError
from mirror_hf.llm import BackendError, ChatRequest, load_backend, parse_spec, user_message
from mirror_hf.llm.local import TransformersBackend
from mirror_hf.llm.openai_compat import OpenAICompatBackend
from mirror_hf.protocol import CORRECTED


def test_a_local_server_is_reachable_in_offline_mode(server_factory):
    """HF_HUB_OFFLINE=1 (set for the whole suite) keeps the Hub away, not the user's own server."""
    import huggingface_hub.constants

    assert huggingface_hub.constants.HF_HUB_OFFLINE
    server = server_factory()
    assert asyncio.run(OpenAICompatBackend("m", server.url).chat(ChatRequest.of([{"role": "user", "content": "x"}])))


def ask(backend, text="Hello", **sampling):
    return asyncio.run(backend.chat(ChatRequest.of([{"role": "user", "content": text}], **sampling)))


def test_429_with_retry_after_is_retried_after_the_servers_delay(server_factory):
    server = server_factory([(429, {"Retry-After": "1"})])
    backend = OpenAICompatBackend("judge", server.url, base_delay=0.01)
    response = ask(backend, temperature=0)
    assert response.text == "answer 2" and response.prompt_tokens == 11 and response.completion_tokens == 3
    assert len(server.requests) == 2
    assert server.requests[1]["time"] - server.requests[0]["time"] >= 1.0  # honoured Retry-After: 1
    assert backend.usage.retries == 1 and backend.usage.by_status == {"429": 1} and backend.usage.calls == 1


def test_a_server_that_keeps_failing_ends_with_a_recorded_reason(server_factory):
    server = server_factory([(503, {})] * 10)
    backend = OpenAICompatBackend("judge", server.url, max_attempts=3, base_delay=0.01)
    with pytest.raises(BackendError) as err:
        ask(backend)
    assert err.value.status == 503 and err.value.attempts == 3 and "gave up after 3 attempts" in str(err.value)
    assert len(server.requests) == 3 and backend.usage.failures == 1


def test_a_client_error_is_not_retried_and_says_what_the_server_said(server_factory):
    server = server_factory([(400, {})])
    with pytest.raises(BackendError) as err:
        ask(OpenAICompatBackend("judge", server.url, base_delay=0.01))
    assert err.value.status == 400 and len(server.requests) == 1 and "scripted 400" in str(err.value)


def test_cache_answers_a_repeated_request_without_a_call(server_factory, tmp_path):
    from mirror_hf.llm import ResponseCache

    server = server_factory()
    cache = ResponseCache(tmp_path / "cache")
    backend = OpenAICompatBackend("judge", server.url, api_key="sk-secret-key", cache=cache)
    first = ask(backend, "same", temperature=0, max_tokens=20)
    again = OpenAICompatBackend("judge", server.url, api_key="sk-secret-key", cache=cache)  # a rerun
    second = ask(again, "same", temperature=0, max_tokens=20)
    assert len(server.requests) == 1 and second.text == first.text and second.cached and not first.cached
    assert again.usage.calls == 0 and again.usage.cached == 1
    ask(again, "same", temperature=0.7, max_tokens=20)  # other sampling: another request
    assert len(server.requests) == 2
    stored = "".join(p.read_text() for p in (tmp_path / "cache").rglob("*.json"))
    assert "sk-secret-key" not in stored and server.requests[0]["headers"]["authorization"] == "Bearer sk-secret-key"


def test_concurrency_bound_holds(server_factory):
    server = server_factory(delay=0.2)
    backend = OpenAICompatBackend("judge", server.url, max_concurrency=3)

    async def many():
        requests = [ChatRequest.of([{"role": "user", "content": f"q{i}"}]) for i in range(9)]
        return await asyncio.gather(*(backend.chat(r) for r in requests))

    responses = asyncio.run(many())
    assert len(responses) == 9 and len(server.requests) == 9
    assert 2 <= server.max_in_flight <= 3


def test_images_travel_as_data_urls(server_factory):
    server = server_factory()
    backend = OpenAICompatBackend("vlm", server.url)
    face = Image.new("RGB", (8, 8), (200, 120, 90))
    asyncio.run(backend.chat(ChatRequest.of([user_message("How does the client feel?", [face])], max_tokens=5)))
    content = server.requests[0]["body"]["messages"][0]["content"]
    assert content[0]["type"] == "image_url" and content[0]["image_url"]["url"].startswith("data:image/png;base64,")
    assert content[1] == {"type": "text", "text": "How does the client feel?"}
    assert server.requests[0]["path"] == "/v1/chat/completions"


def test_model_specs(monkeypatch, tmp_path):
    assert parse_spec("Qwen/Qwen2.5-7B@http://127.0.0.1:8000/v1") == (
        "openai-compatible",
        "Qwen/Qwen2.5-7B",
        "http://127.0.0.1:8000/v1",
    )
    assert parse_spec("local:/models/x") == ("local", "/models/x", None)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(MirrorError, match="OPENAI_API_KEY"):
        load_backend("openai:gpt-4o")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    backend = load_backend("openai:gpt-4o", cache_dir=tmp_path, max_concurrency=2)
    assert backend.base_url == "https://api.openai.com/v1" and backend.model == "gpt-4o"
    assert backend.id == "gpt-4o@https://api.openai.com/v1" and backend.max_concurrency == 2
    for bad in ("gpt-4o", "openai:", "model@ftp://x", "local:"):
        with pytest.raises(MirrorError, match="cannot read the model spec"):
            parse_spec(bad)


def test_openai_compatible_backend_against_transformers_serve(transformers_serve):
    backend = load_backend(transformers_serve, max_concurrency=3)

    async def session():
        requests = [
            ChatRequest.of([{"role": "user", "content": f"I feel worried {i}"}], temperature=0, max_tokens=6)
            for i in range(6)
        ]
        return await asyncio.gather(*(backend.chat(r) for r in requests))

    responses = asyncio.run(session())
    assert len(responses) == 6 and all(r.completion_tokens >= 1 and r.prompt_tokens > 5 for r in responses)
    assert backend.usage.calls == 6 and backend.usage.completion_tokens == sum(r.completion_tokens for r in responses)


class CountingBackend(TransformersBackend):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.batch_sizes = []

    def generate_batch(self, requests):
        self.batch_sizes.append(len(requests))
        return super().generate_batch(requests)


def test_local_backend_batches_concurrent_requests(tiny_lm):
    backend = CountingBackend(str(tiny_lm), max_batch=8)
    requests = [
        ChatRequest.of([{"role": "user", "content": text}], temperature=0, max_tokens=5)
        for text in ("I feel sad", "Maybe I am tired of worry and okay", "Hi")
    ]

    async def together():
        return await asyncio.gather(*(backend.chat(r) for r in requests))

    batched = asyncio.run(together())
    assert backend.batch_sizes == [3]
    alone = [backend.generate_batch([r])[0] for r in requests]  # left padding must not change greedy answers
    assert [b.text for b in batched] == [a.text for a in alone]
    assert [b.prompt_tokens for b in batched] == [a.prompt_tokens for a in alone]

    with_image = ChatRequest.of([user_message("Look", [Image.new("RGB", (8, 8))])], max_tokens=2)
    with pytest.raises(BackendError, match="reads text only"):
        asyncio.run(backend.chat(with_image))
    assert backend.usage.failures == 1


def test_local_vlm_backend_reads_the_image(tiny_llava):
    backend = TransformersBackend(str(tiny_llava))
    face = Image.new("RGB", (40, 40), (90, 60, 50))
    message = user_message("The image above shows the client.", [face])
    response = asyncio.run(backend.chat(ChatRequest.of([message], temperature=0, max_tokens=4)))
    processor = backend.processor
    rendered = processor.apply_chat_template(
        [
            {
                "role": "user",
                "content": [{"type": "image"}, {"type": "text", "text": "The image above shows the client."}],
            }
        ],
        tokenize=False,
        add_generation_prompt=True,
    )
    ids = processor(text=[rendered], images=[face], return_tensors="pt")["input_ids"][0]
    assert int((ids == backend.model.config.image_token_index).sum()) == 4
    assert response.prompt_tokens == len(ids)  # the model saw the image's 4 tokens and the prompt
    assert response.completion_tokens >= 1


def test_a_session_against_a_server_that_keeps_failing_ends_with_the_reason(server_factory):
    from test_simulation import PROFILE

    from mirror_hf.simulation.client import ResistantClient
    from mirror_hf.simulation.faces import IdentityFaces
    from mirror_hf.simulation.session import run_session
    from mirror_hf.therapist import MirrorTherapist

    client_server = server_factory()  # the client answers ("answer N": no stage direction, still well formed)
    therapist_server = server_factory([(503, {"Retry-After": "0"})] * 10)
    therapist = MirrorTherapist(
        OpenAICompatBackend("vlm", therapist_server.url, max_attempts=3), variant="base", protocol=CORRECTED
    )
    client = ResistantClient(OpenAICompatBackend("client", client_server.url), protocol=CORRECTED)
    result = asyncio.run(run_session(PROFILE, therapist, client, IdentityFaces()))
    assert result.end_reason == "backend_error" and "gave up after 3 attempts" in result.error and "503" in result.error
    assert len(therapist_server.requests) == 3 and result.exchanges == 0
