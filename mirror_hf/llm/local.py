"""A chat back-end that runs a local transformers model (text LM or VLM) with batched generation.

Concurrent ``chat`` calls are gathered into one ``generate`` call (up to ``max_batch`` requests with the same
sampling parameters), so a simulation running many sessions keeps the model busy.

Example:
    >>> backend = TransformersBackend("meta-llama/Meta-Llama-3-8B-Instruct")                      # doctest: +SKIP
    >>> asyncio.run(backend.chat(ChatRequest.of([{"role": "user", "content": "Hi"}]))).text      # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path

from mirror_hf.llm.cache import ResponseCache
from mirror_hf.llm.images import data_url_to_image
from mirror_hf.llm.types import BackendError, ChatRequest, ChatResponse, TokenUsage

logger = logging.getLogger(__name__)
# OpenAI-only sampling knobs with no transformers equivalent: accepted, not applied (say so in records).
UNSUPPORTED = ("frequency_penalty", "presence_penalty")


def _to_processor_messages(messages: list[dict], vision: bool) -> tuple[list[dict], list]:
    """OpenAI-style messages -> (chat-template messages, the images in order). For a VLM, content becomes
    {"type": "image"} / {"type": "text"} blocks; for a text LM, plain strings."""
    out, images = [], []
    for message in messages:
        content = message["content"]
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else []
        for block in [] if isinstance(content, str) else content:
            if block["type"] == "image_url":
                if not vision:
                    raise BackendError("this local model reads text only, but the request holds an image")
                images.append(data_url_to_image(block["image_url"]["url"]))
                blocks.append({"type": "image"})
            else:
                blocks.append({"type": "text", "text": block["text"]})
        text_only = "".join(b["text"] for b in blocks if b["type"] == "text")
        out.append({"role": message["role"], "content": blocks if vision else text_only})
    return out, images


class TransformersBackend:
    """``local:PATH_OR_HUB_ID``: generation with a model loaded by transformers (VLMs through their processor)."""

    def __init__(
        self,
        path: str,
        *,
        max_batch: int = 8,
        dtype="auto",
        device: str | None = None,
        cache: ResponseCache | None = None,
        model=None,
        processor=None,
    ):
        from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForImageTextToText, AutoProcessor

        self.path = str(path)
        self.max_batch, self.cache, self.usage = max_batch, cache, TokenUsage()
        if model is None:
            config = AutoConfig.from_pretrained(self.path)
            self.is_vlm = hasattr(config, "vision_config")
            cls = AutoModelForImageTextToText if self.is_vlm else AutoModelForCausalLM
            model = cls.from_pretrained(self.path, dtype=dtype)
            if device:
                model = model.to(device)
        else:
            self.is_vlm = hasattr(model.config, "vision_config")
        self.model = model.eval()
        self.processor = processor or AutoProcessor.from_pretrained(self.path)
        self.tokenizer = getattr(self.processor, "tokenizer", self.processor)
        self._queues: dict = {}
        self._lock = threading.Lock()  # one generate at a time on the model
        self._warned = False

    @property
    def id(self) -> str:
        return f"local:{Path(self.path).name if Path(self.path).exists() else self.path}"

    async def chat(self, request: ChatRequest) -> ChatResponse:
        key = self.cache.key("local", self.path, request) if self.cache else None
        if key and (hit := self.cache.get(key)):
            self.usage.add(hit)
            return hit
        loop = asyncio.get_running_loop()
        queue = self._queues.get(loop)
        if queue is None:
            queue = self._queues[loop] = asyncio.Queue()
            loop.create_task(self._worker(queue))
        future = loop.create_future()
        await queue.put((request, future))
        response = await future
        self.usage.add(response)
        if key:
            self.cache.put(key, response)
        return response

    async def _worker(self, queue: asyncio.Queue) -> None:
        while True:
            first = await queue.get()
            batch, rest = [first], []
            while len(batch) < self.max_batch and not queue.empty():
                item = queue.get_nowait()
                (batch if item[0].sampling() == first[0].sampling() else rest).append(item)
            for item in rest:  # other sampling settings wait for the next round
                queue.put_nowait(item)
            try:
                responses = await asyncio.to_thread(self.generate_batch, [r for r, _ in batch])
                for (_, future), response in zip(batch, responses, strict=True):
                    future.set_result(response)
            except Exception as err:  # noqa: BLE001 - every waiting caller gets the failure
                self.usage.failures += len(batch)
                for _, future in batch:
                    future.set_exception(BackendError(f"local generation failed: {err}"))

    def generate_batch(self, requests: list[ChatRequest]) -> list[ChatResponse]:
        """Generate answers to requests that share their sampling parameters, in one padded batch."""
        import torch

        sampling = requests[0].sampling()
        ignored = [k for k in UNSUPPORTED if k in sampling]
        if ignored and not self._warned:
            logger.warning("%s: transformers has no %s; generating without them", self.id, " or ".join(ignored))
            self._warned = True
        texts, images = [], []
        for request in requests:
            messages, request_images = _to_processor_messages(request.messages, self.is_vlm)
            texts.append(self.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
            images.extend(request_images)
        self.tokenizer.padding_side = "left"
        kwargs = {"text": texts, "return_tensors": "pt", "padding": True, "add_special_tokens": False}
        if images:
            kwargs["images"] = images
        inputs = self.processor(**kwargs).to(self.model.device)
        temperature = sampling.get("temperature")
        generate_kwargs = {
            "max_new_tokens": sampling.get("max_tokens", 256),
            "do_sample": bool(temperature),
            "pad_token_id": self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
        }
        if temperature:
            generate_kwargs.update(temperature=temperature, top_p=sampling.get("top_p", 1.0))
        if sampling.get("seed") is not None:
            torch.manual_seed(sampling["seed"])
        want_logprobs = bool(sampling.get("logprobs"))
        if want_logprobs:
            generate_kwargs.update(output_logits=True, return_dict_in_generate=True)
        with self._lock, torch.no_grad():
            output = self.model.generate(**inputs, **generate_kwargs)
        sequences = output.sequences if want_logprobs else output
        prompt_length = inputs["input_ids"].shape[1]
        responses = []
        for i, ids in enumerate(sequences[:, prompt_length:].tolist()):
            eos = self.tokenizer.eos_token_id
            finished = eos in ids
            ids = ids[: ids.index(eos) + 1] if finished else ids
            text = self.tokenizer.decode(ids, skip_special_tokens=True)
            for stop in sampling.get("stop", []):
                text = text.split(stop)[0]
            responses.append(
                ChatResponse(
                    text=text.strip(),
                    model=self.id,
                    finish_reason="stop" if finished else "length",
                    prompt_tokens=int(inputs["attention_mask"][i].sum()),
                    completion_tokens=len(ids),
                    logprobs=self._token_logprobs(output.logits, i, ids, sampling.get("top_logprobs") or 0)
                    if want_logprobs
                    else None,
                )
            )
        return responses

    def _token_logprobs(self, logits, row: int, ids: list[int], top: int) -> list[dict]:
        """OpenAI's logprobs shape from the raw next-token logits of one batch row (special tokens left out, as
        in the decoded text)."""
        import torch

        special = set(self.tokenizer.all_special_ids)
        out = []
        for step, token_id in enumerate(ids):
            if token_id in special:
                continue
            logprobs = torch.log_softmax(logits[step][row].float(), dim=-1)
            entry = {"token": self.tokenizer.decode([token_id]), "logprob": float(logprobs[token_id]), "top": []}
            if top:
                values, indices = logprobs.topk(top)
                pairs = zip(values.tolist(), indices.tolist(), strict=True)
                entry["top"] = [[self.tokenizer.decode([j]), v] for v, j in pairs]
            out.append(entry)
        return out
