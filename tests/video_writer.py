"""A short counseling 'video' drawn by code, and its transcript in AnnoMI's columns with AnnoMI's quirks, for the
video tests. Two faces: the client on the left (the larger), the therapist on the right. The client's skin tint
changes every two seconds (segment k: green channel 200 - 10 k, from t = 2k - 1), so a face crop tells which moment
of the video it came from."""

import csv

from PIL import Image, ImageDraw

SIZE, FPS, SECONDS = (640, 360), 5, 28
COLUMNS = ["transcript_id", "mi_quality", "video_title", "video_url", "topic", "utterance_id", "interlocutor",
           "timestamp", "utterance_text", "main_therapist_behaviour", "client_talk_type"]  # fmt: skip
URL = "https://www.youtube.com/watch?v=abcDEF12345"
SHARED_URL = URL  # transcript t2 shares t1's video
MISSING_URL = "https://www.youtube.com/watch?v=zzzzzzzzzzz"


def segment(t: float) -> int:
    return int((t + 1) // 2)


def tint(k: int) -> tuple[int, int, int]:
    return (230, 200 - 10 * k, 150)


def draw_face(d, cx, cy, r, skin):
    d.ellipse([cx - r, cy - 1.25 * r, cx + r, cy + 1.25 * r], fill=skin)
    for ex in (cx - 0.4 * r, cx + 0.4 * r):
        d.ellipse([ex - 0.18 * r, cy - 0.45 * r, ex + 0.18 * r, cy - 0.25 * r], fill=(255, 255, 255))
        d.ellipse([ex - 0.08 * r, cy - 0.43 * r, ex + 0.08 * r, cy - 0.27 * r], fill=(40, 30, 20))
        d.rectangle([ex - 0.25 * r, cy - 0.62 * r, ex + 0.25 * r, cy - 0.55 * r], fill=(60, 40, 30))
    d.polygon([(cx, cy - 0.15 * r), (cx - 0.12 * r, cy + 0.2 * r), (cx + 0.12 * r, cy + 0.2 * r)], fill=(200, 150, 120))
    d.rectangle([cx - 0.3 * r, cy + 0.5 * r, cx + 0.3 * r, cy + 0.58 * r], fill=(150, 60, 60))


CLIENT, THERAPIST = (180, 180, 80), (470, 190, 60)  # centre x, centre y, radius


def frame(t: float) -> Image.Image:
    image = Image.new("RGB", SIZE, (90, 110, 130))
    d = ImageDraw.Draw(image)
    draw_face(d, *CLIENT, tint(segment(t)))
    draw_face(d, *THERAPIST, (200, 170, 140))
    return image


def write_video(path, seconds: int = SECONDS, fps: int = FPS, size=SIZE, draw=frame) -> None:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.options = {"qscale": "2"}
        for n in range(seconds * fps):
            for packet in stream.encode(av.VideoFrame.from_image(draw(n / fps))):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


# (speaker, timestamp as AnnoMI writes it); t1 has the malformed one and a backwards one
T1 = [("therapist", "00:00:00"), ("client", "00:00:04"), ("therapist", "00:00:08"), ("client", "00:00:010"),
      ("therapist", "00:00:14"), ("client", "00:00:12"), ("therapist", "00:00:18"), ("client", "00:00:22")]  # fmt: skip
# the middles of the client utterances' spans: (4+8)/2, (10+14)/2, the backwards one spans 14..18, the last 22..26
T1_MIDDLES = {1: 6.0, 3: 12.0, 5: 16.0, 7: 24.0}
T2 = [("client", "00:00:01"), ("therapist", "00:00:05")]


def write_transcripts(path, *, full: bool = False) -> None:
    """AnnoMI-simple's columns (``full``: AnnoMI-full's, two annotators per utterance, disagreeing once)."""
    rows = []
    for tid, url, utterances in (("t1", URL, T1), ("t2", SHARED_URL, T2), ("t3", MISSING_URL, T2)):
        for k, (who, stamp) in enumerate(utterances):
            rows.append({
                "transcript_id": tid, "mi_quality": "high", "video_title": f"Session {tid}", "video_url": url,
                "topic": "reducing alcohol consumption", "utterance_id": k, "interlocutor": who, "timestamp": stamp,
                "utterance_text": f"{who} line {k} of {tid}",
                "main_therapist_behaviour": "question" if who == "therapist" else "n/a",
                "client_talk_type": "neutral" if who == "client" else "n/a",
            })  # fmt: skip
    rows.reverse()  # files need not be in utterance order
    columns = COLUMNS
    if full:
        columns = [*COLUMNS, "annotator_id"]
        doubled = []
        for row in rows:
            second = dict(row, annotator_id=2)
            if row["transcript_id"] == "t1" and row["utterance_id"] == 1:
                second["client_talk_type"] = "sustain"
            doubled += [dict(row, annotator_id=1), second]
        rows = doubled
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
