"""Dialogue-filter throughput at the paper's scale (41,223 generated dialogues before filtering, ~10.3 exchanges
each), through `filter_dialogues` as the CLI runs it (journal appends and the report included):

  - the rule filters without a model (basic, copy_paste), over all the dialogues;
  - part-of-speech repetition over a sample with spaCy (our option): `--pos-model` (e.g. en_core_web_sm), or by
    default a blank English tagger initialised here, whose default model is the same CNN size as en_core_web_sm's
    (width 96, depth 4): its speed, not its tags, is what is measured;
  - the same with NLTK's tagger (the default, the authors'), when `--nltk-data` names an nltk_data folder holding
    punkt_tab and averaged_perceptron_tagger_eng (`python -m nltk.downloader -d DIR punkt_tab
    averaged_perceptron_tagger_eng`);
  - Canary over a sample, when `--canary` names a converted model (`mirror-hf synthesize convert-canary`).

WAI judging is an LLM call per dialogue and item: see benchmarks/judge_throughput.py. Each measure prints one line:
dialogues, seconds, dialogues/s, and the hours the paper's 41,223 dialogues would take at that rate.

    python benchmarks/filter_throughput.py
    python benchmarks/filter_throughput.py --pos-model en_core_web_sm --nltk-data ~/nltk_data --canary models/canary-hf
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_dataset import profile_texts, screenplay  # noqa: E402  (the benchmarks folder is on sys.path when run)

PAPER_DIALOGUES = 41223


def dialogues(n: int, seed: int = 0) -> list[dict]:
    """Rows of the ``dialogues`` config (text only) at MIRROR's lengths."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        turns = [{**turn, "speaker": turn["speaker"].lower()} for turn in screenplay(rng)]
        rows.append({"idx": f"cactus-{i}-no-resistance", **profile_texts(rng, i), "turns": turns})
    return rows


def blank_tagger(folder: Path) -> Path:
    """spaCy's blank English with its default tagger, initialised on two sentences (speed only, not accuracy)."""
    import spacy
    from spacy.training import Example

    nlp = spacy.blank("en")
    nlp.add_pipe("tagger")
    examples = [
        Example.from_dict(nlp.make_doc("I feel tired today ."), {"tags": ["PRP", "VBP", "JJ", "NN", "."]}),
        Example.from_dict(nlp.make_doc("Maybe work is hard ."), {"tags": ["RB", "NN", "VBZ", "JJ", "."]}),
    ]
    nlp.initialize(lambda: examples)
    nlp.to_disk(folder)
    return folder


def measure(label: str, rows: list[dict], out: Path, **options) -> None:
    from mirror_hf.synthesis.filters import filter_dialogues

    start = time.perf_counter()
    filter_dialogues(rows, out, progress=False, **options)
    seconds = time.perf_counter() - start
    rate = len(rows) / seconds
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(
        f"{label:<28} {len(rows):>6} dialogues  {seconds:8.2f} s  {rate:9.1f} dialogues/s  "
        f"paper scale {PAPER_DIALOGUES / rate / 3600:6.2f} h  peak RSS {rss:.2f} GB",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dialogues", type=int, default=PAPER_DIALOGUES, help="for the rule filters")
    parser.add_argument("--sample", type=int, default=2000, help="dialogues for POS and Canary (default 2000)")
    parser.add_argument("--pos-model", help="a spaCy model or folder (default: a blank tagger of the same size)")
    parser.add_argument("--nltk-data", help="an nltk_data folder; NLTK's tagger measured when given")
    parser.add_argument("--canary", help="a converted Canary folder; measured when given")
    parser.add_argument("--device", help="where Canary runs (default: cuda when there is one)")
    args = parser.parse_args()

    from mirror_hf.synthesis.pos import NltkTagger, SpacyTagger

    rows = dialogues(args.dialogues)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        measure("basic + copy_paste", rows, tmp / "rules", filters=("basic", "copy_paste"))
        model = args.pos_model or str(blank_tagger(tmp / "tagger"))
        tagger = SpacyTagger(model)
        label = f"pos_repetition (spaCy{'' if not args.pos_model else ' ' + args.pos_model})"
        measure(label, rows[: args.sample], tmp / "pos", filters=("pos_repetition",), tagger=tagger)
        if args.nltk_data:
            tagger = NltkTagger(args.nltk_data)
            measure(
                "pos_repetition (NLTK)", rows[: args.sample], tmp / "nltk", filters=("pos_repetition",), tagger=tagger
            )
        if args.canary:
            from mirror_hf.synthesis.canary import Canary

            canary = Canary(args.canary, device=args.device)
            measure(
                f"canary ({canary.device})", rows[: args.sample], tmp / "canary", filters=("canary",), canary=canary
            )


if __name__ == "__main__":
    main()
