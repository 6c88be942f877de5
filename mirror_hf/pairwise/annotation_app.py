"""The blind A/B annotation app of a pairwise study (Gradio): an annotator signs in by name or with a token link
(``?token=...``), reads two dialogues of the same client side by side, with the client's face at each turn, and
answers A / Tie / B for each dimension; each answer is on disk before the next item shows, and signing in again
(after a reload, a crash, another day) goes on at the first item not yet answered.

The app reads only the blinded ``app/`` folder of a study (``study.json``, ``sessions.json``, ``faces/``): it never
knows which model wrote which dialogue. It imports nothing of mirror-hf but :mod:`answer_store` (its neighbour in
a Space folder), so the same folder runs as a Hugging Face Space.

Example:
    >>> blocks = build_app("study/app", "study/answers")        # doctest: +SKIP
    >>> blocks.launch()                                           # doctest: +SKIP
"""

import hashlib
import html
import json
import os
import time
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported: no calls home by default

import gradio as gr  # noqa: E402

try:  # inside mirror-hf
    from mirror_hf.pairwise.answer_store import CHOICES, AnswerError, AnswerStore
except ImportError:  # in a Space folder, beside this file
    from answer_store import CHOICES, AnswerError, AnswerStore

CONFIG_FILE = "config.json"  # answers_repo / every_minutes, written by `mirror-hf pairwise annotate --push`
# inline styles: they hold wherever the HTML is shown, whatever gradio does with a page's CSS
FACE_STYLE = "width:96px;height:96px;object-fit:cover;border-radius:6px;float:left;margin:0 .6em .3em 0"
TURN_STYLE = "margin:.4em 0;line-height:1.4;overflow:hidden"
DIRECTION_STYLE = "font-style:italic;opacity:.75"


class Study:
    """A study's blinded folder: its items, the sessions they show, the annotators it admits."""

    def __init__(self, app_dir: str | Path):
        self.dir = Path(app_dir).resolve()
        meta = json.loads((self.dir / "study.json").read_text(encoding="utf-8"))
        self.id, self.items, self.dimensions = meta["study_id"], meta["items"], meta["dimensions"]
        self.annotators: dict[str, str] = meta.get("annotators") or {}  # name -> sha256 of its token
        self.sessions = json.loads((self.dir / "sessions.json").read_text(encoding="utf-8"))

    def sign_in(self, name: str | None = None, token: str | None = None) -> str:
        """The annotator's name; ValueError with what to do when they cannot sign in."""
        if token:
            digest = hashlib.sha256(token.encode()).hexdigest()
            for known, expected in self.annotators.items():
                if digest == expected:
                    return known
            raise ValueError("this sign-in link is not one of this study's: ask the study's owner for yours")
        name = " ".join((name or "").split())
        if not name:
            raise ValueError("type your name to sign in")
        if len(name) > 64:
            raise ValueError("a name of 64 characters at most, please")
        if self.annotators and name not in self.annotators:
            raise ValueError(f"{name!r} is not an annotator of this study: use your name as the owner gave it")
        return name

    def transcript(self, session: str, show_directions: bool) -> str:
        parts = []
        for turn in self.sessions[session]:
            client = turn["speaker"] == "client"
            face = ""
            if turn.get("face"):
                src = f"/gradio_api/file={self.dir / turn['face']}"
                face = f'<img src="{src}" alt="the client\'s face" style="{FACE_STYLE}">'

            direction = turn.get("stage_direction") if show_directions and client else None
            said = html.escape(turn["text"])
            if direction:
                said = f'<span style="{DIRECTION_STYLE}">{html.escape(direction)}</span> {said}'
            parts.append(
                f'<div class="turn {"client" if client else "counselor"}" style="{TURN_STYLE}">{face}'
                f'<b class="speaker">{"Client" if client else "Counselor"}:</b> {said}</div>'
            )
        return '<div class="dialogue" style="max-height:34em;overflow-y:auto">' + "\n".join(parts) + "</div>"


def _first_open(study: Study, answered: dict, after: int = -1) -> int:
    """The first item after ``after`` not answered yet, wrapping around; ``len(items)`` when all are."""
    n = len(study.items)
    for k in list(range(after + 1, n)) + list(range(0, after + 1)):
        if study.items[k]["item_id"] not in answered:
            return k
    return n


