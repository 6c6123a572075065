"""The amount in words on Indian cheques: snapping, lakhs and crores, paise and the cross-check."""

import random

import pytest

from recognition.engine.cheques.words import (
    NUMBER_WORDS_CHARSET,
    SPELLINGS,
    CrossCheck,
    WordsAmount,
    amount_to_words,
    cross_check,
    format_indian,
    number_words_charset,
    parse_amount_words,
)

# The amount in words and in figures of real CTS-2010 cheques, as their labels have them.
REAL_LABELS = [
    ("Eighty Eight lakhs", 8800000),
    ("Fourty Four lakh twenty thousand", 4420000),
    ("Two lakh seventy thousand", 270000),
    ("Twenty One lakh five thousands", 2105000),
    ("Twenty Two lacks fifty five thousand", 2255000),
    ("twenty Six lacks thirty Thousand", 2630000),
    ("Twenty five lacs", 2500000),
    ("Sixty Five lacks twenty thousand", 6520000),
    ("Seventy Three lacks", 7300000),
    ("Three lakh fifty five thousand", 355000),
    ("Sixty Nine lacks", 6900000),
    ("Thirty Three lacks Fourty thousand", 3340000),
    ("Fifty five lacks", 5500000),
    ("One crore Niaghty lacks Niaghty thousand", 19090000),
    ("Fifty Five lacks Sixty thousand", 5560000),
    ("Thirty Three lacks", 3300000),
    ("One crore Eight lacks Seventy thousand", 10870000),
]


@pytest.mark.parametrize(("text", "rupees"), REAL_LABELS)
def test_real_labels_read_as_their_figures(text, rupees):
    amount = parse_amount_words(text)
    assert amount.rupees == rupees
    assert amount.paise is None
    assert amount.unknown == ()
    # The writers' own spellings (lacks, Fourty, Niaghty) are spellings, not corrections.
    assert amount.corrections == 0


@pytest.mark.parametrize(
    ("text", "rupees", "corrections"),
    [
        ("Eighty Erght lauhs", 8800000, 2),
        ("Twentyfive lacs", 2500000, 0),
        ("FiftyFive lacks", 5500000, 0),
        ("Sevnty Thre lakh", 7300000, 2),
        ("Thousend", None, 1),
        ("two thousend three hundrad", 2300, 2),
        ("Seven ty lakh", 7000000, 0),
        ("Four teen thousand", 14000, 0),
        ("twenty on lakh", 2100000, 1),
    ],
)
def test_misreadings_run_together_and_split_words_are_snapped(text, rupees, corrections):
    amount = parse_amount_words(text)
    assert amount.rupees == rupees
    assert amount.corrections == corrections
    assert amount.unknown == ()


def test_snapped_words_are_canonical():
    amount = parse_amount_words("Rs. Twentyfive Lacs Fourty Thousands only/-")
    assert amount.words == ("rupees", "twenty", "five", "lakh", "forty", "thousand", "only")
    assert amount.rupees == 2540000


@pytest.mark.parametrize(
    ("text", "rupees"),
    [
        ("Twenty One lakh five thousand", 2105000),
        ("One crore Ninety lakhs Ninety thousand", 19090000),
        ("two thousand three hundred and forty five", 2345),
        ("Rupees Five Hundred Only", 500),
        ("Ninety Nine Crore Ninety Nine Lakh Ninety Nine Thousand Nine Hundred Ninety Nine", 999999999),
        ("Twelve crores", 120000000),
        ("one lakh and one", 100001),
        ("Rupees Zero only", 0),
        ("nineteen", 19),
    ],
)
def test_indian_grouping(text, rupees):
    assert parse_amount_words(text).rupees == rupees


@pytest.mark.parametrize(
    ("text", "rupees", "paise"),
    [
        ("Rupees five thousand and fifty paise only", 5000, 50),
        ("five thousand fifty paise", 5000, 50),
        ("Two lakh rupees and twenty five paisa", 200000, 25),
        ("fifty paise only", 0, 50),
        ("Ten rupees and zero paise", 10, 0),
        ("one hundred twenty three paise", 100, 23),
    ],
)
def test_paise(text, rupees, paise):
    amount = parse_amount_words(text)
    assert (amount.rupees, amount.paise) == (rupees, paise)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "lakh lakh",
        "five five",
        "thousand five lakh",
        "Twenty lakh thirty lakh",
        "one crore two crore",
        "Rupees only",
        "ten hundred",
        "fifty paise five",
        "five thousand seventy twenty paise",
    ],
)
def test_words_that_are_not_an_amount_have_no_value(text):
    amount = parse_amount_words(text)
    assert amount.rupees is None
    assert amount.paise is None


def test_garbage_is_reported_unknown_not_forced():
    amount = parse_amount_words("xkq zzvw Five lakh 5000")
    assert amount.unknown == ("xkq", "zzvw", "5000")
    assert amount.words == ("five", "lakh")
    assert amount.rupees == 500000
    assert parse_amount_words("hello world").rupees is None
    assert parse_amount_words("hello world").unknown == ("hello", "world")


def test_a_token_equally_near_two_words_is_unknown():
    # "twn" is one edit from both two and ten, with the same first letter: guessing would be forcing.
    assert parse_amount_words("twn").unknown == ("twn",)


