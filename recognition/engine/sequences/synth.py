"""Synthetic fields composed from real isolated characters and handwriting fonts, with real crops' clutter.

A field is written by one "writer" (MNIST digits, one femnist-dev writer, or one handwriting font) with
its own size, spacing, slant and baseline drift, then dressed with what real crops carry and the
label never mentions: printed field labels, box borders, underlines, dotted lines, textured paper.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from recognition.engine.characters.datasets import BYCLASS_CLASSES, CharacterSet

HANDWRITING_FONT_PATTERNS = (
    "opentype/bwht/*.otf",
    "opentype/comic-neue/*.otf",
    "opentype/dancingscript/*.otf",
    "opentype/kaushanscript/*.otf",
    "truetype/humor-sans/*.ttf",
    "truetype/breip/*.ttf",
    "truetype/fifthhorseman/*.ttf",
    "truetype/femkeklaver/*.ttf",
    "truetype/kristi/*.ttf",
)
PRINT_FONT_PATTERNS = ("truetype/dejavu/DejaVuSans*.ttf", "truetype/liberation/LiberationSans-*.ttf")
PRINTED_LABELS = (
    "NOM", "NOM:", "PRENOM", "PRENOM :", "Nom", "Name:", "Pay", "PAY", "Rupees", "$", "₹", "Rs.",
    "Date", "DATE DE NAISSANCE", "CLASSE", "Amount", "Signature", "Street", "Ort",
)  # fmt: skip
# Height of a character relative to the capital height, and how far below the baseline it reaches.
X_HEIGHT = set("acemnorsuvwxzäöü")
DESCENDERS = set("gjpqy")
SMALL_MARKS = {".": 0.16, ",": 0.28, "'": 0.3, "-": 0.08, "=": 0.3, ":": 0.5}


def find_fonts(patterns: tuple[str, ...], root: str | Path = "/usr/share/fonts") -> list[Path]:
    """Installed font files matching the patterns (empty when none are installed)."""
    return sorted({path for pattern in patterns for path in Path(root).glob(pattern)})


def _crop(image: np.ndarray) -> np.ndarray:
    rows, columns = np.flatnonzero(image.max(axis=1) > 40), np.flatnonzero(image.max(axis=0) > 40)
    if rows.size == 0:
        return image
    return image[rows[0] : rows[-1] + 1, columns[0] : columns[-1] + 1]


@lru_cache(maxsize=4096)
def _font_glyph(font_path: str, character: str, size: int) -> np.ndarray:
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(font_path, size)
    canvas = Image.new("L", (size * 3, size * 3), 0)
    ImageDraw.Draw(canvas).text((size // 2, size // 2), character, fill=255, font=font)
    return _crop(np.asarray(canvas))


@dataclass
class GlyphSource:
    """Isolated real characters by class name (white ink on black, cropped), with writer ids."""

    by_character: dict[str, list[np.ndarray]] = field(default_factory=dict)
    by_writer: dict[str, dict[str, list[np.ndarray]]] = field(default_factory=dict)
    mnist_digits: dict[str, list[np.ndarray]] = field(default_factory=dict)

    @classmethod
    def from_sets(cls, mnist: CharacterSet | None, femnist: CharacterSet | None) -> GlyphSource:
        source = cls()
        if mnist is not None:
            for image, label in zip(mnist.images, mnist.labels, strict=True):
                source.mnist_digits.setdefault(mnist.classes[label], []).append(_crop(image))
        if femnist is not None:
            for image, label, writer in zip(femnist.images, femnist.labels, femnist.writers, strict=True):
                character = BYCLASS_CLASSES[label]
                glyph = _crop(image)
                source.by_character.setdefault(character, []).append(glyph)
                source.by_writer.setdefault(str(writer), {}).setdefault(character, []).append(glyph)
        return source


class FieldSynthesizer:
    """Makes (grayscale crop, label) pairs: dark ink on light paper, as a scanner would give them."""

    def __init__(self, glyphs: GlyphSource, *, seed: int = 0, vocabulary: dict[str, list[str]] | None = None):
        self.glyphs = glyphs
        self.random = np.random.default_rng(seed)
        self.hand_fonts = [str(path) for path in find_fonts(HANDWRITING_FONT_PATTERNS)]
        self.print_fonts = [str(path) for path in find_fonts(PRINT_FONT_PATTERNS)]
        if not self.print_fonts:
            raise ValueError("no print font found: install fonts-dejavu-core")
        self.vocabulary = vocabulary or {}
        self.writers = sorted(glyphs.by_writer)

    # -- texts ---------------------------------------------------------------------------------------
    def _number(self) -> str:
        digits = str(int(10 ** self.random.uniform(0, 7.5)))
        style = self.random.choice(["plain", "western", "indian", "dotted"], p=[0.35, 0.25, 0.2, 0.2])
        if style == "western" and len(digits) > 3:
            digits = f"{int(digits):,}"
        elif style == "dotted" and len(digits) > 3:
            digits = f"{int(digits):,}".replace(",", ".")
        elif style == "indian" and len(digits) > 3:
            head, tail = digits[:-3], digits[-3:]
            groups = []
            while len(head) > 2:
                groups.insert(0, head[-2:])
                head = head[:-2]
            digits = ",".join([head, *groups, tail]) if head else ",".join([*groups, tail])
        if self.random.random() < 0.2:
            digits += self.random.choice([".", ","]) + f"{self.random.integers(0, 100):02d}"
        if self.random.random() < 0.25:
            digits += self.random.choice(["/-", "/=", "=", "-"])
        return digits

    def _date(self) -> str:
        day, month, year = (
            self.random.integers(1, 29),
            self.random.integers(1, 13),
            self.random.integers(1990, 2031),
        )
        separator = self.random.choice(["", "/", ".", "-"], p=[0.4, 0.3, 0.2, 0.1])
        year_text = str(year) if self.random.random() < 0.8 else str(year)[2:]
        return f"{day:02d}{separator}{month:02d}{separator}{year_text}"

    def _name(self) -> str:
        names = self.vocabulary.get("names") or ["MARTIN", "DUPONT", "LEA", "JEAN-PAUL", "O'NEIL"]
        words = [str(self.random.choice(names)) for _ in range(self.random.choice([1, 1, 1, 2, 3]))]
        if self.random.random() < 0.3:
            words = [
                "".join(self.random.choice(list("ABCDEFGHIJKLMNOPRSTUVEAIO"), self.random.integers(3, 10)))
            ]
        if self.random.random() < 0.1 and len(words) > 1:
            words[0] = words[0][0] + "."
        # Payees on cheques are mostly written in mixed case ("Pradeep Kumar"), names on forms in capitals.
        if self.random.random() < 0.35:
            words = [word.title() if self.random.random() < 0.85 else word.lower() for word in words]
        return " ".join(words)

    def _words(self) -> str:
        words = self.vocabulary.get("words") or ["Hauptstraße", "Köln", "Pay", "Rupees"]
        text = str(self.random.choice(words))
        if self.random.random() < 0.15:
            text = text.upper()
        if self.random.random() < 0.15:
            text += " " + str(self.random.integers(1, 200))
        return text

    def _number_words(self) -> str:
        """An amount in words as Indian cheque writers write it: "Twenty One lacs five thousand only"."""
        from recognition.engine.cheques.words import amount_to_words

        rupees = int(10 ** self.random.uniform(2, 8.3))
        if self.random.random() < 0.7:
            rupees = max(1000, rupees // 1000 * 1000)
        words = amount_to_words(rupees).split()
        spellings = {
            "Lakh": ["Lakh", "Lakhs", "Lacs", "Lacks", "Lac", "Lakh"],
            "Crore": ["Crore", "Crores"],
            "Thousand": ["Thousand", "Thousand", "Thousands"],
            "Forty": ["Forty", "Fourty"],
        }
        words = [str(self.random.choice(spellings[word])) if word in spellings else word for word in words]
        if self.random.random() < 0.2:
            words.insert(0, "Rupees")
        if self.random.random() < 0.3:
            words.append(str(self.random.choice(["only", "Only"])))
        case = self.random.choice(["title", "lower", "first", "upper"], p=[0.45, 0.25, 0.2, 0.1])
        if case == "lower":
            words = [word.lower() for word in words]
        elif case == "first":
            words = [words[0]] + [word.lower() for word in words[1:]]
        elif case == "upper":
            words = [word.upper() for word in words]
        return " ".join(words)

    def _code(self) -> str:
        alphabet = (
            list("0123456789") if self.random.random() < 0.6 else list("0123456789ABCDEFGHJKLMNPRSTUVWXYZ")
        )
        return "".join(self.random.choice(alphabet, self.random.integers(2, 12)))

    def text(self, family: str) -> str:
        return {"amount": self._number, "date": self._date, "name": self._name, "words": self._words,
                "code": self._code, "numberwords": self._number_words}[family]()  # fmt: skip

    # -- writing -------------------------------------------------------------------------------------
    def _glyph(self, character: str, style: dict, cap_height: int) -> np.ndarray:
        """One character's ink (uint8, white on black) at about the right size for cap_height."""
        if character in SMALL_MARKS or character in "/()&+#₹$":
            return self._mark(character, style, cap_height)
        pool = None
        if style["kind"] == "mnist" and character.isdigit():
            pool = self.glyphs.mnist_digits.get(character)
        elif style["kind"] == "femnist":
            pool = self.glyphs.by_writer.get(style["writer"], {}).get(character)
            if not pool and self.random.random() < 0.8:
                pool = self.glyphs.by_character.get(character)
        if pool and character not in "ÄÖÜäöüß":
            glyph = pool[int(self.random.integers(len(pool)))]
        elif character in "ÄÖÜäöü" and (
            base := self.glyphs.by_character.get("AOUaou"["ÄÖÜäöü".index(character)])
        ):
            glyph = self._umlaut(base[int(self.random.integers(len(base)))])
        else:
            font = style.get("font") or str(self.random.choice(self.hand_fonts or self.print_fonts))
            glyph = _font_glyph(font, character, 48)
        target = cap_height * (0.62 if character in X_HEIGHT else 1.0) * self.random.uniform(0.88, 1.12)
        scale = target / max(glyph.shape[0], 1)
        width = max(
            1, int(round(glyph.shape[1] * scale * style["width_factor"] * self.random.uniform(0.9, 1.1)))
        )
        return cv2.resize(glyph, (width, max(1, int(round(target)))), interpolation=cv2.INTER_AREA)

    def _umlaut(self, base: np.ndarray) -> np.ndarray:
        height, width = base.shape
        canvas = np.zeros((height + height // 3, width), dtype=np.uint8)
        canvas[height // 3 :] = base
        radius = max(1, height // 14)
        for x in (width // 3, 2 * width // 3):
            cv2.circle(canvas, (x, height // 6), radius, 255, -1)
        return canvas

    def _mark(self, character: str, style: dict, cap_height: int) -> np.ndarray:
        """Punctuation drawn as pen strokes in the writer's stroke width."""
        thickness = max(1, int(round(cap_height * style["stroke"])))
        if character in "₹$&#+()":
            font = style.get("font") or str(self.random.choice(self.print_fonts))
            glyph = _font_glyph(font, character, 48)
            size = cap_height / max(glyph.shape[0], 1)
            return cv2.resize(glyph, (max(1, int(glyph.shape[1] * size)), max(1, int(cap_height))))
        unit = cap_height
        if character == "/":
            canvas = np.zeros((unit, max(3, unit // 2)), dtype=np.uint8)
            cv2.line(canvas, (canvas.shape[1] - 2, 1), (1, unit - 2), 255, thickness)
        elif character == "-":
            canvas = np.zeros(
                (thickness + 2, max(4, int(unit * self.random.uniform(0.3, 0.7)))), dtype=np.uint8
            )
            cv2.line(
                canvas, (0, 1), (canvas.shape[1] - 1, 1 + int(self.random.integers(0, 2))), 255, thickness
            )
        elif character == "=":
            canvas = np.zeros((int(unit * 0.35) + thickness, max(4, int(unit * 0.5))), dtype=np.uint8)
            cv2.line(canvas, (0, 1), (canvas.shape[1] - 1, 1), 255, thickness)
            cv2.line(
                canvas, (0, canvas.shape[0] - 2), (canvas.shape[1] - 1, canvas.shape[0] - 2), 255, thickness
            )
        elif character == ":":
            canvas = np.zeros((int(unit * 0.5), thickness + 4), dtype=np.uint8)
            cv2.circle(canvas, (canvas.shape[1] // 2, 2), max(1, thickness // 2 + 1), 255, -1)
            cv2.circle(
                canvas, (canvas.shape[1] // 2, canvas.shape[0] - 3), max(1, thickness // 2 + 1), 255, -1
            )
        elif character == ".":
            side = thickness + 3
            canvas = np.zeros((side, side), dtype=np.uint8)
            cv2.circle(canvas, (side // 2, side // 2), max(1, side // 2), 255, -1)
        else:  # "," and "'": a short tail
            length = max(4, int(unit * SMALL_MARKS[character]))
            canvas = np.zeros((length, max(3, length // 2 + thickness)), dtype=np.uint8)
            cv2.line(canvas, (canvas.shape[1] - 2, 0), (1, length - 1), 255, thickness)
        return canvas

    def _style(self, text: str, family: str) -> dict:
        kinds = ["femnist", "font"] + (["mnist"] if any(character.isdigit() for character in text) else [])
        # femnist-dev's lower case is scarce and often shaped like capitals: words lean on the fonts.
        weights = {"femnist": 0.45, "font": 0.3 if family != "words" else 1.5, "mnist": 0.5}
        probabilities = np.array([weights[kind] for kind in kinds])
        kind = str(self.random.choice(kinds, p=probabilities / probabilities.sum()))
        if kind == "font" and not self.hand_fonts:
            kind = "femnist"
        return {
            "kind": kind,
            "writer": str(self.random.choice(self.writers)) if self.writers else "",
            "font": str(self.random.choice(self.hand_fonts)) if kind == "font" else None,
            "gap": self.random.uniform(-0.12, 0.45)
            if self.random.random() < 0.8
            else self.random.uniform(0.5, 1.4),
            **({"gap": self.random.uniform(-0.15, 0.12)} if family == "words" else {}),
            "word_gap": self.random.uniform(0.45, 1.3),
            "width_factor": self.random.uniform(0.8, 1.25),
            "stroke": self.random.uniform(0.06, 0.14),
            "drift": self.random.uniform(0, 0.12),
            "slant": self.random.uniform(-0.15, 0.35),
        }

    def write(self, text: str, cap_height: int, family: str = "name") -> np.ndarray:
        """The handwriting of text (float32 ink in [0, 1] on a black canvas)."""
        style = self._style(text, family)
        pieces, x, baseline_shift = [], 0.0, 0.0
        for character in text:
            if character == " ":
                x += cap_height * style["word_gap"]
                continue
            glyph = self._glyph(character, style, cap_height).astype(np.float32) / 255.0
            baseline_shift += self.random.normal(0, style["drift"] * cap_height * 0.3)
            baseline_shift = float(np.clip(baseline_shift, -0.3 * cap_height, 0.3 * cap_height))
            height = glyph.shape[0]
            if character in DESCENDERS:
                bottom = cap_height * 1.3
            elif character in ".,":
                bottom = cap_height * (1.15 if character == "," else 1.02)
            elif character in "-=:":
                bottom = cap_height * 0.5 + height / 2
            elif character == "'":
                bottom = height
            else:
                bottom = cap_height
            top = int(round(cap_height * 0.6 + bottom - height + baseline_shift))
            pieces.append((int(round(x)), top, glyph))
            x += glyph.shape[1] + cap_height * (style["gap"] + self.random.normal(0, 0.06))
        if not pieces:
            return np.zeros((cap_height * 2, cap_height), dtype=np.float32)
        left = min(0, min(piece[0] for piece in pieces))
        top = min(0, min(piece[1] for piece in pieces))
        width = max(piece[0] + piece[2].shape[1] for piece in pieces) - left + 2
        height = max(piece[1] + piece[2].shape[0] for piece in pieces) - top + 2
        canvas = np.zeros((height, width), dtype=np.float32)
        for piece_x, piece_y, glyph in pieces:
            region = canvas[
                piece_y - top : piece_y - top + glyph.shape[0],
                piece_x - left : piece_x - left + glyph.shape[1],
            ]
            np.maximum(region, glyph, out=region)
        canvas = self._shear(canvas, style["slant"])
        stroke_change = int(self.random.choice([-1, 0, 0, 1, 2]))
        if stroke_change > 0:
            canvas = cv2.dilate(canvas, np.ones((stroke_change + 1, stroke_change + 1), np.uint8))
        elif stroke_change < 0 and cap_height > 24:
            canvas = cv2.erode(canvas, np.ones((2, 2), np.uint8))
        return canvas

    @staticmethod
    def _shear(canvas: np.ndarray, slant: float) -> np.ndarray:
        height, width = canvas.shape
        extra = int(abs(slant) * height) + 1
        matrix = np.float32([[1, -slant, extra if slant > 0 else 0], [0, 1, 0]])
        return cv2.warpAffine(canvas, matrix, (width + extra, height), flags=cv2.INTER_LINEAR)

    # -- clutter and paper ---------------------------------------------------------------------------
    def _printed(self, text: str, size: int) -> np.ndarray:
        font = str(self.random.choice(self.print_fonts))
        return _font_glyph(font, text, max(8, size)).astype(np.float32) / 255.0

    def _dress(self, ink: np.ndarray, cap_height: int, family: str) -> np.ndarray:
        """Margins and the things real crops carry around the handwriting."""
        height, width = ink.shape
        margin_top, margin_bottom = (int(cap_height * self.random.uniform(0.1, 0.7)) for _ in range(2))
        margin_left, margin_right = (int(cap_height * self.random.uniform(0.1, 1.0)) for _ in range(2))
        label = None
        if self.random.random() < (0.45 if family in ("name", "words") else 0.2):
            label = self._printed(
                str(self.random.choice(PRINTED_LABELS)), int(cap_height * self.random.uniform(0.45, 0.9))
            )
        place = self.random.choice(["left", "above", "below"]) if label is not None else None
        if place == "left":
            margin_left += label.shape[1] + int(cap_height * self.random.uniform(0.2, 1.0))
        elif place == "above":
            margin_top += label.shape[0] + 2
        elif place == "below":
            margin_bottom += label.shape[0] + 2
        canvas = np.zeros(
            (height + margin_top + margin_bottom, width + margin_left + margin_right), dtype=np.float32
        )
        canvas[margin_top : margin_top + height, margin_left : margin_left + width] = ink
        if place == "left":
            y = margin_top + max(0, (height - label.shape[0]) // 2) + int(self.random.integers(-2, 3))
            y = int(np.clip(y, 0, canvas.shape[0] - label.shape[0]))
            self._paste(canvas, label, y, int(cap_height * self.random.uniform(0, 0.5)))
        elif place == "above":
            self._paste(canvas, label, 0, int(self.random.integers(0, max(1, margin_left + 1))))
        elif place == "below":
            self._paste(
                canvas,
                label,
                canvas.shape[0] - label.shape[0],
                int(self.random.integers(0, max(1, margin_left + 1))),
            )
        self._lines(canvas, margin_top + height, cap_height, family)
        return canvas

    @staticmethod
    def _paste(canvas: np.ndarray, piece: np.ndarray, y: int, x: int) -> None:
        piece = piece[: canvas.shape[0] - y, : canvas.shape[1] - x]
        region = canvas[y : y + piece.shape[0], x : x + piece.shape[1]]
        np.maximum(region, piece, out=region)

    def _lines(self, canvas: np.ndarray, baseline: int, cap_height: int, family: str) -> None:
        height, width = canvas.shape
        thickness = int(self.random.choice([1, 1, 2]))
        strength = float(self.random.uniform(0.4, 1.0))
        roll = self.random.random()
        if roll < 0.15:
            cv2.rectangle(canvas, (0, 0), (width - 1, height - 1), strength, thickness)
        elif roll < 0.3:
            y = int(np.clip(baseline + self.random.integers(-2, 4), 0, height - 1))
            cv2.line(canvas, (0, y), (width - 1, y), strength, thickness)
        elif roll < 0.4:
            y = int(np.clip(baseline + self.random.integers(0, 4), 0, height - 1))
            for x in range(0, width, int(self.random.integers(3, 7))):
                cv2.circle(canvas, (x, y), 0, strength, -1)
        elif roll < 0.47 and family in ("date", "code"):
            for x in np.linspace(0, width - 1, int(self.random.integers(4, 11))):
                cv2.line(canvas, (int(x), 0), (int(x), height - 1), strength, thickness)
            cv2.rectangle(canvas, (0, 0), (width - 1, height - 1), strength, thickness)

    def paper(self, ink: np.ndarray, family: str) -> np.ndarray:
        """Ink on paper as an 8-bit scan: uneven light, texture on checks, pen colour, blur, noise."""
        height, width = ink.shape
        paper = np.full((height, width), self.random.uniform(0.75, 1.0), dtype=np.float32)
        gradient = np.linspace(0, self.random.uniform(-0.15, 0.15), width, dtype=np.float32)
        paper += gradient[None, :]
        if family == "amount" and self.random.random() < 0.6 or self.random.random() < 0.1:
            ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
            frequency, phase = self.random.uniform(0.15, 0.6), self.random.uniform(0, 6.3)
            wave = np.sin(xs * frequency * 0.3 + np.sin(ys * frequency) * 3 + phase)
            paper -= self.random.uniform(0.05, 0.22) * (wave > 0.3)
        darkness = self.random.uniform(0.45, 0.95)
        image = paper * (1 - darkness * np.clip(ink, 0, 1))
        if self.random.random() < 0.5:
            image = cv2.GaussianBlur(image, (3, 3), self.random.uniform(0.3, 1.0))
        image += self.random.normal(0, self.random.uniform(0, 0.04), image.shape).astype(np.float32)
        return (np.clip(image, 0, 1) * 255).astype(np.uint8)

    def field(self, family: str | None = None, text: str | None = None) -> tuple[np.ndarray, str, str]:
        """One synthetic crop: (uint8 gray image, label, family); the text is drawn unless given."""
        families = ["amount", "date", "name", "words", "code", "numberwords"]
        if family is None:
            family = str(self.random.choice(families, p=[0.27, 0.08, 0.27, 0.15, 0.08, 0.15]))
        text = text if text is not None else self.text(family)
        cap_height = int(self.random.integers(18, 44))
        ink = self._dress(self.write(text, cap_height, family), cap_height, family)
        # Scanned crops come at many sizes: some handwriting is only 10 pixels tall.
        scale = self.random.uniform(0.3, 1.1)
        if scale < 0.95:
            ink = cv2.resize(
                ink,
                (max(8, int(ink.shape[1] * scale)), max(8, int(ink.shape[0] * scale))),
                interpolation=cv2.INTER_AREA,
            )
        return self.paper(ink, family), text, family
