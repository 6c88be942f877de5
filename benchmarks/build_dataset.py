"""Build throughput at full MIRROR scale, beside datasets' imagefolder loading the same PNGs.

Generates a release in the authors' format (3,073 dialogues, ~10.3 client turns each, one 336x336 PNG per client
turn, a drawn CelebA stand-in), then measures in fresh processes:
  - cold build of the `dialogues` config (the same image bytes as the baseline), and of all five configs;
  - a cached rebuild (unchanged inputs);
  - the baselines: `load_dataset("imagefolder", data_dir=turn images)` into an empty cache (it stores paths
    only, reading no image bytes), and the same followed by what push_to_hub does locally (embed the image
    bytes, write parquet): the same bytes written as a Hub-layout dataset.
Each prints one comparable line: wall time, rows/s, peak RSS.

    python benchmarks/build_dataset.py                 # full scale (~7 GB of PNGs, ~40 GB disk in all)
    python benchmarks/build_dataset.py --scale 0.05    # a quick look
"""

from __future__ import annotations

import argparse
import io
import json
import random
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

DIALOGUES = 3073
MEAN_EXCHANGES = 10.3
POOL = 64  # distinct PNGs; files repeat them, so every byte is still read and written
WORDS = [
    "feel",
    "think",
    "maybe",
    "work",
    "friend",
    "family",
    "worry",
    "time",
    "really",
    "know",
    "sure",
    "always",
    "never",
    "help",
    "try",
    "week",
    "talk",
    "hard",
    "little",
    "better",
    "sorry",
    "okay",
    "guess",
    "just",
    "still",
    "thing",
    "people",
]


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def screenplay(rng: random.Random) -> list[dict]:
    """A dialogue's turns at MIRROR's length (~10.3 exchanges), in the release's speaker/direction/statement shape."""
    exchanges = max(2, min(20, round(rng.gauss(MEAN_EXCHANGES, 2.5))))
    return [
        {
            "speaker": "Therapist" if t % 2 == 0 else "Client",
            "stage_direction": sentence(rng, 3)[:-1],
            "statement": sentence(rng, rng.randint(8, 30)),
        }
        for t in range(2 * exchanges)
    ]


def profile_texts(rng: random.Random, i: int) -> dict:
    """The profile columns of a release row, at their released lengths."""
    return {
        "personal_info": f"Client {i} is a 30-year-old person working as a Tester. " + sentence(rng, 12),
        "personality": "The client exhibits the personality trait of 'X'. " + sentence(rng, 15),
        "distorted_thought": sentence(rng, 14),
        "thinking_trap": "catastrophizing, labeling and mislabeling",
        "reason_for_seeking_counseling": sentence(rng, 20),
        "cbt_plan": "\n".join(f"{k}. Reality Testing step: {sentence(rng, 18)}" for k in range(1, 6)),
    }


def _png_pool(rng: random.Random) -> list[bytes]:
    """336x336 faces with photographic-like noise, so PNG sizes resemble generated photos (~200 KB)."""
    import numpy as np
    from PIL import Image

    from mirror_hf.data.sample import TURN_SIZE, draw_face

    pool = []
    for i in range(POOL):
        face = np.asarray(draw_face(i % 16 + 1, TURN_SIZE, mood=rng.uniform(-1, 1), gaze=rng.uniform(-1, 1)))
        noise = np.random.default_rng(i).normal(0, 12, face.shape)
        img = Image.fromarray(np.clip(face + noise, 0, 255).astype("uint8"))
        buf = io.BytesIO()
        img.save(buf, format="PNG")
        pool.append(buf.getvalue())
    return pool


