"""The amount in words on an Indian cheque: snap misspelt words, read lakhs and crores, check the figures."""

from __future__ import annotations

import re
from dataclasses import dataclass

UNITS = (
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
)
TENS = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
BELOW_HUNDRED = {**{word: value for value, word in enumerate(UNITS)}, **TENS}
HUNDRED, THOUSAND, LAKH, CRORE = 100, 1_000, 100_000, 10_000_000
MULTIPLIERS = {"hundred": HUNDRED, "thousand": THOUSAND, "lakh": LAKH, "crore": CRORE}
CONNECTORS = ("and", "rupees", "only", "paise")

# Every spelling the snapper knows, mapped to its canonical word. Beside the plain words are the
# spellings writers use on real cheques (lakh as lac, lacks; thousands; Fourty; Niaghty for ninety):
# these are ways of writing the word, not misreadings, so they cost no correction. Niaghty is
# listed because edit distance alone takes it for eighty (two edits against three).
SPELLINGS = {
    **{word: word for word in BELOW_HUNDRED},
    **{word: word for word in MULTIPLIERS},
    **{word: word for word in CONNECTORS},
    "fourty": "forty",
    "ninty": "ninety",
    "niaghty": "ninety",
    "hundreds": "hundred",
    "thousands": "thousand",
    "lakhs": "lakh",
    "lac": "lakh",
    "lacs": "lakh",
    "lack": "lakh",
    "lacks": "lakh",
    "crores": "crore",
    "rupee": "rupees",
    "rs": "rupees",
    "re": "rupees",
    "paisa": "paise",
}
# A token may be at most a third of its letters away from a spelling (one edit in three to five
# letters, two in six to eight): enough for "Erght" and "lauhs", not enough to force garbage.
LETTERS_PER_EDIT = 3
# The shortest part a joined token is split into; no spelling is shorter than two letters.
MIN_PART_LENGTH = 2
TOKEN_PATTERN = re.compile(r"[A-Za-z]+|\d+")
NUMBER_WORDS_CHARSET = "".join(sorted({letter for word in SPELLINGS for letter in word + word.upper()})) + " "


@dataclass(frozen=True)
class WordsAmount:
    """An amount in words as read: its value (None when the words are not a valid amount), the
    canonical words it was snapped to, the tokens that matched no word and the edits spent."""

    rupees: int | None
    paise: int | None
    words: tuple[str, ...]
    unknown: tuple[str, ...]
    corrections: int


@dataclass(frozen=True)
class CrossCheck:
    """The amount in words against the amount in figures: agree, disagree or unreadable, and why."""

    verdict: str
    reason: str
    words_value: int | None


def number_words_charset() -> str:
    """The characters a constrained reader may output for an amount in words: letters, both cases, space."""
    return NUMBER_WORDS_CHARSET


def _edit_distance(first: str, second: str) -> int:
    """Optimal string alignment distance: insertions, deletions, substitutions and swapped neighbours."""
    previous_row = None
    row = list(range(len(second) + 1))
    for i in range(1, len(first) + 1):
        before, previous_row, row = previous_row, row, [i] + [0] * len(second)
        for j in range(1, len(second) + 1):
            cost = 0 if first[i - 1] == second[j - 1] else 1
            row[j] = min(previous_row[j] + 1, row[j - 1] + 1, previous_row[j - 1] + cost)
            swapped = i > 1 and j > 1 and first[i - 1] == second[j - 2] and first[i - 2] == second[j - 1]
            if swapped:
                row[j] = min(row[j], before[j - 2] + 1)
    return row[-1]


def _snap_whole(token: str) -> tuple[str, int] | None:
    """The canonical word nearest to a lower-case token and its distance; None when none is near
    enough, or when two different words are equally near and the first letter does not choose."""
    if token in SPELLINGS:
        return SPELLINGS[token], 0
    candidates = {}
    for spelling, word in SPELLINGS.items():
        longest = max(len(token), len(spelling))
        # The lengths alone bound the distance from below; most spellings are ruled out by them.
        if abs(len(token) - len(spelling)) * LETTERS_PER_EDIT > longest:
            continue
        distance = _edit_distance(token, spelling)
        if distance * LETTERS_PER_EDIT <= longest:
            # The first letter is the one a writer almost never gets wrong, so among equally near
            # words it decides.
            rank = (distance, spelling[0] != token[0])
            if word not in candidates or rank < candidates[word]:
                candidates[word] = rank
    if not candidates:
        return None
    ranked = sorted(candidates.items(), key=lambda item: item[1])
    if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
        return None
    return ranked[0][0], ranked[0][1][0]


