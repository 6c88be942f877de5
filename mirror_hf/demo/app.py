"""Talk to a MIRROR therapist (Gradio): type as a client, show a face each turn (webcam or a photo), and read the
therapist's answer — with, for P and P+EC, the plan that guided it and, for P+EC, the emotional caption it read off
the face. The therapist is :class:`mirror_hf.therapist.MirrorTherapist` over any chat back-end (a local adapter or
merged model, or an OpenAI-compatible server), with the same prompts and protocol as ``mirror-hf simulate``.

Safety comes first (:mod:`.safety`): every message passes the crisis gate before the model is called; on a hit the
model is not called and the referral message is shown. Every answer passes the output check; a blocked answer is
replaced by the referral message. What this demo is and is not is stated on the page.

Example:
    >>> demo = build_demo(MirrorTherapist(load_backend("local:merged/"), "planning_ec"))     # doctest: +SKIP
    >>> demo.launch()                                                                         # doctest: +SKIP
"""

import html
import os
from dataclasses import dataclass

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from mirror_hf.demo.safety import REFERRAL, CrisisDetector, EventLog, check_answer  # noqa: E402
from mirror_hf.llm import BackendError  # noqa: E402

STATEMENT = (
    "**This is a research demo, not therapy.** It shows a vision-language model trained on MIRROR, a synthetic "
    "dataset of cognitive-reframing sessions (Kim et al.). It is not a replacement for professional psychological "
    "treatment, it can be wrong, and it cannot help in a crisis. If you are in danger, call your local emergency "
    "number; crisis lines by country: https://findahelpline.com. Do not share information that identifies you."
)
NEED_FACE = "Show a face with each message (webcam or a photo): this therapist reads the client's face to answer."
MAX_PIXELS = 4096 * 4096  # a larger image is refused before it reaches the model
MAX_UPLOAD = "10mb"  # gradio refuses larger uploads outright


@dataclass
class Line:
    speaker: str
    text: str


def _profile(name: str | None, reason: str | None) -> dict:
    name = " ".join((name or "").split())
    return {
        "idx": "demo",
        "personal_info": f"Name: {name}" if name else "",
        "reason_for_seeking_counseling": " ".join((reason or "").split()),
    }


def _insight(answer) -> str:
    parts = []
    if answer.caption:
        parts.append(f"**Emotional caption** (what the therapist read off the face): {html.escape(answer.caption)}")
    if answer.plan is not None:
        parts.append(f"**Plan** — {html.escape(answer.plan.technique)}:\n\n{html.escape(answer.plan.plan)}")
    return "\n\n".join(parts)


def build_demo(
    therapist,
    *,
    detector: CrisisDetector | None = None,
    referral: str = REFERRAL,
    log: EventLog | None = None,
    title: str = "Talk to a MIRROR therapist",
) -> gr.Blocks:
    """The demo over ``therapist`` (a :class:`~mirror_hf.therapist.MirrorTherapist`)."""
    detector = detector or CrisisDetector()
    log = log or EventLog(None)

    async def send(message, image, name, reason, chat, state):
        message = (message or "").strip()
        chat = list(chat or [])
        state = dict(state or {})
        if not message:
            return chat, "", state, "Type what you want to say first.", gr.update()
        hit = detector.check(message)
        if hit is not None:  # the model never sees it
            log.record("input", hit, message)
            chat += [{"role": "user", "content": message}, {"role": "assistant", "content": referral}]
            return chat, "", state, "", ""
        if image is None:
            return chat, message, state, NEED_FACE, gr.update()
        if image.width * image.height > MAX_PIXELS:
            too_big = f"That image is {image.width}x{image.height} pixels: send one of at most 4096x4096."
            return chat, message, state, too_big, gr.update()
        session = state.get("session") or therapist.start(_profile(name, reason))
        history = [*state.get("history", []), Line("client", message)]
        try:
            answer = await session.respond(history, image.convert("RGB"))
        except BackendError as err:
            failed = f"The therapist model could not answer ({err}). Your message is still in the box: send it again."
            return chat, message, {**state, "session": session}, failed, gr.update()
        text = answer.text
        blocked = check_answer(text)
        if blocked is not None:
            log.record("output", blocked, text)
            text = referral
        history.append(Line("therapist", answer.text))
        chat += [{"role": "user", "content": message}, {"role": "assistant", "content": text}]
        return chat, "", {"session": session, "history": history}, "", _insight(answer) if blocked is None else ""

    with gr.Blocks(title=title) as demo:
        gr.Markdown(f"## {title}\n{STATEMENT}", elem_id="statement")
        with gr.Row():
            with gr.Column(scale=2):
                chat = gr.Chatbot(label="Session", elem_id="chat", height=420)
                message = gr.Textbox(label="You (the client)", elem_id="message", lines=2)
                send_button = gr.Button("Send", elem_id="send", variant="primary")
                notice = gr.Markdown(elem_id="notice")
            with gr.Column(scale=1):
                face = gr.Image(
                    label="Your face this turn", type="pil", sources=["upload", "webcam"], elem_id="face", height=260
                )
                with gr.Accordion("About you (optional)", open=False):
                    name = gr.Textbox(label="Name", elem_id="name")
                    reason = gr.Textbox(label="Why you came", elem_id="reason")
                insight = gr.Markdown(elem_id="insight")
        gr.Markdown(STATEMENT, elem_id="statement-footer")
        state = gr.State({})
        outputs = [chat, message, state, notice, insight]
        send_button.click(send, [message, face, name, reason, chat, state], outputs)
        message.submit(send, [message, face, name, reason, chat, state], outputs)
    return demo


def launch(demo: gr.Blocks, **options):
    """Serve ``demo``; ``options`` go to ``Blocks.launch`` (uploads above 10 MB are refused)."""
    demo.launch(max_file_size=MAX_UPLOAD, ssr_mode=False, **options)
    return demo


__all__ = ["MAX_PIXELS", "STATEMENT", "build_demo", "launch"]