def generate(workdir: Path, n_dialogues: int, seed: int = 0) -> dict:
    import csv

    from mirror_hf.data.sample import make_celeba_standin
    from mirror_hf.data.turn_images import turn_image_name

    rng = random.Random(seed)
    release, faces, celeba = workdir / "release", workdir / "turn_images", workdir / "celeba"
    for d in (release, faces):
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
    make_celeba_standin(celeba, n_images=2 * n_dialogues)
    pool = _png_pool(rng)
    slugs = ["emotional-resistance", "cognitive-resistance", "behavioral-resistance", "no-resistance"]
    rows, n_images, n_bytes = [], 0, 0
    for i in range(n_dialogues):
        idx = f"cactus-{i}-{slugs[i % 4]}"
        turns = screenplay(rng)
        image = f"{2 * i + 1:06d}.jpg"
        (faces / idx).mkdir()
        for t in range(1, len(turns), 2):
            data = pool[rng.randrange(POOL)]
            (faces / idx / turn_image_name(t, image)).write_bytes(data)
            n_images, n_bytes = n_images + 1, n_bytes + len(data)
        rows.append(
            {
                "idx": idx,
                "model": "gpt-4o-mini",
                **profile_texts(rng, i),
                "dialogue": "\n".join(f"{t['speaker']}: [{t['stage_direction']}] {t['statement']}" for t in turns),
                "proc_dialogue": repr(turns),
                "turn": len(turns) / 2,
                "resistance": f"{i} x",
                "img_path": f"/data/img_align_celeba/{image}",
                "identity": i + 1,
                "age": 30,
                "dominant_gender": "Woman",
            }
        )
    with (release / "mirror_data.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return {"dialogues": n_dialogues, "images": n_images, "image_bytes": n_bytes}


def _phase(args) -> None:
    """Run one measured step in this (fresh) process and print a JSON line."""
    workdir = Path(args.workdir)
    started = time.perf_counter()
    if args.phase.startswith("imagefolder"):
        from datasets import load_dataset

        cache = workdir / f"{args.phase}-cache"
        shutil.rmtree(cache, ignore_errors=True)
        ds = load_dataset("imagefolder", data_dir=str(workdir / "turn_images"), split="train", cache_dir=str(cache))
        rows = ds.num_rows
        if args.phase == "imagefolder-parquet":
            # What push_to_hub does locally before uploading: embed the image bytes, write parquet shards.
            import pyarrow.parquet as pq
            from datasets.table import embed_table_storage

            table = ds.data.table
            with pq.ParquetWriter(cache / "train.parquet", table.schema) as writer:
                for start in range(0, rows, 100):
                    writer.write_table(embed_table_storage(table.slice(start, 100)))
    else:
        from mirror_hf.data.export import build_dataset
        from mirror_hf.data.sources import BuildSources

        configs = ("dialogues",) if args.phase.startswith("dialogues") else None
        sources = BuildSources(
            release=str(workdir / "release"),
            celeba_dir=str(workdir / "celeba"),
            turn_images=str(workdir / "turn_images"),
        )
        kwargs = {"configs": configs} if configs else {}
        report = build_dataset(sources, workdir / f"out-{args.phase.split('-')[0]}", progress=False, **kwargs)
        rows = sum(c["rows"] for c in report["configs"].values())
    seconds = time.perf_counter() - started
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB -> GiB
    print(json.dumps({"phase": args.phase, "seconds": seconds, "rows": rows, "peak_rss_gb": rss}))


def _run(workdir: Path, phase: str) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--phase", phase, "--workdir", str(workdir)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the 3,073 dialogues")
    parser.add_argument("--workdir", default="/tmp/mirror-bench")
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    args = parser.parse_args()
    if args.phase:
        return _phase(args)
    workdir = Path(args.workdir)
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    t0 = time.perf_counter()
    made = generate(workdir, max(4, round(DIALOGUES * args.scale)))
    print(
        f"generated {made['dialogues']} dialogues, {made['images']} PNGs "
        f"({made['image_bytes'] / 1e9:.2f} GB) in {time.perf_counter() - t0:.0f}s"
    )
    results = {}
    for phase in ("imagefolder", "imagefolder-parquet", "dialogues", "dialogues-cached", "all", "all-cached"):
        results[phase] = r = _run(workdir, phase)
        print(
            f"build_dataset {phase:<17} {r['seconds']:8.1f} s  {r['rows'] / r['seconds']:9.1f} rows/s  "
            f"peak RSS {r['peak_rss_gb']:.2f} GB  ({r['rows']} rows)",
            flush=True,
        )
    ratio = results["dialogues"]["seconds"] / results["imagefolder-parquet"]["seconds"]
    ratio_paths = results["dialogues"]["seconds"] / results["imagefolder"]["seconds"]
    print(
        f"build_dataset summary: {made['dialogues']} dialogues / {made['images']} PNGs: dialogues cold build "
        f"{ratio:.2f}x imagefolder->parquet with the same bytes (target <= 1.5x), {ratio_paths:.2f}x a plain "
        f"imagefolder load (paths only); all configs {results['all']['seconds']:.1f}s; cached rebuild "
        f"{results['all-cached']['seconds']:.2f}s (target < 10s); peak RSS "
        f"{max(r['peak_rss_gb'] for r in results.values()):.2f} GB (target < 4 GB)"
    )
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