def build_app(app_dir: str | Path, answers_dir: str | Path, *, scheduler=None) -> gr.Blocks:
    """The app over the study in ``app_dir``, saving to ``answers_dir`` (under ``scheduler.lock`` when answers are
    also pushed to the Hub by a ``CommitScheduler``)."""
    study = Study(app_dir)
    store = AnswerStore(answers_dir, study_id=study.id, lock=getattr(scheduler, "lock", None))
    names = [d["name"] for d in study.dimensions]
    total = len(study.items)

    def view(state: dict, show_directions: bool, message: str = ""):
        """Everything the annotation panel shows for the item at ``state["position"]``."""
        try:
            answered = store.answered(state["annotator"])
        except AnswerError as err:  # a damaged answer file: say so, write nothing over it
            return (state, f"⚠️ your answers cannot be read: {err}. Tell the study's owner.", "", "",
                    *[gr.update() for _ in names], message)  # fmt: skip
        k = state["position"]
        header = f"Signed in as **{html.escape(state['annotator'])}** · {len(answered)} of {total} answered"
        if k >= total:
            done = f"{header}\n\n**All {total} items are answered. Thank you!** Use *Previous* to revise one."
            return (state, done, "", "", *[gr.update(value=None) for _ in names], message)
        item = study.items[k]
        state = {**state, "shown_at": time.time()}
        earlier = answered.get(item["item_id"], {})
        progress = f"{header} · item **{k + 1}** of {total}" + (" (answered; saving replaces it)" if earlier else "")
        return (
            state,
            progress,
            study.transcript(item["a"], show_directions),
            study.transcript(item["b"], show_directions),
            *[gr.update(value=earlier.get(d)) for d in names],
            message,
        )

    def enter(name: str | None, token: str | None, show_directions: bool):
        try:
            annotator = study.sign_in(name=name, token=token)
        except ValueError as err:
            return (gr.update(), gr.update(), f"⚠️ {err}", {}, *[gr.update()] * (3 + len(names)), "")
        try:
            state = {"annotator": annotator, "position": _first_open(study, store.answered(annotator))}
        except AnswerError as err:
            return (gr.update(), gr.update(), f"⚠️ your answers cannot be read: {err}. Tell the study's owner.", {},
                    *[gr.update()] * (3 + len(names)), "")  # fmt: skip
        return (gr.update(visible=False), gr.update(visible=True), "", *view(state, show_directions))

    def sign_in_by_name(name, show_directions):
        return enter(name, None, show_directions)

    def sign_in_by_link(show_directions, request: gr.Request):
        token = (request.query_params or {}).get("token") if request else None
        if not token:
            return (gr.update(), gr.update(), "", {}, *[gr.update()] * (3 + len(names)), "")
        return enter(None, token, show_directions)

    def save(state: dict, show_directions: bool, *choices):
        if not state.get("annotator"):
            return view({"annotator": "", "position": total}, show_directions, "⚠️ sign in first")
        k = state["position"]
        if k >= total:
            return view(state, show_directions)
        missing = [d["question"].split(" —")[0] for d, c in zip(study.dimensions, choices, strict=True) if not c]
        if missing:  # nothing else changes: the choices made so far stay on the page
            return (state, *[gr.update()] * (3 + len(names)), f"⚠️ answer {', '.join(missing)} first")
        item = study.items[k]
        seconds = time.time() - state["shown_at"] if state.get("shown_at") else None
        store.save(state["annotator"], item["item_id"], dict(zip(names, choices, strict=True)), seconds=seconds)
        try:
            position = _first_open(study, store.answered(state["annotator"]), after=k)
        except AnswerError:
            position = k  # view() says what is wrong
        return view({**state, "position": position}, show_directions, f"✓ saved item {k + 1}")

    def previous(state: dict, show_directions: bool):
        if not state.get("annotator"):
            return view({"annotator": "", "position": total}, show_directions, "⚠️ sign in first")
        return view({**state, "position": max(0, state["position"] - 1)}, show_directions)

    with gr.Blocks(title="Pairwise counseling study") as blocks:
        gr.Markdown(
            "## Which counseling dialogue is better?\n"
            f"Each of the {total} items shows two dialogues of the **same** client with two different counselors "
            "(the order is random). For each dimension choose **A**, **Tie** or **B**. Every answer is saved as soon "
            "as you press *Save and next*; you can stop at any time and sign in again to go on."
        )
        state = gr.State({})
        with gr.Column(visible=True) as signin:
            name = gr.Textbox(label="Your name", elem_id="annotator-name", max_lines=1)
            start = gr.Button("Sign in", elem_id="sign-in", variant="primary")
            signin_message = gr.Markdown(elem_id="sign-in-message")
        with gr.Column(visible=False) as work:
            progress = gr.Markdown(elem_id="progress")
            show_directions = gr.Checkbox(
                label="Show the client's stage directions (the counselor did not see them)",
                value=False,
                elem_id="show-directions",
            )
            with gr.Row(equal_height=False):
                with gr.Column():
                    gr.Markdown("### Dialogue A")
                    dialogue_a = gr.HTML(elem_id="dialogue-a")
                with gr.Column():
                    gr.Markdown("### Dialogue B")
                    dialogue_b = gr.HTML(elem_id="dialogue-b")
            radios = []
            for d in study.dimensions:
                radios.append(gr.Radio(list(CHOICES), label=d["question"], elem_id=f"answer-{d['name']}"))
                with gr.Accordion(f"What the Working Alliance Inventory asks here ({d['name']})", open=False):
                    gr.Markdown("\n".join(f"- {q}" for q in d["guidance"]))
            with gr.Row():
                back = gr.Button("Previous", elem_id="previous")
                forward = gr.Button("Save and next", elem_id="save", variant="primary")
            message = gr.Markdown(elem_id="message")
        panel = [state, progress, dialogue_a, dialogue_b, *radios, message]
        signed = [signin, work, signin_message, *panel]
        start.click(sign_in_by_name, [name, show_directions], signed)
        name.submit(sign_in_by_name, [name, show_directions], signed)
        blocks.load(sign_in_by_link, [show_directions], signed)
        forward.click(save, [state, show_directions, *radios], panel)
        back.click(previous, [state, show_directions], panel)
        show_directions.change(lambda s, show: view(s, show) if s.get("annotator") else [gr.update()] * len(panel),
                               [state, show_directions], panel)  # fmt: skip
    blocks.study = study  # for the launcher (allowed paths) and for tests
    return blocks


