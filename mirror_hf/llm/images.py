"""Images in chat messages: OpenAI-style ``image_url`` content blocks carrying data URLs.

Example:
    >>> from PIL import Image
    >>> url = image_to_data_url(Image.new("RGB", (4, 4)))
    >>> url.startswith("data:image/png;base64,"), data_url_to_image(url).size
    (True, (4, 4))
"""

from __future__ import annotations

import base64
import io
import weakref

from PIL import Image

# A face goes out with several calls (plan, caption, response): encode it once while the image lives.
_ENCODED: dict[int, str] = {}


def image_to_data_url(image: Image.Image | bytes) -> str:
    """A PNG (or the given encoded bytes, JPEG or PNG) as a ``data:`` URL."""
    if isinstance(image, Image.Image):
        key = id(image)
        if key not in _ENCODED:
            buffer = io.BytesIO()
            image.convert("RGB").save(buffer, format="PNG")
            _ENCODED[key] = f"data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}"
            weakref.finalize(image, _ENCODED.pop, key, None)
        return _ENCODED[key]
    mime = "image/png" if image[:8] == b"\x89PNG\r\n\x1a\n" else "image/jpeg"
    return f"data:{mime};base64,{base64.b64encode(image).decode()}"


def data_url_to_image(url: str) -> Image.Image:
    if not url.startswith("data:"):
        raise ValueError("only data: URLs are read locally; got " + url[:40])
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB")


def image_block(image: Image.Image | bytes) -> dict:
    return {"type": "image_url", "image_url": {"url": image_to_data_url(image)}}


def user_message(text: str, images: list | tuple = ()) -> dict:
    """A user message with the images first, then the text (LLaVA reads the image before the prompt)."""
    if not images:
        return {"role": "user", "content": text}
    return {"role": "user", "content": [*(image_block(i) for i in images), {"type": "text", "text": text}]}
