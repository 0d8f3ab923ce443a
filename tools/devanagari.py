"""Devanagari to Latin letters, as retailers would type the same words in Hinglish.

Order messages mix scripts ("parle g 250 दो case"). Common order words map to their usual
Latin spelling; anything else is transliterated letter by letter (an inherent "a" after each
consonant, none at the end of a word), close enough for fuzzy matching ("मैगी" -> "maigi").
"""

import re

from phrases import DEVANAGARI_WORDS as WORDS

CONSONANTS = dict(
    zip(
        "कखगघङचछजझञटठडढणतथदधनपफबभमयरलवशषसह",
        [
            "k",
            "kh",
            "g",
            "gh",
            "n",
            "ch",
            "chh",
            "j",
            "jh",
            "n",
            "t",
            "th",
            "d",
            "dh",
            "n",
            "t",
            "th",
            "d",
            "dh",
            "n",
            "p",
            "ph",
            "b",
            "bh",
            "m",
            "y",
            "r",
            "l",
            "v",
            "sh",
            "sh",
            "s",
            "h",
        ],
        strict=True,
    )
)
VOWELS = dict(
    zip("अआइईउऊएऐओऔऋ", ["a", "aa", "i", "ee", "u", "oo", "e", "ai", "o", "au", "ri"], strict=True)
)
SIGNS = dict(zip("ािीुूेैोौृ", ["a", "i", "i", "u", "u", "e", "ai", "o", "au", "ri"], strict=True))
VIRAMA, NASAL = "्", "ंँ"
WORD = re.compile(r"[\u0900-\u097f]+")


def _letters(word: str) -> str:
    out = []
    for index, char in enumerate(word):
        following = word[index + 1] if index + 1 < len(word) else ""
        if char in CONSONANTS:
            out.append(CONSONANTS[char])
            if (
                following
                and following not in SIGNS
                and following != VIRAMA
                and following not in NASAL
            ):
                out.append("a")
        elif char in SIGNS:
            out.append(SIGNS[char])
        elif char in VOWELS:
            out.append(VOWELS[char])
        elif char in NASAL:
            out.append("n")
    return "".join(out)


def to_latin(text: str) -> str:
    return WORD.sub(lambda m: WORDS.get(m.group(0)) or _letters(m.group(0)), text)
