"""PII redaction before any prompt (seed section 6).

Phone numbers are masked to country code and last four digits (`+91****3210`), the names of
people we know (store owners, reps, users) become "Store Owner", and full street addresses are
cut to their city. `redact()` is the one function for this; the LLM client applies it to every
message it sends, so no prompt path can skip it.
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property

import phonenumbers

PERSON = "Store Owner"


@dataclass(frozen=True)
class PiiContext:
    """What counts as personal data for one company: names and addresses from its records."""

    names: frozenset[str] = frozenset()
    addresses: Mapping[str, str] = field(default_factory=dict)  # address -> city
    region: str = "IN"

    @classmethod
    def build(
        cls, names: Iterable[str], addresses: Mapping[str, str], region: str = "IN"
    ) -> "PiiContext":
        return cls(
            frozenset(n.strip() for n in names if len(n.strip()) > 2), dict(addresses), region
        )

    @cached_property
    def name_pattern(self) -> re.Pattern | None:
        if not self.names:
            return None
        alternatives = "|".join(re.escape(n) for n in sorted(self.names, key=len, reverse=True))
        return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)

    @cached_property
    def address_pattern(self) -> re.Pattern | None:
        if not self.addresses:
            return None
        keys = sorted(self.addresses, key=len, reverse=True)
        return re.compile("|".join(re.escape(a) for a in keys), re.IGNORECASE)


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
    """The text with phones masked, known people generalised and addresses cut to the city."""
    pii = pii or PiiContext()
    if pii.address_pattern is not None:
        lookup = {address.lower(): city for address, city in pii.addresses.items()}
        text = pii.address_pattern.sub(lambda m: lookup[m.group(0).lower()], text)
    if pii.name_pattern is not None:
        text = pii.name_pattern.sub(PERSON, text)
    return mask_phones(text, pii.region)