def _snap_token(token: str) -> tuple[list[str], int] | None:
    """The words a lower-case token stands for: one word, or two run together ("fiftyfive") when
    the split is strictly nearer; with the distance spent. None when it matches nothing."""
    whole = _snap_whole(token)
    if whole is not None and whole[1] == 0:
        return [whole[0]], 0
    best = None if whole is None else ([whole[0]], whole[1])
    for cut in range(MIN_PART_LENGTH, len(token) - MIN_PART_LENGTH + 1):
        left, right = _snap_whole(token[:cut]), _snap_whole(token[cut:])
        if left is None or right is None:
            continue
        distance = left[1] + right[1]
        if best is None or distance < best[1]:
            best = ([left[0], right[0]], distance)
    return best


def _join_is_better(joined_distance: int, alone, after, token: str, following: str) -> bool:
    """Whether two neighbour tokens read better as one word than apart.

    The join must be strictly nearer than reading them apart (or one of them must match nothing),
    and may not spend as many edits as the shorter piece has letters: that would be dropping the
    piece, not joining it ("twenty on" is twenty one, not twenty).
    """
    if joined_distance >= min(len(token), len(following)):
        return False
    if alone is None or after is None:
        return True
    return joined_distance < alone[1] + after[1]


def _snap_tokens(tokens: list[str]) -> tuple[list[str], list[str], int]:
    """Snap every token, joining a neighbour pair when the two are one word split apart ("seven ty");
    (canonical words, unknown tokens, total distance)."""
    words, unknown, corrections = [], [], 0
    index = 0
    while index < len(tokens):
        token = tokens[index].lower()
        alone = _snap_token(token)
        following = tokens[index + 1].lower() if index + 1 < len(tokens) else ""
        # Two words spelt exactly are never one word split apart, and most pairs are such.
        if following and not (token in SPELLINGS and following in SPELLINGS):
            joined = _snap_whole(token + following)
            if joined is not None and _join_is_better(
                joined[1], alone, _snap_token(following), token, following
            ):
                words.append(joined[0])
                corrections += joined[1]
                index += 2
                continue
        if alone is None:
            unknown.append(tokens[index])
        else:
            words.extend(alone[0])
            corrections += alone[1]
        index += 1
    return words, unknown, corrections


def _below_hundred(words: list[str], *, allow_zero: bool = False) -> int | None:
    """1..99 from its words ("ninety", "ninety nine", "nineteen"); None for anything else."""
    values = [BELOW_HUNDRED.get(word) for word in words]
    if not values or None in values:
        return None
    if values == [0]:
        return 0 if allow_zero else None
    if len(values) == 1:
        return values[0]
    if len(values) != 2:
        return None
    tens, unit = values
    if words[0] in TENS and 1 <= unit <= 9:
        return tens + unit
    return None


def _below_crore(words: list[str]) -> int | None:
    """0..99,99,999 from its words, in Indian groups: [N lakh] [N thousand] [N hundred] [N];
    each group at most once and in that order. None when the words break the pattern."""
    total = 0
    for name, size, largest_count in (
        ("lakh", LAKH, 99),
        ("thousand", THOUSAND, 99),
        ("hundred", HUNDRED, 9),
    ):
        if name not in words:
            continue
        position = words.index(name)
        count = _below_hundred(words[:position])
        if count is None or count > largest_count:
            return None
        total += count * size
        words = words[position + 1 :]
    if not words:
        return total
    rest = _below_hundred(words)
    return None if rest is None else total + rest


def _rupee_value(words: list[str]) -> int | None:
    """The rupees of the number words (no connectors); crores count any number below a crore."""
    if words == ["zero"]:
        return 0
    if not words:
        return None
    if words.count("crore") > 1:
        return None
    if "crore" in words:
        position = words.index("crore")
        crores, rest = _below_crore(words[:position]), _below_crore(words[position + 1 :])
        if not crores or rest is None:
            return None
        return crores * CRORE + rest
    value = _below_crore(words)
    return value if value else None


def _split_paise(words: list[str]) -> tuple[list[str], list[str] | None] | None:
    """(rupee words, paise words or None when no paise are written); None when "paise" is misplaced.

    The paise are the tens and units just before "paise", back to an "and", "rupees" or a group
    word, so "five thousand fifty paise" and "rupees five thousand and fifty paise" both read 50.
    """
    words = [word for word in words if word != "only"]
    if "paise" not in words:
        return words, None
    if words.count("paise") > 1 or words[-1] != "paise":
        return None
    start = len(words) - 1
    while start > 0 and words[start - 1] in BELOW_HUNDRED:
        start -= 1
    return words[:start], words[start:-1]


