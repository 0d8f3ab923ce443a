"""PII redaction before any prompt (seed section 6).

Phone numbers are masked to country code and last four digits (`+91****3210`), full street
addresses are cut to their city, and the names of the company's stores and people become
stand-ins of their kind: "Store Owner A" for a store's owner (the seed's "Store Owner"), "Rep B",
"Person C" for other users, "Store D" for a store. A stand-in names one record within a company,
so what the model writes with it can be put back (`restore`): the analytics agent can filter on
"Rep B" without the model ever seeing the rep's name, and replies show real names. `redact()` is
the one function for this; `LLMService` applies it to every message it sends.

Names are found as whole word sequences (any case, any punctuation between the words) by
looking word runs up in a table, not with one regular expression of every name, so a company
with thousands of stores redacts a long prompt in milliseconds.
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property

import phonenumbers

WORD = re.compile(r"\w+")
STAND_IN = re.compile(r"\b(Store Owner|Rep|Person|Store) ([A-Z]{1,3})\b")


def _key(text: str) -> tuple[str, ...]:
    return tuple(word.lower() for word in WORD.findall(text))


def _letters(number: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA: short labels for stand-ins."""
    label = ""
    number += 1
    while number:
        number, rest = divmod(number - 1, 26)
        label = chr(ord("A") + rest) + label
    return label


@dataclass(frozen=True)
class PiiContext:
    """What counts as personal data for one company: names and addresses from its records."""

    owners: frozenset[str] = frozenset()  # store owners
    reps: frozenset[str] = frozenset()
    people: frozenset[str] = frozenset()  # other users
    stores: frozenset[str] = frozenset()  # store names
    addresses: Mapping[str, str] = field(default_factory=dict)  # address -> its city
    region: str = "IN"

    @classmethod
    def build(
        cls,
        names: Iterable[str] = (),
        addresses: Mapping[str, str] | None = None,
        region: str = "IN",
        *,
        reps: Iterable[str] = (),
        stores: Iterable[str] = (),
        owners: Iterable[str] = (),
    ) -> "PiiContext":
        """`names` are people in general; names of two letters or fewer are not redacted."""

        def kept(values: Iterable[str]) -> frozenset[str]:
            return frozenset(v.strip() for v in values if len(v.strip()) > 2 and _key(v))

        return cls(kept(owners), kept(reps), kept(names), kept(stores), dict(addresses or {}),
                   region)  # fmt: skip

    @cached_property
    def _table(self) -> tuple[dict[tuple[str, ...], str], int]:
        """Word sequence -> what replaces it; and the longest sequence."""
        table: dict[tuple[str, ...], str] = {}
        for address, city in self.addresses.items():
            if _key(address):
                table[_key(address)] = city
        for kind, names in (("Store", self.stores), ("Store Owner", self.owners),
                            ("Rep", self.reps), ("Person", self.people)):  # fmt: skip
            for number, name in enumerate(sorted(names)):
                table.setdefault(_key(name), f"{kind} {_letters(number)}")
        return table, max((len(key) for key in table), default=0)

    @cached_property
    def _names(self) -> dict[str, str]:
        """Stand-in -> the name it stands for."""
        table, _ = self._table
        originals = {_key(name): name for names in (self.stores, self.owners, self.reps,
                                                     self.people) for name in names}  # fmt: skip
        return {stand_in: originals[key] for key, stand_in in table.items() if key in originals}


def mask_phones(text: str, region: str = "IN") -> str:
    pieces, last = [], 0
    matches = phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.VALID)
    for match in matches:
        national = str(match.number.national_number)
        opening = match.raw_string[: len(match.raw_string) - len(match.raw_string.lstrip("("))]
        pieces.append(text[last : match.start] + opening)  # "(+91 98...)" keeps its "("
        pieces.append(f"+{match.number.country_code}****{national[-4:]}")
        last = match.end
    pieces.append(text[last:])
    return "".join(pieces)


def redact(text: str, pii: PiiContext | None = None) -> str:
    """The text with phones masked, known addresses cut to the city and known names replaced
    by their stand-ins."""
    pii = pii or PiiContext()
    table, longest = pii._table
    if longest:
        words = list(WORD.finditer(text))
        pieces, last, index = [], 0, 0
        while index < len(words):
            for size in range(min(longest, len(words) - index), 0, -1):
                run = words[index : index + size]
                found = table.get(tuple(word.group(0).lower() for word in run))
                if found is not None:
                    pieces += [text[last : run[0].start()], found]
                    last, index = run[-1].end(), index + size
                    break
            else:
                index += 1
        text = "".join([*pieces, text[last:]])
    return mask_phones(text, pii.region)


def restore(text: str, pii: PiiContext | None) -> str:
    """The text with every stand-in put back as the name it stands for."""
    if pii is None:
        return text
    names = pii._names
    return STAND_IN.sub(lambda m: names.get(m.group(0), m.group(0)), text)
