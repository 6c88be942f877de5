"""Client faces per second from a real-session video, through `extract_faces` as `mirror-hf video` runs it: seek and
decode with PyAV, detect with the face checks' detector (DeepFace's opencv backend), crop square, resize to 336 px,
write the PNG and the journal line. The video is drawn and encoded here (two faces, like a role-play recording):
by default 10 minutes at 1280x720 and 25 fps, a client utterance every 5 seconds (AnnoMI's sessions average about
one utterance every 4-6 seconds), so 120 client faces per 10 minutes.

Prints one line: faces, seconds, faces/s, decoded frames/s, and the minutes AnnoMI's 133 transcripts (~9,700
utterances, about half the client's) would take at that rate.

    python benchmarks/video_frames.py
    python benchmarks/video_frames.py --minutes 2 --frame sharpest
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from video_writer import draw_face  # noqa: E402  (the tests' drawing of a face)

ANNOMI_CLIENT_UTTERANCES = 4850  # about half of AnnoMI-simple's 9,699 utterances


def main() -> None:
    from PIL import Image, ImageDraw

    from mirror_hf.video.frames import FaceFinder, FrameSettings, VideoReader, extract_faces
    from mirror_hf.video.transcripts import Transcript, Utterance

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--every", type=float, default=5.0, help="seconds between client utterances")
    parser.add_argument("--frame", choices=("middle", "sharpest"), default="middle")
    parser.add_argument("--detector", default="opencv")
    args = parser.parse_args()

    import av

    size = (args.width, args.height)
    scale = args.height / 360
    background = Image.new("RGB", size, (90, 110, 130))
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "session.mp4"
        started = time.perf_counter()
        with av.open(str(video), "w") as container:
            stream = container.add_stream("mpeg4", rate=args.fps)
            stream.width, stream.height, stream.pix_fmt = *size, "yuv420p"
            for n in range(int(args.minutes * 60 * args.fps)):
                image = background.copy()
                d = ImageDraw.Draw(image)
                draw_face(d, 180 * scale, 180 * scale, 80 * scale, (230, 200 - (n // args.fps) % 60, 150))
                draw_face(d, 470 * scale, 190 * scale, 60 * scale, (200, 170, 140))
                for packet in stream.encode(av.VideoFrame.from_image(image)):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        encoded = time.perf_counter() - started
        utterances, t, k = [], 0.0, 0
        while t < args.minutes * 60 - args.every:
            for speaker in ("therapist", "client"):
                utterances.append(Utterance(k, speaker, f"{speaker} {k}", t))
                k, t = k + 1, t + args.every / 2
        transcript = Transcript("bench", "", utterances)
        finder = FaceFinder(args.detector)
        decoded = {"frames": 0}
        original = VideoReader.frame_at

        def counting(self, when):
            result = original(self, when)
            decoded["frames"] = self.decoded
            return result

        VideoReader.frame_at = counting
        started = time.perf_counter()
        records = extract_faces(transcript, video, Path(tmp) / "out", settings=FrameSettings(choice=args.frame),
                                finder=finder)  # fmt: skip
        seconds = time.perf_counter() - started
    faces = len(records)
    found = sum(r["face_found"] for r in records)
    print(
        f"video_frames: {faces} faces ({found} found) from a {args.minutes:g} min {args.width}x{args.height} "
        f"{args.fps} fps video, --frame {args.frame}, detector {args.detector}: {seconds:.1f} s, "
        f"{faces / seconds:.2f} faces/s, {decoded['frames'] / seconds:.0f} decoded frames/s; AnnoMI's "
        f"~{ANNOMI_CLIENT_UTTERANCES} client utterances: {ANNOMI_CLIENT_UTTERANCES / (faces / seconds) / 60:.1f} min "
        f"(the video itself took {encoded:.0f} s to draw and encode)"
    )


if __name__ == "__main__":
    main()
