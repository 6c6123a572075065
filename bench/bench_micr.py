"""Benchmark the E-13B MICR reader on the real cheque scans of cheques-dev.

Usage:
    python bench/bench_micr.py [--data-root ../shared/data] [--band-share 0.18]

Crops a fixed share of the height off the bottom of each scan (no alignment: the reader has to find
the line in it), reads it, and checks the cheque number (between the first two On-Us symbols) against
the digits of the file name (c083654.jpeg holds cheque 083654). Prints each reading, then the cheque
numbers read exactly, their digits read right, the confidence of the wrong ones and the time per line.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from pathlib import Path

import cv2

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from recognition.engine.cheques.micr import ON_US, MicrReading, glyph_templates, read_micr  # noqa: E402


def cheque_number_of(reading: MicrReading) -> tuple[str, float]:
    """The six characters after the first On-Us symbol and the least confidence among them."""
    start = reading.text.find(ON_US) + 1
    chars = [char for char in reading.chars[start:] if char.text != " "][:6]
    if not chars:
        return "", 0.0
    return "".join(char.text for char in chars), min(char.confidence for char in chars)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=REPO_ROOT.parent / "shared" / "data")
    parser.add_argument(
        "--band-share", type=float, default=0.18, help="share of the height read, from the bottom"
    )
    arguments = parser.parse_args()
    paths = sorted((arguments.data_root / "cheques-dev" / "images").glob("*.jpeg"))
    if not paths:
        raise SystemExit(f"no cheque scans under {arguments.data_root / 'cheques-dev' / 'images'}")
    glyph_templates()  # drawn once per process; not part of a line's cost
    exact, digits_right, digits_total, wrong_confidences, timings = 0, 0, 0, [], []
    for path in paths:
        label = re.sub(r"\D", "", path.stem)
        gray = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        band = gray[int(round(gray.shape[0] * (1 - arguments.band_share))) :]
        started = time.perf_counter()
        reading = read_micr(band)
        timings.append((time.perf_counter() - started) * 1000)
        number, number_confidence = cheque_number_of(reading)
        matches = number == label
        exact += matches
        digits_right += sum(read == expected for read, expected in zip(number, label, strict=False))
        digits_total += len(label)
        if not matches:
            wrong_confidences.append(number_confidence)
        verdict = "ok   " if matches else f"WRONG ({number!r})"
        confidences = f"conf {reading.confidence:.3f} number conf {number_confidence:.3f}"
        print(f"{path.name:14} {verdict} {confidences}  {reading.text}")
    print(f"\ncheque numbers exact: {exact}/{len(paths)}")
    print(f"cheque-number digits right: {digits_right}/{digits_total}")
    if wrong_confidences:
        worst, mean = max(wrong_confidences), statistics.mean(wrong_confidences)
        print(f"confidence of the wrong ones: max {worst:.3f}, mean {mean:.3f}")
    else:
        print("confidence of the wrong ones: none wrong")
    median, mean = statistics.median(timings), statistics.mean(timings)
    print(f"ms per line: median {median:.1f}, mean {mean:.1f}, max {max(timings):.1f}")


if __name__ == "__main__":
    main()
