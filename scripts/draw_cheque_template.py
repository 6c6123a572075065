"""Draw the blank reference image of the bundled CTS-2010 cheque template from its JSON.

The image is what people see in the template editor and the review screen; alignment does not use
it (the template aligns by its layout). Run again after moving a structure or field:
    python -m scripts.draw_cheque_template
"""

import json
from pathlib import Path

import cv2
import numpy as np

TEMPLATE = (
    Path(__file__).resolve().parent.parent
    / "recognition"
    / "forms_data"
    / "cheque-cts2010"
    / "cheque-cts2010.json"
)
INK = 60
FAINT = 170


def _label(
    image: np.ndarray, text: str, origin: tuple[int, int], scale: float = 1.2, shade: int = INK
) -> None:
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, shade, 2, cv2.LINE_AA)


def draw(template: dict) -> np.ndarray:
    """The blank cheque: the structures of its layout, its rules and printed labels."""
    width, height = template["size"]
    image = np.full((height, width), 250, np.uint8)
    structures = {entry["name"]: entry for entry in template["layout"]}
    fields = {entry["name"]: entry for entry in template["fields"]}
    x, y, box_width, box_height = structures["date"]["box"]
    cv2.rectangle(image, (x, y), (x + box_width, y + box_height), INK, 3)
    for cell in range(1, 8):
        wall = x + round(cell * box_width / 8)
        cv2.line(image, (wall, y), (wall, y + box_height), INK, 3)
    for cell, letter in enumerate("DDMMYYYY"):
        _label(image, letter, (x + round((cell + 0.3) * box_width / 8), y + box_height + 40), 1.0)
    x, y, box_width, box_height = structures["amount"]["box"]
    cv2.rectangle(image, (x, y), (x + box_width, y + box_height), INK, 3)
    divider = x + round(0.21 * box_width)
    cv2.line(image, (divider, y), (divider, y + box_height), INK, 3)
    _label(image, "Rs", (x + 25, y + 65), 1.6)
    payee = fields["payee"]["box"]
    _label(image, "Pay", (70, payee[1] + 95))
    cv2.line(
        image, (payee[0], payee[1] + payee[3] - 20), (payee[0] + payee[2], payee[1] + payee[3] - 20), FAINT, 2
    )
    _label(image, "or Bearer", (payee[0] + payee[2] + 60, payee[1] + 95))
    first, second = fields["amount_words"]["lines"]
    _label(image, "Rupees", (70, first[1] + 75))
    for line in (first, second):
        cv2.line(
            image, (line[0], line[1] + line[3] - 8), (line[0] + line[2], line[1] + line[3] - 8), FAINT, 2
        )
    _label(image, "A/c. No.", (110, 590))
    cv2.rectangle(image, (90, 530), (1050, 630), FAINT, 2)
    _label(image, "Please sign above", (1880, 880), 1.0)
    micr = fields["micr"]["box"]
    cv2.rectangle(image, (micr[0], micr[1]), (micr[0] + micr[2], micr[1] + micr[3]), FAINT, 1)
    _label(image, "MICR line (E-13B)", (micr[0] + 20, micr[1] + 90), 1.2, FAINT)
    _label(image, "CTS-2010 cheque layout (drawn reference)", (60, 80), 1.2, FAINT)
    return image


def main() -> None:
    template = json.loads(TEMPLATE.read_text(encoding="utf-8"))
    path = TEMPLATE.parent / template["image"]
    cv2.imwrite(str(path), draw(template), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
