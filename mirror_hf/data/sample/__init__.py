"""The embedded sample: release files written by us, and a drawn stand-in for CelebA and for the turn faces.

``mirror_data.csv`` / ``mirror_data.json`` / ``mirror_test.csv`` beside this file follow the authors' code-produced
format (Python-literal ``proc_dialogue``, float ``turn``, the buggy ``resistance`` column, ``img_path`` and
``identity``) with dialogues we wrote. The faces are drawn by code (ellipses and strokes, no real person) in
CelebA's exact file layout, so ``mirror-hf build --sample`` runs the whole path offline.

Example:
    >>> from mirror_hf.data.sample import prepare_sample
    >>> sources = prepare_sample("/tmp/mirror-sample")        # doctest: +SKIP
    >>> sources.celeba_dir                                     # doctest: +SKIP
    '/tmp/mirror-sample/celeba'
"""

from __future__ import annotations

import hashlib
import math
from importlib import resources
from pathlib import Path

from PIL import Image, ImageDraw

from mirror_hf.data.turn_images import turn_image_name

# CelebA's 40 attribute names, in its file order.
CELEBA_ATTRIBUTES = [
    "5_o_Clock_Shadow",
    "Arched_Eyebrows",
    "Attractive",
    "Bags_Under_Eyes",
    "Bald",
    "Bangs",
    "Big_Lips",
    "Big_Nose",
    "Black_Hair",
    "Blond_Hair",
    "Blurry",
    "Brown_Hair",
    "Bushy_Eyebrows",
    "Chubby",
    "Double_Chin",
    "Eyeglasses",
    "Goatee",
    "Gray_Hair",
    "Heavy_Makeup",
    "High_Cheekbones",
    "Male",
    "Mouth_Slightly_Open",
    "Mustache",
    "Narrow_Eyes",
    "No_Beard",
    "Oval_Face",
    "Pale_Skin",
    "Pointy_Nose",
    "Receding_Hairline",
    "Rosy_Cheeks",
    "Sideburns",
    "Smiling",
    "Straight_Hair",
    "Wavy_Hair",
    "Wearing_Earrings",
    "Wearing_Hat",
    "Wearing_Lipstick",
    "Wearing_Necklace",
    "Wearing_Necktie",
    "Young",
]
SAMPLE_IMAGES = 16  # two images per identity: 000001.jpg, 000002.jpg -> identity 1, ...
MEN = {1, 3, 6, 7}  # identities drawn (and labelled) as men
CELEBA_SIZE = (178, 218)
TURN_SIZE = (336, 336)

_SMILE = ("smil", "bright", "relax", "warm", "welcom", "nod", "lighter")
_FROWN = ("frown", "sad", "sigh", "tight", "skeptic", "doubt", "defens", "guarded", "cross", "glisten")
_AWAY = ("away", "down", "avoid", "phone", "up", "fidget")


def release_dir() -> Path:
    """The folder of the sample's release files (inside the installed package)."""
    return Path(str(resources.files(__name__)))


def identity_of(image_number: int) -> int:
    return (image_number - 1) // 2 + 1


def _rng_values(seed: str, n: int) -> list[float]:
    digest = hashlib.sha256(seed.encode()).digest()
    return [digest[i] / 255 for i in range(n)]