def open_scheduler(repo_id: str, answers_dir: str | Path, *, every: float = 1.0, private: bool = True, token=None):
    """Push ``answers_dir`` to the Hub dataset ``repo_id`` (under ``answers/``) every ``every`` minutes, after
    fetching the answers already there that this folder lacks (a Space restarts with an empty disk)."""
    from huggingface_hub import CommitScheduler, snapshot_download
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    answers_dir = Path(answers_dir)
    answers_dir.mkdir(parents=True, exist_ok=True)
    try:
        snapshot = Path(
            snapshot_download(repo_id, repo_type="dataset", allow_patterns=["answers/*.jsonl"], token=token)
        )
    except (RepositoryNotFoundError, RevisionNotFoundError):
        snapshot = None  # a new study: nothing pushed yet
    for remote in sorted((snapshot / "answers").glob("*.jsonl")) if snapshot else ():
        local = answers_dir / remote.name
        if not local.exists():
            local.write_bytes(remote.read_bytes())
    return CommitScheduler(
        repo_id=repo_id,
        repo_type="dataset",
        folder_path=answers_dir,
        path_in_repo="answers",
        every=every,
        private=private,
        token=token,
        allow_patterns=["*.jsonl"],
    )


def launch(app_dir: str | Path, answers_dir: str | Path, *, answers_repo=None, every=1.0, private=True, **options):
    """Build and serve the app (blocking unless ``prevent_thread_lock``); ``options`` go to ``Blocks.launch``."""
    scheduler = open_scheduler(answers_repo, answers_dir, every=every, private=private) if answers_repo else None
    blocks = build_app(app_dir, answers_dir, scheduler=scheduler)
    blocks.scheduler = scheduler
    blocks.launch(allowed_paths=[str(blocks.study.dir / "faces")], ssr_mode=False, **options)
    return blocks


def main() -> None:
    """A Space's entry point: the study beside this file, answers in ``answers/`` and, when ``config.json`` or
    ``MIRROR_ANSWERS_REPO`` names one, pushed to that private Hub dataset (the Space's ``HF_TOKEN`` secret)."""
    here = Path(__file__).resolve().parent
    config = json.loads((here / CONFIG_FILE).read_text(encoding="utf-8")) if (here / CONFIG_FILE).is_file() else {}
    repo = os.environ.get("MIRROR_ANSWERS_REPO") or config.get("answers_repo")
    launch(here, here / "answers", answers_repo=repo, every=float(config.get("every_minutes", 1.0)))


if __name__ == "__main__":
    main()
