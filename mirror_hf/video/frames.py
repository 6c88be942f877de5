"""The client's face at each client utterance of a real session: a frame from the utterance's span, decoded with
PyAV (the ``av`` package transformers and torchvision decode video with), the client's face found with the
detector of mirror-hf's face checks (DeepFace's ``opencv`` backend by default, OpenCV's Haar cascade, no download)
and cropped square to 336 x 336, as MIRROR's training faces are.

Rules (each an option of :class:`FrameSettings`):

- The span of an utterance runs from its start to the next known start after it; the last utterance's span is
  ``tail`` seconds, cut at the video's end. ``choice="middle"`` (default) takes the frame at the middle of the span;
  ``"sharpest"`` takes, of ``samples`` frames spread over it, the one whose face crop is sharpest (variance of the
  Laplacian).
- In a frame with several faces the client's is ``client_face``: ``"largest"`` (default: the camera is usually on
  the client in role-play recordings), or ``"left"`` / ``"right"`` (the leftmost or rightmost face). A crop box per
  video (``boxes``) skips detection: the frame's box is used as it is.
- The crop is the face box widened ``margin`` times around its centre, made square, kept inside the frame, resized
  with Lanczos. A frame with no face gives its centre square instead, marked ``face_found: false``.
- Each face is written to ``OUT/frames/TRANSCRIPT/UTTERANCE.png`` and recorded in ``OUT/frames.jsonl`` as it is
  done: a rerun decodes only what is missing.

Example:
    >>> finder = FaceFinder()                                                             # doctest: +SKIP
    >>> records = extract_faces(transcript, "videos/abc.mp4", "out/", finder=finder)      # doctest: +SKIP
    >>> records[0]["time"], records[0]["face_found"]                                      # doctest: +SKIP
    (12.5, True)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from mirror_hf.errors import MirrorError
from mirror_hf.journal import append_record, read_records, trim_torn_tail
from mirror_hf.video.transcripts import Transcript

FACE_SIZE = 336
FRAMES_DIR, FRAMES_FILE = "frames", "frames.jsonl"
CHOICES = ("middle", "sharpest")
CLIENT_FACES = ("largest", "left", "right")


@dataclass(frozen=True)
class FrameSettings:
    choice: str = "middle"
    samples: int = 5  # frames compared by "sharpest"
    tail: float = 4.0  # seconds of the last utterance's span
    client_face: str = "largest"
    margin: float = 1.6
    size: int = FACE_SIZE

    def check(self) -> None:
        if self.choice not in CHOICES:
            raise MirrorError(f"--frame {self.choice!r}", fix=f"use one of {', '.join(CHOICES)}")
        if self.client_face not in CLIENT_FACES:
            raise MirrorError(f"--client-face {self.client_face!r}", fix=f"use one of {', '.join(CLIENT_FACES)}")
        if self.samples < 1 or self.tail <= 0 or self.margin < 1 or self.size < 16:
            raise MirrorError("--samples, --tail, --margin or --face-size out of range", fix="see --help")


class VideoReader:
    """Frames of one video file by time (seconds), decoded with PyAV."""

    def __init__(self, path: str | Path):
        import av

        self.path = Path(path)
        try:
            self.container = av.open(str(self.path))
            self.stream = self.container.streams.video[0]
        except (av.FFmpegError, IndexError, OSError) as err:
            raise MirrorError(f"cannot read this video ({err})", file=str(self.path), fix="check the file") from None
        self.stream.thread_type = "AUTO"
        duration = self.stream.duration * self.stream.time_base if self.stream.duration else None
        if duration is None and self.container.duration:
            duration = self.container.duration / 1_000_000
        self.duration = float(duration) if duration else None
        self.decoded = 0  # frames decoded, for tests and benchmarks

    def frame_at(self, t: float):
        """(the RGB PIL image of the frame shown at time ``t``, that frame's time)."""
        import av

        t = max(0.0, t)
        try:
            self.container.seek(int(t / self.stream.time_base), stream=self.stream, backward=True)
            best = None
            for frame in self.container.decode(self.stream):
                self.decoded += 1
                if frame.time is None:
                    continue
                if frame.time > t + 1e-6:
                    if best is None:
                        best = frame
                    break
                best = frame
        except av.FFmpegError as err:
            raise MirrorError(
                f"cannot decode at {t:.2f} s ({err})", file=str(self.path), fix="check the file"
            ) from None
        if best is None:
            raise MirrorError(f"no frame at {t:.2f} s", file=str(self.path), fix="check the video and the timestamps")
        return best.to_image(), float(best.time)

    def close(self) -> None:
        self.container.close()


class FaceFinder:
    """Face boxes ``(x, y, w, h)`` in an image, with DeepFace's detector ``backend`` (the one of the face checks)."""

    def __init__(self, backend: str = "opencv"):
        from deepface import DeepFace

        self.deepface, self.backend = DeepFace, backend

    def __call__(self, image) -> list[tuple[int, int, int, int]]:
        bgr = np.asarray(image.convert("RGB"))[:, :, ::-1]
        try:
            faces = self.deepface.extract_faces(
                bgr, detector_backend=self.backend, enforce_detection=False, align=False
            )
        except ValueError as err:  # e.g. an unknown backend
            raise MirrorError(f"face detector {self.backend!r}: {err}", fix="use --face-detector opencv") from None
        boxes = []
        for face in faces:
            area = face["facial_area"]
            if face.get("confidence", 0) > 0:  # DeepFace returns the whole image with confidence 0 when none
                boxes.append((int(area["x"]), int(area["y"]), int(area["w"]), int(area["h"])))
        return boxes


def choose_face(boxes: list[tuple[int, int, int, int]], rule: str = "largest"):
    """The client's box among ``boxes`` by ``rule`` (largest, left, right); None without any."""
    if not boxes:
        return None
    if rule == "left":
        return min(boxes, key=lambda b: b[0] + b[2] / 2)
    if rule == "right":
        return max(boxes, key=lambda b: b[0] + b[2] / 2)
    return max(boxes, key=lambda b: b[2] * b[3])


def square_crop(image, box, margin: float, size: int):
    """``box`` widened ``margin`` times around its centre, square, inside the image, resized to ``size``; the
    centre square of the image when ``box`` is None."""
    from PIL import Image

    width, height = image.size
    if box is None:
        side = min(width, height)
        cx, cy = width / 2, height / 2
    else:
        x, y, w, h = box
        side = min(max(w, h) * margin, width, height)
        cx, cy = x + w / 2, y + h / 2
    left = min(max(cx - side / 2, 0), width - side)
    top = min(max(cy - side / 2, 0), height - side)
    crop = image.crop((round(left), round(top), round(left + side), round(top + side)))
    return crop.resize((size, size), Image.Resampling.LANCZOS)


def sharpness(image) -> float:
    """Variance of the 4-neighbour Laplacian of the grey image: higher is sharper."""
    grey = np.asarray(image.convert("L"), dtype=np.float32)
    lap = -4 * grey[1:-1, 1:-1] + grey[:-2, 1:-1] + grey[2:, 1:-1] + grey[1:-1, :-2] + grey[1:-1, 2:]
    return float(lap.var())


def _face(reader: VideoReader, t: float, settings: FrameSettings, finder, box) -> tuple:
    image, time = reader.frame_at(t)
    found = box if box is not None else choose_face(finder(image) if finder else [], settings.client_face)
    return square_crop(image, found, settings.margin, settings.size), time, found


def extract_faces(
    transcript: Transcript,
    video: str | Path,
    out: str | Path,
    *,
    settings: FrameSettings = FrameSettings(),
    finder=None,
    box: tuple[int, int, int, int] | None = None,
) -> list[dict]:
    """The client face of every client utterance of ``transcript`` in ``video``: written under ``out`` and
    recorded in ``out/frames.jsonl``; returns the records of this transcript (those of earlier runs included)."""
    settings.check()
    out = Path(out)
    journal = out / FRAMES_FILE
    trim_torn_tail(journal)

    def key(r: dict) -> tuple:
        return r["transcript_id"], r["utterance_id"]

    done = {key(r): r for r in read_records(journal, key) if r["transcript_id"] == transcript.transcript_id}
    other = next(
        (
            r
            for r in done.values()
            if r["settings"] != asdict(settings) or r.get("crop_box") != (list(box) if box else None)
        ),
        None,
    )
    if other is not None:
        raise MirrorError(
            f"the faces of transcript {transcript.transcript_id} in {out} were taken with other frame settings "
            f"({other['settings']}, crop box {other.get('crop_box')})",
            fix="give another --out for the new settings, or the same settings to resume",
        )
    todo = [k for k, u in enumerate(transcript.utterances) if u.speaker == "client"]
    todo = [k for k in todo if (transcript.transcript_id, transcript.utterances[k].utterance_id) not in done]
    if not todo:
        return sorted(done.values(), key=lambda r: r["utterance_id"])
    if not Path(video).is_file():
        raise MirrorError("no such video file", file=str(video), fix="check --videos / --video-map")
    reader = VideoReader(video)
    folder = out / FRAMES_DIR / transcript.transcript_id
    folder.mkdir(parents=True, exist_ok=True)
    try:
        for k in todo:
            utterance = transcript.utterances[k]
            start, end = transcript.span(k)
            start = start or 0.0
            end = end if end is not None else start + settings.tail
            if reader.duration:
                end = min(end, reader.duration)
                start = min(start, max(reader.duration - 1e-3, 0.0))
            end = max(end, start)
            if settings.choice == "middle":
                face, time, found = _face(reader, (start + end) / 2, settings, finder, box)
            else:
                times = np.linspace(start, end, settings.samples + 2)[1:-1] if end > start else [start]
                candidates = [_face(reader, float(t), settings, finder, box) for t in times]
                face, time, found = max(candidates, key=lambda c: (c[2] is not None, sharpness(c[0])))
            name = f"{FRAMES_DIR}/{transcript.transcript_id}/{utterance.utterance_id}.png"
            face.save(out / name)
            record = {
                "transcript_id": transcript.transcript_id,
                "utterance_id": utterance.utterance_id,
                "span": [start, end],
                "time": round(time, 3),
                "box": list(found) if found is not None else None,
                "face_found": found is not None,
                "image": name,
                "settings": asdict(settings),
                "crop_box": list(box) if box is not None else None,
            }
            append_record(journal, record)
            done[key(record)] = record
    finally:
        reader.close()
    return sorted(done.values(), key=lambda r: r["utterance_id"])


__all__ = [
    "FaceFinder",
    "FrameSettings",
    "VideoReader",
    "choose_face",
    "extract_faces",
    "sharpness",
    "square_crop",
]