def draw_face(
    identity: int, size: tuple[int, int], mood: float = 0.0, gaze: float = 0.0, variant: int = 0
) -> Image.Image:
    """A cartoon face: ``mood`` in [-1, 1] bends the mouth and brows, ``gaze`` in [-1, 1] moves the pupils."""
    skin, hair, width, bg, eye = _rng_values(f"identity-{identity}", 5)
    w, h = size
    img = Image.new("RGB", size, tuple(int(c) for c in (180 + 60 * bg, 200 + 40 * bg, 215 + 30 * variant % 40)))
    d = ImageDraw.Draw(img)
    cx, cy = w / 2, h * 0.52
    fw, fh = w * (0.30 + 0.08 * width), h * 0.34
    skin_rgb = (int(150 + 90 * skin), int(110 + 80 * skin), int(80 + 70 * skin))
    hair_rgb = (int(20 + 120 * hair), int(15 + 80 * hair), int(10 + 40 * hair))
    d.ellipse([cx - fw * 1.08, cy - fh * 1.15, cx + fw * 1.08, cy + fh * 0.6], fill=hair_rgb)
    if identity not in MEN:  # longer hair
        d.rectangle([cx - fw * 1.08, cy - fh * 0.2, cx + fw * 1.08, cy + fh * 1.0], fill=hair_rgb)
    d.ellipse([cx - fw, cy - fh, cx + fw, cy + fh], fill=skin_rgb)
    eye_dx, eye_y, eye_r = fw * 0.42, cy - fh * 0.18, fw * (0.13 + 0.04 * eye)
    for sx in (-1, 1):
        ex = cx + sx * eye_dx
        d.ellipse([ex - eye_r, eye_y - eye_r * 0.7, ex + eye_r, eye_y + eye_r * 0.7], fill="white")
        pr = eye_r * 0.45
        px, py = ex + gaze * eye_r * 0.5, eye_y + abs(gaze) * eye_r * 0.2
        d.ellipse([px - pr, py - pr, px + pr, py + pr], fill=(40, 30, 30))
        tilt = -mood * eye_r * 0.5 * sx
        d.line(
            [ex - eye_r, eye_y - eye_r * 1.4 + tilt, ex + eye_r, eye_y - eye_r * 1.4 - tilt],
            fill=hair_rgb,
            width=max(2, w // 80),
        )
    mouth_y, mouth_w = cy + fh * 0.45, fw * 0.45
    points = []
    for i in range(21):
        x = -1 + i / 10
        points.append((cx + x * mouth_w, mouth_y - mood * fh * 0.12 * (x * x - 1)))
    d.line(points, fill=(140, 50, 60), width=max(2, w // 60))
    d.line([(cx, cy), (cx - fw * 0.08, cy + fh * 0.22), (cx + fw * 0.04, cy + fh * 0.24)], fill=(120, 80, 60), width=2)
    return img


def expression_of(stage_direction: str | None) -> tuple[float, float]:
    """(mood, gaze) read from a stage direction's words."""
    text = (stage_direction or "").lower()
    mood = 0.8 if any(w in text for w in _SMILE) else -0.8 if any(w in text for w in _FROWN) else 0.0
    gaze = 0.9 if any(w in text for w in _AWAY) else 0.0
    return mood, gaze


def make_celeba_standin(root: str | Path, n_images: int = SAMPLE_IMAGES) -> Path:
    """Write ``img_align_celeba/``, ``identity_CelebA.txt``, ``list_attr_celeba.txt``, ``list_eval_partition.txt``."""
    root = Path(root)
    images = root / "img_align_celeba"
    images.mkdir(parents=True, exist_ok=True)
    identity_lines, attr_lines, partition_lines = [], [], []
    for number in range(1, n_images + 1):
        name, identity = f"{number:06d}.jpg", identity_of(number)
        mood = 0.6 if number % 2 else 0.0
        draw_face(identity, CELEBA_SIZE, mood=mood, variant=number).save(images / name, quality=90)
        identity_lines.append(f"{name} {identity}")
        values = {a: -1 for a in CELEBA_ATTRIBUTES}
        values.update(Male=1 if identity in MEN else -1, Smiling=1 if mood > 0 else -1, Young=1, No_Beard=1)
        attr_lines.append(name + "".join(f" {values[a]:>2}" for a in CELEBA_ATTRIBUTES))
        partition_lines.append(f"{name} {0 if number <= n_images * 0.8 else 2}")
    (root / "identity_CelebA.txt").write_text("\n".join(identity_lines) + "\n")
    (root / "list_attr_celeba.txt").write_text(
        f"{n_images}\n" + " ".join(CELEBA_ATTRIBUTES) + " \n" + "\n".join(attr_lines) + "\n"
    )
    (root / "list_eval_partition.txt").write_text("\n".join(partition_lines) + "\n")
    return root


def make_turn_faces(root: str | Path, dialogues) -> Path:
    """One drawn face per client turn, in the authors' layout ``{idx}/turn:{t}_{stem}.png`` (336x336)."""
    root = Path(root)
    for dialogue in dialogues:
        folder = root / dialogue.idx
        folder.mkdir(parents=True, exist_ok=True)
        identity = dialogue.celeba_identity or 1
        for t, turn in enumerate(dialogue.turns):
            if turn.speaker != "client":
                continue
            mood, gaze = expression_of(turn.stage_direction)
            face = draw_face(identity, TURN_SIZE, mood=mood, gaze=gaze * math.copysign(1, (t % 4) - 1.5), variant=t)
            face.save(folder / turn_image_name(t, dialogue.celeba_image))
    return root


def prepare_sample(cache_dir: str | Path):
    """Write the stand-ins under ``cache_dir`` (once) and return the build sources of the sample."""
    from mirror_hf.data.release import read_dialogues
    from mirror_hf.data.sources import BuildSources

    cache_dir = Path(cache_dir).expanduser()
    celeba, faces = cache_dir / "celeba", cache_dir / "turn_images"
    done = cache_dir / ".complete"
    if not done.exists():
        make_celeba_standin(celeba)

        def fail(err):
            raise err

        make_turn_faces(faces, [d for d, _ in read_dialogues(release_dir() / "mirror_data.csv", fail)])
        done.write_text("1")
    return BuildSources(release=str(release_dir()), celeba_dir=str(celeba), turn_images=str(faces))
