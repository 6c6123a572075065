"""Benchmark real cheques end to end: layout alignment, date, amount, payee, amount in words, MICR.

Usage:
    python bench/bench_cheques.py [--template cheque-cts2010] [--data ../shared/data/cheques-dev]
                                  [--model-dir models] [--version N] [--bank NAME] [--show]

Reads every labelled cheque with the template (a bundled name or a JSON path), as
`recognize_form --template cheque-cts2010` does, and prints per bank and in all: cheques aligned,
date exact, amount exact (compared on its digits, as the labels), payee and amount-in-words character
accuracy (1 - CER; case-insensitive, runs of spaces as one: the labels are capitals, the writing is
mixed case), the share of dates and amounts at confidence >= 0.98 and the error among them, the
cross-check's verdicts, MICR cheque numbers exact (the number is the file name's digits) and seconds a
cheque. Each cheque is presented a month after the date written on it (its validity window holds), so
the date's confidence is only capped when the reading falls outside that window.

Leave one bank out: the bundled template was drawn from one Syndicate Bank cheque (c083654), so its
Canara Bank figures are on a bank it never saw; bench/templates/cheque-cts2010-canara.json was drawn
from one Canara cheque (c120611) the same way, for the other direction.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from recognition.engine.pages.align import AlignmentError  # noqa: E402
from recognition.engine.pages.load import load_page  # noqa: E402
from recognition.engine.pages.templates import resolve_template  # noqa: E402
from recognition.engine.sequences.evaluation import AUTO_ACCEPT, Scored, summarise  # noqa: E402

PRESENTED_AFTER = datetime.timedelta(days=30)


def folded(text: str) -> str:
    return " ".join(text.upper().split())


def written_date(text: str) -> datetime.date | None:
    try:
        return datetime.date(int(text[4:]), int(text[2:4]), int(text[:2]))
    except ValueError:
        return None


def read_cheques(args) -> list[dict]:
    """Each labelled cheque read: its label row, the result (or None when not aligned), seconds."""
    from recognition.engine.fields.reader import FormReader

    template = resolve_template(args.template)
    versions = {"sequence": args.version} if args.version else None
    rows = list(csv.DictReader((args.data / "labels.tsv").open(encoding="utf-8"), delimiter="\t"))
    if args.bank:
        rows = [row for row in rows if args.bank.upper() in row["bank"].upper()]
    reader = FormReader(args.model_dir, versions)
    readings = []
    for row in rows:
        dated = written_date(row["date"])
        reader.today = dated + PRESENTED_AFTER if dated else None
        page = load_page(args.data / "images" / row["file"])
        started = time.perf_counter()
        try:
            result = reader.read_page(template, page).result
        except AlignmentError as error:
            print(f"{row['file']}: not aligned: {error}")
            result = None
        readings.append({"row": row, "result": result, "seconds": time.perf_counter() - started})
    return readings


def scored_fields(readings: list[dict]) -> dict[str, list[Scored]]:
    """Per field, the labelled readings of the aligned cheques (a cheque not aligned scores nothing)."""
    truths = {
        "date": ("date", lambda row: row["date"], lambda text: text),
        "amount": ("amount", lambda row: row["amount_digits"], lambda text: text),
        "payee": ("text", lambda row: folded(row["payee"]), folded),
        "amount_words": ("text", lambda row: folded(row["amount_words"]), folded),
    }
    scored: dict[str, list[Scored]] = {name: [] for name in truths}
    for reading in readings:
        if reading["result"] is None:
            continue
        fields = {field["name"]: field for field in reading["result"]["fields"]}
        for name, (kind, truth, shown) in truths.items():
            field = fields[name]
            scored[name].append(
                Scored(
                    reading["row"]["file"],
                    kind,
                    truth(reading["row"]),
                    shown(field["text"]),
                    float(field["confidence"]),
                    float(field["confidence"]),
                )
            )
    return scored


def micr_numbers(readings: list[dict]) -> tuple[int, int]:
    from recognition.engine.cheques.micr import parse_micr

    right = total = 0
    for reading in readings:
        if reading["result"] is None:
            continue
        micr = next(field for field in reading["result"]["fields"] if field["name"] == "micr")
        total += 1
        right += parse_micr(micr["text"]).get("cheque_number") == reading["row"]["file"][1:7]
    return right, total


def report(title: str, readings: list[dict]) -> None:
    aligned = [reading for reading in readings if reading["result"] is not None]
    print(f"\n{title}: {len(aligned)}/{len(readings)} cheques aligned")
    scored = scored_fields(readings)
    for name, items in scored.items():
        figures = summarise(items)
        print(
            f"  {name:<13} exact {figures['exact']:7.2%}  char acc {figures['character_accuracy']:7.2%}  "
            f"conf>={AUTO_ACCEPT}: {figures['auto_accepted_fields']:>2} fields, "
            f"{figures['wrong_among_accepted']} wrong"
        )
    verdicts: dict[str, int] = {}
    for reading in aligned:
        amount = next(field for field in reading["result"]["fields"] if field["name"] == "amount")
        verdict = amount.get("cross_check", {}).get("verdict", "none")
        verdicts[verdict] = verdicts.get(verdict, 0) + 1
    right, total = micr_numbers(readings)
    seconds = sum(reading["seconds"] for reading in readings) / max(len(readings), 1)
    print(f"  cross-check   {verdicts}")
    print(f"  MICR cheque numbers exact {right}/{total};  {seconds:.2f} s a cheque")


def show(readings: list[dict]) -> None:
    for reading in readings:
        row, result = reading["row"], reading["result"]
        print(f"\n{row['file']} ({row['bank']})")
        if result is None:
            continue
        for field in result["fields"]:
            extra = field.get("cross_check", {}).get("reason", "")
            print(f"  {field['name']:<13} {field['text']!r:<45} {field['confidence']:.3f} {extra}")
        print(f"  truth         {row['date']} {row['amount_raw']} | {row['payee']} | {row['amount_words']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--template", default="cheque-cts2010")
    parser.add_argument("--data", type=Path, default=REPO_ROOT.parent / "shared" / "data" / "cheques-dev")
    parser.add_argument("--model-dir", type=Path, default=REPO_ROOT / "models")
    parser.add_argument("--version", help="sequence reader version (default: the active one)")
    parser.add_argument("--bank", help="only the cheques of this bank (e.g. CANARA)")
    parser.add_argument("--show", action="store_true", help="print every cheque's reading")
    args = parser.parse_args()
    readings = read_cheques(args)
    if args.show:
        show(readings)
    banks = sorted({reading["row"]["bank"] for reading in readings})
    for bank in banks:
        report(bank, [reading for reading in readings if reading["row"]["bank"] == bank])
    if len(banks) > 1:
        report("all banks", readings)


if __name__ == "__main__":
    main()
