"""`mirror-hf video`: a therapist on real counseling sessions (paper §6.4) from AnnoMI-format transcripts and the
user's own video files."""

from __future__ import annotations

import sys
from pathlib import Path

from mirror_hf.cli._format import add_command
from mirror_hf.cli._options import (
    MODEL_SPECS,
    add_backend_arguments,
    add_protocol_arguments,
    backend_options,
    protocol_options,
)
from mirror_hf.errors import MirrorError


def register(subparsers) -> None:
    video = add_command(
        subparsers,
        "video",
        help="run a therapist on real counseling videos (AnnoMI format): its answers beside the real therapist's",
        description="Read transcripts in AnnoMI's columns (AnnoMI-simple.csv, AnnoMI-full.csv or your own), find "
        "each one's video in --videos (a file whose name holds its YouTube/Vimeo id, as yt-dlp names them, or "
        "--video-map), crop the client's face at each client utterance (PyAV, the face checks' detector, 336x336), "
        "and at every therapist turn that follows a client turn ask the therapist for its answer, given the real "
        "conversation so far and that face. OUT gets the turns dataset (with its card), pages/TRANSCRIPT.html laid "
        "out like the paper's Figure 6, and video_report.json. Resumable: a rerun decodes and asks only what is "
        "missing. We download no video and ship no AnnoMI file.",
        epilog=f"{MODEL_SPECS}\n\nexample:\n  mirror-hf video --transcripts AnnoMI-simple.csv --videos ~/annomi-videos "
        "--therapist local:merged/ --variant planning_ec --select mi_quality=high --out annomi-pec/",
    )
    video.add_argument("--transcripts", required=True, metavar="CSV", help="AnnoMI-format transcripts")
    video.add_argument("--videos", metavar="DIR", help="the folder of your video files")
    video.add_argument("--video-map", metavar="CSV", help="video_url,file rows, for files not named by their id")
    video.add_argument("--therapist", required=True, metavar="SPEC", help="the VLM therapist")
    video.add_argument(
        "--variant", choices=("base", "planning", "planning_ec"), default="planning_ec", help="the therapist's variant"
    )
    video.add_argument("--out", required=True, metavar="DIR", help="the output folder")
    video.add_argument(
        "--select",
        action="append",
        default=[],
        metavar="KEY=VALUE[|VALUE]",
        help="keep the transcripts that match (transcript_id, mi_quality, topic, video_title, video_url); repeatable",
    )
    video.add_argument("--sessions", type=int, metavar="N", help="the first N transcripts only (after --select)")
    video.add_argument(
        "--profiles",
        metavar="JSON",
        help='{"TRANSCRIPT_ID": {"personal_info": ..., "reason_for_seeking_counseling": ...}} (default: nothing '
        "personal, the transcript's topic as the reason)",
    )
    video.add_argument("--frame", choices=("middle", "sharpest"), default="middle", help="which frame of a span")
    video.add_argument("--samples", type=int, default=5, metavar="N", help="frames compared by --frame sharpest")
    video.add_argument(
        "--client-face", choices=("largest", "left", "right"), default="largest", help="the client's face of several"
    )
    video.add_argument(
        "--crop-boxes", metavar="CSV", help="rows video,x,y,w,h (video: a file name or transcript id): no detection"
    )
    video.add_argument("--face-detector", default="opencv", metavar="BACKEND", help="DeepFace's detector backend")
    video.add_argument("--tail", type=float, default=4.0, metavar="S", help="seconds of the last utterance's span")
    add_protocol_arguments(video)
    add_backend_arguments(video, at_once="sessions")
    video.set_defaults(handler=run_video)


def _crop_boxes(path: str | None) -> dict:
    import csv

    if not path:
        return {}
    boxes = {}
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            rows = list(csv.DictReader(f))
    except FileNotFoundError:
        raise MirrorError("no such crop-box file", file=path, fix="a CSV with video,x,y,w,h") from None
    for n, row in enumerate(rows, 1):
        try:
            boxes[row["video"].strip()] = tuple(int(float(row[k])) for k in ("x", "y", "w", "h"))
        except (KeyError, TypeError, ValueError, AttributeError):
            raise MirrorError("a row needs video,x,y,w,h (pixels)", file=path, row=n) from None
    return boxes


def _profiles(path: str | None) -> dict | None:
    import json

    if not path:
        return None
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MirrorError("no such profiles file", file=path) from None
    except json.JSONDecodeError as err:
        raise MirrorError(f"not JSON ({err})", file=path) from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise MirrorError("profiles map each transcript id to an object", file=path)
    return data


def run_video(args) -> int:
    import asyncio

    from mirror_hf.llm import load_backend
    from mirror_hf.outputs import claim_output_dir
    from mirror_hf.therapist import MirrorTherapist
    from mirror_hf.video.frames import FaceFinder, FrameSettings
    from mirror_hf.video.run import REPORT_FILE, TURNS_FILE, run_videos, select
    from mirror_hf.video.transcripts import REPAIRS, find_videos, read_transcripts

    if not args.videos and not args.video_map:
        raise MirrorError("no videos given", fix="give --videos DIR (and/or --video-map CSV)")
    claim_output_dir(args.out, command="video", markers=(TURNS_FILE, REPORT_FILE, "frames.jsonl"), force_flag=None)
    settings = FrameSettings(choice=args.frame, samples=args.samples, tail=args.tail, client_face=args.client_face)
    settings.check()
    transcripts, counts = read_transcripts(args.transcripts)
    transcripts = select(transcripts, args.select)
    if args.sessions:
        transcripts = transcripts[: args.sessions]
    if not transcripts:
        raise MirrorError("no transcript left after --select", file=args.transcripts, fix="check the --select rules")
    videos = find_videos(transcripts, args.videos, args.video_map)
    without = [t.transcript_id for t in transcripts if t.transcript_id not in videos]
    if without:
        shown = ", ".join(without[:10]) + (", ..." if len(without) > 10 else "")
        print(f"warning: {len(without)} transcript(s) without a video file, left out: {shown}", file=sys.stderr)
    if not videos:
        raise MirrorError("no transcript has a video file", fix="check --videos / --video-map (file names hold ids)")
    boxes = _crop_boxes(args.crop_boxes)
    profiles = _profiles(args.profiles)
    protocol, upstream = protocol_options(args)
    therapist = MirrorTherapist(
        load_backend(args.therapist, **backend_options(args)), args.variant, protocol=protocol, upstream=upstream
    )
    boxed = {tid for tid, file in videos.items() if tid in boxes or file.name in boxes}
    finder = (
        FaceFinder(args.face_detector) if set(videos) - boxed else None
    )  # a detector only where boxes are not given
    notes = {
        "protocol": protocol.name,
        "transcripts_read": counts["transcripts"],
        "repairs": {k: counts.get(k, 0) for k in REPAIRS},
        "without_video": without,
        "frames": {"choice": args.frame, "client_face": args.client_face, "detector": args.face_detector},
    }
    report = asyncio.run(
        run_videos(
            transcripts, videos, therapist, args.out, settings=settings, finder=finder, boxes=boxes,
            profiles=profiles, concurrency=args.concurrency, notes=notes,
        )
    )  # fmt: skip
    print(
        f"{report['sessions']} session(s), {report['answered']} answer(s), {report['failed']} failed "
        f"(a rerun asks them again), {report['faces_not_found']} frame(s) without a face; pages in "
        f"{args.out}/pages/"
    )
    return 1 if report["turns"] and report["answered"] == 0 else 0
