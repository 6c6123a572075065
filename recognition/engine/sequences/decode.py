"""CTC decoding in NumPy: a kind's probabilities, greedy paths, prefix beam search, forced alignment."""

from __future__ import annotations

import functools

import numpy as np

from recognition.engine.sequences.charset import kind_alphabet, kind_projection


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exponent = np.exp(shifted)
    return exponent / exponent.sum(axis=-1, keepdims=True)


def kind_probabilities(probabilities: np.ndarray, kind: str) -> np.ndarray:
    """(T, NUM_CLASSES) model probabilities as (T, 1 + len(alphabet)) over the kind's characters.

    Folded classes add up (a lower case a counts for A in a letters field); classes the kind cannot
    hold are dropped and each column renormalised, so the best allowed reading takes their place.
    """
    projected = probabilities @ kind_projection(kind)
    return projected / np.maximum(projected.sum(axis=-1, keepdims=True), 1e-12)


def greedy(probabilities: np.ndarray, alphabet: str) -> str:
    """Best path: the most probable class per column, repeats merged, blanks removed."""
    best = probabilities.argmax(axis=-1)
    characters, previous = [], 0
    for index in best:
        if index != previous and index != 0:
            characters.append(alphabet[index - 1])
        previous = index
    return "".join(characters)


def _add_path(beams: dict, prefix: tuple[int, ...], blank_part: float, character_part: float) -> None:
    """Add a path's log probability to a prefix (ending in blank, ending in its last character)."""
    entry = beams.setdefault(prefix, [-np.inf, -np.inf])
    entry[0] = np.logaddexp(entry[0], blank_part)
    entry[1] = np.logaddexp(entry[1], character_part)


def beam_search(
    probabilities: np.ndarray,
    alphabet: str,
    *,
    beam_width: int = 12,
    prune: float = 1e-3,
    candidates_per_column: int = 6,
) -> list[tuple[str, float]]:
    """CTC prefix beam search: the beam_width most probable readings and their probabilities, best first.

    A column only offers its classes above `prune` (at most candidates_per_column of them), and a
    column that offers only the blank moves every prefix at once; probabilities are kept in log space
    per prefix as (ends in blank, ends in character).
    """
    beams: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, -np.inf)}
    log_probabilities = np.log(np.maximum(probabilities, 1e-30))
    for column, log_column in zip(probabilities, log_probabilities, strict=True):
        candidates = np.flatnonzero(column >= prune)
        if len(candidates) > candidates_per_column:
            candidates = candidates[np.argsort(-column[candidates])[:candidates_per_column]]
        if len(candidates) == 1 and candidates[0] == 0:
            # Only the blank: every prefix now ends in blank, with its whole probability.
            log_blank = log_column[0]
            beams = {prefix: (np.logaddexp(*parts) + log_blank, -np.inf) for prefix, parts in beams.items()}
            continue
        following: dict[tuple[int, ...], list[float]] = {}
        add = functools.partial(_add_path, following)
        for prefix, (blank_end, character_end) in beams.items():
            total = np.logaddexp(blank_end, character_end)
            for index in candidates:
                log_p = log_column[index]
                if index == 0:
                    add(prefix, total + log_p, -np.inf)
                    continue
                extended = prefix + (int(index),)
                if prefix and prefix[-1] == index:
                    # A repeat only extends the prefix after a blank; without one it is the same character.
                    add(extended, -np.inf, blank_end + log_p)
                    add(prefix, -np.inf, character_end + log_p)
                else:
                    add(extended, -np.inf, total + log_p)
        ranked = sorted(following.items(), key=lambda item: -np.logaddexp(*item[1]))
        beams = {prefix: (parts[0], parts[1]) for prefix, parts in ranked[:beam_width]}
    readings = [
        ("".join(alphabet[index - 1] for index in prefix), float(np.exp(np.logaddexp(*parts))))
        for prefix, parts in beams.items()
    ]
    return sorted(readings, key=lambda reading: -reading[1])