def test_parse_refuses_a_non_string():
    with pytest.raises(ValueError, match="string"):
        parse_amount_words(2105000)


@pytest.mark.parametrize(
    ("rupees", "words"),
    [
        (0, "Zero"),
        (7, "Seven"),
        (2105000, "Twenty One Lakh Five Thousand"),
        (19090000, "One Crore Ninety Lakh Ninety Thousand"),
        (2345, "Two Thousand Three Hundred Forty Five"),
        (1000000000, "One Hundred Crore"),
    ],
)
def test_amount_to_words(rupees, words):
    assert amount_to_words(rupees) == words


def test_amount_to_words_round_trips_with_the_parser():
    generator = random.Random(2010)
    values = [generator.randint(1, 999_999_999) for _ in range(3000)]
    values += [generator.randint(1, 99_999) for _ in range(1000)] + [
        1,
        99,
        100,
        100000,
        10000000,
        999_999_999,
    ]
    for rupees in values:
        amount = parse_amount_words(amount_to_words(rupees))
        assert (amount.rupees, amount.corrections, amount.unknown) == (rupees, 0, ()), rupees


@pytest.mark.parametrize("bad", [-1, 2.5, "12", True, None])
def test_amount_to_words_and_format_refuse_what_is_not_whole_rupees(bad):
    with pytest.raises(ValueError):
        amount_to_words(bad)
    with pytest.raises(ValueError):
        format_indian(bad)


@pytest.mark.parametrize(
    ("rupees", "text"),
    [
        (0, "0"),
        (999, "999"),
        (1000, "1,000"),
        (100000, "1,00,000"),
        (8800000, "88,00,000"),
        (123456789, "12,34,56,789"),
    ],
)
def test_format_indian(rupees, text):
    assert format_indian(rupees) == text


def test_charset_holds_every_spelling_in_both_cases_and_space():
    charset = number_words_charset()
    assert charset == NUMBER_WORDS_CHARSET
    assert " " in charset
    for spelling in SPELLINGS:
        assert set(spelling) <= set(charset)
        assert set(spelling.upper()) <= set(charset)
    # Letters that no number word holds are left out, so a constrained reader cannot output them.
    assert not set("bjmqBJMQ0123456789") & set(charset)


@pytest.mark.parametrize(
    "figures",
    ["88,00,000", "8800000", "88,00,000.00", "88.00.000", "8800000/-", " 88,00,000 ", "88,00,000.0"],
)
def test_cross_check_agrees_across_separators(figures):
    check = cross_check(figures, parse_amount_words("Eighty Eight lakhs"))
    assert check == CrossCheck("agree", "the words and the figures both say 88,00,000", 8800000)


def test_cross_check_disagreement_names_both_amounts():
    check = cross_check("21,50,000", parse_amount_words("Twenty One lakh five thousands"))
    assert check.verdict == "disagree"
    assert check.words_value == 2105000
    assert check.reason == "the words say 21,05,000 (Twenty One Lakh Five Thousand), the figures 21,50,000"


def test_cross_check_compares_paise():
    words = parse_amount_words("Rupees five thousand and fifty paise only")
    assert cross_check("5,000.50", words).verdict == "agree"
    assert cross_check("5000.5", words).verdict == "agree"
    disagree = cross_check("5,000.00", words)
    assert disagree.verdict == "disagree"
    assert disagree.reason == "the words say 5,000.50 (Five Thousand and Fifty Paise), the figures 5,000"
    # Figures with paise against words without them: the paise were not written in words.
    assert cross_check("5,000.50", parse_amount_words("five thousand only")).verdict == "disagree"


def test_cross_check_disagreement_mentions_unknown_tokens():
    check = cross_check("2,00,000", parse_amount_words("Two xkq lakh five thousand"))
    assert check.verdict == "disagree"
    assert "'xkq' matched no number word" in check.reason


@pytest.mark.parametrize(
    ("figures", "text", "reason"),
    [
        ("88,00,000", "lakh lakh", "the words do not form an amount"),
        ("88,00,000", "zzqx", "the words do not form an amount; 'zzqx' matched no number word"),
        ("", "Eighty Eight lakhs", "the figures '' are not an amount"),
        ("88,OO,000", "Eighty Eight lakhs", "the figures '88,OO,000' are not an amount"),
        (",.", "Eighty Eight lakhs", "the figures ',.' are not an amount"),
    ],
)
def test_cross_check_unreadable(figures, text, reason):
    check = cross_check(figures, parse_amount_words(text))
    assert check.verdict == "unreadable"
    assert check.reason == reason


def test_cross_check_refuses_wrong_types():
    with pytest.raises(ValueError):
        cross_check(8800000, parse_amount_words("Eighty Eight lakhs"))
    with pytest.raises(ValueError):
        cross_check("88,00,000", "Eighty Eight lakhs")


def test_words_amount_is_frozen():
    amount = parse_amount_words("five")
    assert isinstance(amount, WordsAmount)
    with pytest.raises(AttributeError):
        amount.rupees = 6


def test_three_number_words_in_a_row_are_not_a_number():
    # A reader's run of words such as "nine nine nine lakh" breaks the pattern: no value, no crash.
    assert parse_amount_words("nine nine nine lakh").rupees is None
    assert parse_amount_words("twenty one two thousand").rupees is None