def parse_amount_words(text: str) -> WordsAmount:
    """The amount an Indian cheque writes in words ("Twenty One lakh five thousands only").

    Each token is snapped to the nearest number word (misspellings, misreadings, words run
    together or split apart); the value is None when the words are not a valid amount.
    """
    if not isinstance(text, str):
        raise ValueError(f"the amount in words must be a string, not {type(text).__name__}")
    words, unknown, corrections = _snap_tokens(TOKEN_PATTERN.findall(text))
    rupees = paise = None
    split = _split_paise(words)
    if split is not None:
        rupee_words, paise_words = split
        numbers = [word for word in rupee_words if word not in CONNECTORS]
        paise = None if paise_words is None else _below_hundred(paise_words, allow_zero=True)
        if paise_words is None or paise is not None:
            # "fifty paise only" is an amount of no rupees; with no paise, no numbers is no amount.
            rupees = 0 if not numbers and paise is not None else _rupee_value(numbers)
        if rupees is None:
            paise = None
    return WordsAmount(
        rupees=rupees, paise=paise, words=tuple(words), unknown=tuple(unknown), corrections=corrections
    )


def _words_below_thousand(number: int) -> list[str]:
    words = []
    if number >= HUNDRED:
        words += [UNITS[number // HUNDRED], "hundred"]
        number %= HUNDRED
    if number >= 20:
        words.append(next(word for word, value in TENS.items() if value == number // 10 * 10))
        number %= 10
    if number:
        words.append(UNITS[number])
    return words


def _words_below_crore(number: int) -> list[str]:
    words = []
    for name, size in (("lakh", LAKH), ("thousand", THOUSAND)):
        if number >= size:
            words += [*_words_below_thousand(number // size), name]
            number %= size
    return words + _words_below_thousand(number)


def _check_rupees(rupees: int) -> None:
    if isinstance(rupees, bool) or not isinstance(rupees, int) or rupees < 0:
        raise ValueError(f"rupees must be a whole number of zero or more, not {rupees!r}")


def amount_to_words(rupees: int) -> str:
    """Rupees in canonical Indian words: 2105000 is "Twenty One Lakh Five Thousand"."""
    _check_rupees(rupees)
    if rupees == 0:
        return "Zero"
    words = []
    if rupees >= CRORE:
        words += [*_words_below_crore(rupees // CRORE), "crore"]
        rupees %= CRORE
    words += _words_below_crore(rupees)
    return " ".join(word.capitalize() for word in words)


def format_indian(rupees: int) -> str:
    """Rupees grouped the Indian way: the last three digits, then pairs (88,00,000; 1,23,45,678)."""
    _check_rupees(rupees)
    digits = str(rupees)
    head, tail = digits[:-3], digits[-3:]
    pairs = []
    while head:
        pairs.insert(0, head[-2:])
        head = head[:-2]
    return ",".join([*pairs, tail])


def _parse_figures(amount_digits: str) -> tuple[int, int] | None:
    """(rupees, paise) of the courtesy amount as read; None when it is not digits and separators.

    The reader may give either separator for either job, so the last separator followed by one or
    two digits is the decimal point and every other one groups digits (88,00,000 and 88.00.000 alike).
    """
    text = amount_digits.strip().removesuffix("/-").strip()
    if not text or not re.fullmatch(r"[\d.,]+", text) or not any(char.isdigit() for char in text):
        return None
    paise = 0
    decimal = re.search(r"[.,](\d{1,2})$", text)
    if decimal:
        paise = int(decimal.group(1).ljust(2, "0"))
        text = text[: decimal.start()]
    rupee_digits = re.sub(r"[.,]", "", text)
    if not rupee_digits:
        return (0, paise) if decimal else None
    return int(rupee_digits), paise


def _describe(rupees: int, paise: int) -> str:
    return format_indian(rupees) + (f".{paise:02d}" if paise else "")


def cross_check(amount_digits: str, words: WordsAmount) -> CrossCheck:
    """The amount in words against the courtesy amount in figures, for a reviewer to read."""
    if not isinstance(amount_digits, str) or not isinstance(words, WordsAmount):
        raise ValueError("cross_check needs the figures as a string and the words as a WordsAmount")
    unknown_note = (
        f"; {', '.join(repr(token) for token in words.unknown)} matched no number word"
        if words.unknown
        else ""
    )
    if words.rupees is None:
        return CrossCheck("unreadable", f"the words do not form an amount{unknown_note}", None)
    figures = _parse_figures(amount_digits)
    if figures is None:
        return CrossCheck("unreadable", f"the figures {amount_digits!r} are not an amount", words.rupees)
    words_paise = words.paise or 0
    said = _describe(words.rupees, words_paise)
    if (words.rupees, words_paise) == figures:
        return CrossCheck("agree", f"the words and the figures both say {said}", words.rupees)
    spelled = amount_to_words(words.rupees) + (
        f" and {amount_to_words(words_paise)} Paise" if words_paise else ""
    )
    reason = f"the words say {said} ({spelled}), the figures {_describe(*figures)}{unknown_note}"
    return CrossCheck("disagree", reason, words.rupees)