def _ctc_graph(
    probabilities: np.ndarray, alphabet: str, text: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The CTC states of a non-empty text (blank, c1, blank, c2, ..., blank), each column's log
    probability of each state, and where a state may also be entered from the one two before."""
    states = [0]
    for character in text:
        states += [alphabet.index(character) + 1, 0]
    states_array = np.array(states)
    log_p = np.log(np.maximum(probabilities[:, states_array], 1e-30))
    # A state may be entered from itself, the one before, or (a character after a blank between two
    # different characters) the one two before.
    skip_allowed = np.zeros(len(states), dtype=bool)
    skip_allowed[2:] = (states_array[2:] != 0) & (states_array[2:] != states_array[:-2])
    return states_array, log_p, skip_allowed


def align(probabilities: np.ndarray, alphabet: str, text: str) -> list[tuple[int, int]]:
    """Forced alignment (Viterbi over the CTC graph) of text: each character's first and last column.

    ValueError when the text cannot be aligned in so few columns.
    """
    if not text:
        return []
    states, log_p, skip_allowed = _ctc_graph(probabilities, alphabet, text)
    count, columns = len(states), len(probabilities)
    score = np.full((columns, count), -np.inf)
    back = np.zeros((columns, count), dtype=np.int64)
    score[0, 0], score[0, 1] = log_p[0, 0], log_p[0, 1]
    positions = np.arange(count)
    for time in range(1, columns):
        previous = score[time - 1]
        stay = previous
        step = np.concatenate([[-np.inf], previous[:-1]])
        skip = np.where(skip_allowed, np.concatenate([[-np.inf, -np.inf], previous[:-2]]), -np.inf)
        options = np.stack([stay, step, skip])
        choice = options.argmax(axis=0)
        score[time] = options[choice, positions] + log_p[time]
        back[time] = positions - choice
    end = count - 1 if score[-1, count - 1] >= score[-1, count - 2] else count - 2
    if not np.isfinite(score[-1, end]):
        raise ValueError(f"{text!r} does not fit in {columns} columns")
    spans: dict[int, list[int]] = {}
    state = end
    for time in range(columns - 1, -1, -1):
        if states[state] != 0:
            spans.setdefault(state // 2, []).append(time)
        state = back[time, state] if time > 0 else state
    return [(min(spans[position]), max(spans[position])) for position in range(len(text))]


def text_log_probability(probabilities: np.ndarray, alphabet: str, text: str) -> float:
    """log P(text) under the CTC model: the forward algorithm, every path that spells text summed.

    -inf when text holds a character outside the alphabet or cannot fit in so few columns. Used to ask
    how well a field supports a reading that came from elsewhere (the figures the words say).
    """
    if any(character not in alphabet for character in text):
        return -np.inf
    if not text:
        return float(np.log(np.maximum(probabilities[:, 0], 1e-30)).sum())
    states, log_p, skip_allowed = _ctc_graph(probabilities, alphabet, text)
    forward = np.full(len(states), -np.inf)
    forward[0], forward[1] = log_p[0, 0], log_p[0, 1]
    for time in range(1, len(probabilities)):
        step = np.concatenate([[-np.inf], forward[:-1]])
        skip = np.where(skip_allowed, np.concatenate([[-np.inf, -np.inf], forward[:-2]]), -np.inf)
        forward = np.logaddexp(np.logaddexp(forward, step), skip) + log_p[time]
    return float(np.logaddexp(forward[-1], forward[-2]))


def decode_kind(probabilities: np.ndarray, kind: str) -> tuple[np.ndarray, str]:
    """The kind's probability matrix and alphabet, ready for greedy, beam_search and align."""
    return kind_probabilities(probabilities, kind), kind_alphabet(kind)


def _word_trie(words: tuple[str, ...]) -> tuple[dict[str, set[str]], set[str]]:
    """Each prefix of the words -> the characters that may follow it, and the set of whole words."""
    following: dict[str, set[str]] = {}
    for word in words:
        for end in range(len(word)):
            following.setdefault(word[:end], set()).add(word[end])
    return following, set(words)


def lexicon_beam_search(
    probabilities: np.ndarray,
    alphabet: str,
    words: tuple[str, ...],
    *,
    beam_width: int = 24,
    prune: float = 1e-4,
) -> list[tuple[str, float]]:
    """CTC prefix beam search restricted to readings made of the given words, one space between two
    (a field written in a small vocabulary, such as a cheque's amount in words).

    words are spelled in the alphabet's characters; the readings are the most probable complete word
    sequences with their probabilities, best first ([] when none fits the columns).
    """
    following, complete = _word_trie(tuple(words))
    index_of = {character: position + 1 for position, character in enumerate(alphabet)}
    space = index_of.get(" ")
    beams: dict[str, tuple[float, float]] = {"": (0.0, -np.inf)}
    log_probabilities = np.log(np.maximum(probabilities, 1e-30))
    for column, log_column in zip(probabilities, log_probabilities, strict=True):
        offered = set(np.flatnonzero(column >= prune).tolist())
        if space is not None:
            # Writers run words together: a space the model barely sees must still be possible.
            offered.add(space)
        grown: dict[str, list[float]] = {}
        for prefix, (blank_end, character_end) in beams.items():
            total = np.logaddexp(blank_end, character_end)
            _add_path(grown, prefix, total + log_column[0], -np.inf)
            word = prefix.rsplit(" ", 1)[-1]
            allowed = {index_of[character] for character in following.get(word, ()) if character in index_of}
            if word in complete and space is not None:
                allowed.add(space)
            last = index_of.get(prefix[-1]) if prefix else None
            for index in allowed & offered:
                log_p = log_column[index]
                extended = prefix + alphabet[index - 1]
                if index == last:
                    _add_path(grown, extended, -np.inf, blank_end + log_p)
                else:
                    _add_path(grown, extended, -np.inf, total + log_p)
            if last is not None and last in offered:
                _add_path(grown, prefix, -np.inf, character_end + log_column[last])
        ranked = sorted(grown.items(), key=lambda item: -np.logaddexp(*item[1]))
        beams = {prefix: (parts[0], parts[1]) for prefix, parts in ranked[:beam_width]}
    readings = [
        (prefix, float(np.exp(np.logaddexp(*parts))))
        for prefix, parts in beams.items()
        if prefix and prefix.rsplit(" ", 1)[-1] in complete
    ]
    return sorted(readings, key=lambda reading: -reading[1])
