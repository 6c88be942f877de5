"""The demo's crisis gate on our labelled set (tests/crisis_phrases.py): recall on the crisis phrasings (the tests
require 100 %), the false-positive rate on everyday idioms that borrow the same words, and the time per message.
Prints one line, then each idiom flagged.

    python benchmarks/crisis_gate.py
    python benchmarks/crisis_gate.py --model path/to/classifier --label crisis
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from crisis_phrases import CRISIS, IDIOMS  # noqa: E402  (the tests' labelled set)


def main() -> None:
    from mirror_hf.demo.safety import CrisisDetector

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="a text-classification model beside the rules")
    parser.add_argument("--label", help="its crisis label")
    args = parser.parse_args()
    detector = CrisisDetector(args.model, label=args.label)
    started = time.perf_counter()
    caught = [text for text, _ in CRISIS if detector.check(text)]
    flagged = [(text, detector.check(text)) for text in IDIOMS]
    flagged = [(text, hit) for text, hit in flagged if hit]
    seconds = time.perf_counter() - started
    print(
        f"crisis_gate: recall {len(caught)}/{len(CRISIS)} ({100 * len(caught) / len(CRISIS):.1f} %), false positives "
        f"{len(flagged)}/{len(IDIOMS)} idioms ({100 * len(flagged) / len(IDIOMS):.1f} %), "
        f"{1e6 * seconds / (len(CRISIS) + len(IDIOMS)):.0f} us/message" + (f", with {args.model}" if args.model else "")
    )
    for text, hit in flagged:
        print(f"  flagged: {text!r} ({hit.category}/{hit.rule})")


if __name__ == "__main__":
    main()
