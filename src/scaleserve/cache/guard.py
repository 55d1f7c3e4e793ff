"""The false-hit guard of the semantic cache: two texts close in meaning may still ask for
different answers. A cached neighbour is used only when all of these agree:

- polarity: the count of negations (``not``, ``n't``, ``never``, ``without``, ``unable``...)
  has the same parity (``Is it safe`` / ``Isn't it safe``);
- numbers: the same set, with digits, number words, ordinals, Roman numerals, percentages
  and clock times normalised (``two`` = ``2``; ``7pm`` = ``19:00``; ``Second`` = ``II``);
- named entities: every capitalised word, acronym or camel-cased word of one text occurs
  (stemmed, allowing a short ending: ``Germany``/``German``) in the other;
- contrasts: one text does not say ``open``, ``increase``, ``unsafe``, ``dog``, ``dinner``,
  ``turn off`` where the other says ``close``, ``decrease``, ``safe``, ``cat``, ``lunch``,
  ``turn on`` (antonym pairs, negating prefixes, groups of mutually exclusive alternatives);
- questions: when both ask with ``who``, ``when``, ``where`` (or ``what year``, ``which
  city``...), they ask the same; and both ask ``why`` or neither does;
- direction: the words around ``to``, ``from``, ``than``... are not swapped (``dollars to
  euros`` / ``euros to dollars``, ``Python faster than Java`` / ``Java faster than Python``).

It is pure and cheap: a ``Signature`` is computed once per text, and ``agree`` compares two.
Word lists are in ``scaleserve.cache.guard_words``; it knows English only.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from scaleserve.cache.guard_words import (
    ANTONYM_PAIRS,
    DIRECTION_MARKERS,
    IRREGULAR,
    NEGATING_PREFIXES,
    NEGATIONS,
    NUMBER_WORDS,
    ORDINAL_WORDS,
    PHRASAL_PARTICLES,
    PHRASAL_VERBS,
    QUESTION_NOUNS,
    ROMAN,
    SENTENCE_STARTERS,
    SIBLINGS,
    SKIPPED_AFTER_MARKER,
    STRONG_QUESTION_WORDS,
    WHY_PHRASES,
)

_TOKEN = re.compile(r"\$?\d+(?:[.,:]\d+)*(?:st|nd|rd|th)?%?|[A-Za-z]+(?:-[A-Za-z]+)*|[.!?;]")
_CLITIC = re.compile(r"'(?:s|d|ll|re|ve|m)\b", re.IGNORECASE)  # What's, Tokyo's, I'd
_NOT_CONTRACTION = re.compile(r"(?i)n't\b")
_CANNOT = re.compile(r"(?i)\bcannot\b")
_THOUSANDS = re.compile(r"^\d{1,3}(,\d{3})+$")
_SENTENCE_END = frozenset(".!?;")
_MERIDIEM = frozenset({"am", "pm"})
_PHRASAL_REACH = 4  # "turn the living room lights on": the particle within 4 words


@dataclass(frozen=True)
class Signature:
    """What the guard compares of one text."""

    negation_parity: int
    numbers: frozenset[str]
    entities: frozenset[str]  # stems of the text's named entities
    stems: frozenset[str]  # stems of all its words
    contrasts: frozenset[tuple[int, int]]  # (group, member) of its words in the contrasts
    questions: frozenset[str]
    directions: frozenset[tuple[str, str, frozenset[str]]]  # (marker, word after, words before)


def signature(text: str) -> Signature:
    tokens = _tokens(text)
    words = [w for t in tokens if t[0].isalpha() for w in t.lower().split("-")]
    stems = frozenset(stem(w) for w in words) | {
        stem(t.lower().replace("-", "")) for t in tokens if "-" in t
    }
    phrasal = _phrasal(words)
    return Signature(
        negation_parity=sum(1 for w in words if w in NEGATIONS) % 2,
        numbers=_numbers(tokens),
        entities=_entities(tokens),
        stems=stems | phrasal,
        contrasts=frozenset(m for s in stems | phrasal for m in _CONTRASTS.get(s, ())),
        questions=_questions(words),
        directions=_directions(words),
    )


def agree(a: Signature, b: Signature) -> bool:
    """True when nothing suggests that ``a`` and ``b`` ask for different answers."""
    return (
        a.negation_parity == b.negation_parity
        and a.numbers == b.numbers
        and _same_question(a.questions, b.questions)
        and _named_in(a.entities, b.stems)
        and _named_in(b.entities, a.stems)
        and not _opposed(a, b)
        and not _swapped(a, b)
    )


def stem(word: str) -> str:
    """A crude English stem, the same for ``close``, ``closed``, ``closes``, ``closing``."""
    word = IRREGULAR.get(word, word)
    for suffix in ("ing", "ed", "es", "est", "er", "s", "ly"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "aeiouls":
                word = word[:-1]  # bigger -> big, running -> run
            break
    if len(word) > 3 and word.endswith("e"):
        word = word[:-1]
    return word


def _tokens(text: str) -> list[str]:
    text = text.replace("\u2019", "'")
    text = _CANNOT.sub("can not", _NOT_CONTRACTION.sub(" not", text))
    return _TOKEN.findall(_CLITIC.sub("", text))


# -- numbers -------------------------------------------------------------------------------


def _numbers(tokens: list[str]) -> frozenset[str]:
    found: list[str] = []
    run: list[int] = []  # consecutive number words: "twenty five", "a hundred"
    for i, token in enumerate(tokens):
        spelled = _spelled_number(token)
        if spelled is not None:
            run.extend(spelled)
            continue
        if run:
            found.append(str(_combine(run)))
            run = []
        value = _number_value(token, tokens[i + 1].lower() if i + 1 < len(tokens) else "")
        if value is not None:
            found.append(value)
    if run:
        found.append(str(_combine(run)))
    return frozenset(found)


def _spelled_number(token: str) -> list[int] | None:
    """``twenty``, ``twenty-five``: the values of a token made only of number words."""
    parts = token.lower().split("-")
    if all(p in NUMBER_WORDS for p in parts):
        return [NUMBER_WORDS[p] for p in parts]
    return None


def _number_value(token: str, following: str) -> str | None:
    lowered = token.lower()
    if lowered in ORDINAL_WORDS:
        return str(ORDINAL_WORDS[lowered])
    if token in ROMAN:
        return str(ROMAN[token])
    if not token[0].isdigit() and not token.startswith("$"):
        return None
    digits = re.sub(r"(st|nd|rd|th)?%?$", "", token.lstrip("$"))
    if ":" in digits or following in _MERIDIEM:
        return _clock(digits, following)
    if _THOUSANDS.match(digits):
        digits = digits.replace(",", "")
    try:
        return format(Decimal(digits.replace(",", ".")).normalize(), "f")
    except InvalidOperation:
        return digits


def _clock(digits: str, meridiem: str) -> str:
    hour_text, _, minute_text = digits.partition(":")
    try:
        hour, minute = int(hour_text), int(minute_text or 0)
    except ValueError:
        return digits
    if meridiem == "pm" and hour < 12:
        hour += 12
    elif meridiem == "am" and hour == 12:
        hour = 0
    return f"{hour:02d}:{minute:02d}"


def _combine(values: list[int]) -> int:
    total, current = 0, 0
    for value in values:
        if value == 100:
            current = max(current, 1) * 100
        elif value >= 1000:
            total += max(current, 1) * value
            current = 0
        else:
            current += value
    return total + current


# -- named entities ------------------------------------------------------------------------


def _entities(tokens: list[str]) -> frozenset[str]:
    found = set()
    at_start = True
    for piece in tokens:
        if piece in _SENTENCE_END:
            at_start = True
            continue
        starts_sentence, at_start = at_start, False
        if not piece[0].isalpha() or _is_number_like(piece) or piece == "I":
            continue
        name = piece.replace("-", "")
        if _looks_named(name, starts_sentence):
            found.add(stem(name.lower()))
    return frozenset(found)


def _is_number_like(token: str) -> bool:
    lowered = token.lower()
    return _spelled_number(token) is not None or lowered in ORDINAL_WORDS or token in ROMAN


def _looks_named(word: str, starts_sentence: bool) -> bool:
    if (len(word) > 1 and word.isupper()) or any(c.isupper() for c in word[1:]):
        return True  # an acronym or CamelCase
    if not word[0].isupper():
        return False
    return not starts_sentence or word.lower() not in SENTENCE_STARTERS


def _named_in(entities: frozenset[str], stems: frozenset[str]) -> bool:
    """Every entity occurs among ``stems``, allowing a short ending (Germany, German)."""
    return all(e in stems or any(_same_name(e, s) for s in stems) for e in entities)


def _same_name(a: str, b: str) -> bool:
    common = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), None)
    common = min(len(a), len(b)) if common is None else common
    return common >= 5 and len(a) - common <= 3 and len(b) - common <= 3


# -- contrasts -----------------------------------------------------------------------------


def _contrast_table() -> dict[str, frozenset[tuple[int, int]]]:
    """Each stem with the (group, member) places it has among the antonym pairs and the
    sibling groups: two texts contrast when they name different members of one group."""
    groups = [[[one], [other]] for one, other in ANTONYM_PAIRS]
    groups += [[member.split() for member in line.split("|")] for line in SIBLINGS]
    table: dict[str, set[tuple[int, int]]] = {}
    for g, members in enumerate(groups):
        for m, synonyms in enumerate(members):
            for word in synonyms:
                table.setdefault(stem(word), set()).add((g, m))
    return {word: frozenset(places) for word, places in table.items()}


_CONTRASTS = _contrast_table()


def _phrasal(words: list[str]) -> frozenset[str]:
    """``turn on``, ``switch the lights off``: the verb and its particle as one word."""
    found = set()
    for i, word in enumerate(words):
        if stem(word) in PHRASAL_VERBS:  # turn, turns, turned, turning
            for following in words[i + 1 : i + 1 + _PHRASAL_REACH]:
                if following in PHRASAL_PARTICLES:
                    found.add("turn" + following)
                    break
    return frozenset(found)


def _opposed(a: Signature, b: Signature) -> bool:
    """One names a member of a contrast group that the other does not, and the other
    names a member that the first does not; or one negates a word by prefix."""
    only_a, only_b = a.contrasts - b.contrasts, b.contrasts - a.contrasts
    groups_a = {group for group, _ in only_a}
    if any(group in groups_a for group, _ in only_b):
        return True
    mine, theirs = a.stems - b.stems, b.stems - a.stems
    return _prefix_negated(mine, theirs) or _prefix_negated(theirs, mine)


def _prefix_negated(mine: frozenset[str], theirs: frozenset[str]) -> bool:
    """``unsafe`` in one text where the other has ``safe`` (and not ``unsafe``)."""
    for word in mine:
        for prefix in NEGATING_PREFIXES:
            rest = word[len(prefix) :]
            if word.startswith(prefix) and len(rest) >= 3 and rest in theirs:
                return True
    return False


# -- questions and direction ---------------------------------------------------------------


def _questions(words: list[str]) -> frozenset[str]:
    found = {"who" if w == "whom" else w for w in words if w in STRONG_QUESTION_WORDS}
    for word, following in itertools.pairwise(words):
        if word in ("what", "which") and following in QUESTION_NOUNS:
            found.add(QUESTION_NOUNS[following])
        elif (word, following) in WHY_PHRASES:
            found.add("why")
    return frozenset(found)


def _same_question(a: frozenset[str], b: frozenset[str]) -> bool:
    return ("why" in a) == ("why" in b) and (a == b or not a or not b)


def _directions(words: list[str]) -> frozenset[tuple[str, str, frozenset[str]]]:
    found = set()
    for i, word in enumerate(words):
        if word not in DIRECTION_MARKERS:
            continue
        following = next((w for w in words[i + 1 :] if w not in SKIPPED_AFTER_MARKER), None)
        if following is not None:
            before = frozenset(stem(w) for w in words[:i])
            found.add((word, stem(following), before))
    return frozenset(found)


def _swapped(a: Signature, b: Signature) -> bool:
    """Across the same marker, each text has after it a word the other has before it."""
    return any(
        marker == other_marker and x != y and x in before_y and y in before_x
        for marker, x, before_x in a.directions
        for other_marker, y, before_y in b.directions
    )
