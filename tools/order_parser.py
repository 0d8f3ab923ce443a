"""The fast, deterministic reading of an order message: quantities, units, sizes, products.

"bhaiya 2 cs parle g 250 aur ek peti coke 750ml" becomes two lines with SKUs, quantities in
pieces and a confidence each. Products are found by their catalog aliases (exact, longest
first) and by fuzzy matching for typos (rapidfuzz); a generic name shared by several sizes is
narrowed by a size in the message, or left ambiguous with its candidates. Quantities are digits
or English/Hindi number words; units are cases, pieces or dozens. Spoken English (a transcribed
voice note) is read too: "twenty four", "a hundred", sizes said as "two fifty gram" or "one
twenty five ml", "half a case". Lines below 0.8 confidence are for the LLM or a clarifying
question; nothing here guesses.
"""

import re
from dataclasses import dataclass, field
from typing import Literal

from rapidfuzz import fuzz, process

from phrases import (
    ALL_UNITS,
    ARTICLES,
    CASE_UNITS,
    DOZEN_UNITS,
    FILLER,
    HALF_WORDS,
    HEADER_WORDS,
    JOINERS,
    NUMBER_WORDS,
    PIECE_UNITS,
    SIZE_UNIT,
    SPOKEN_NUMBERS,
    WEAK_NUMBERS,
)
from tools.devanagari import to_latin

CONFIDENT = 0.8

_SPOKEN_WORD = "|".join(sorted(SPOKEN_NUMBERS, key=len, reverse=True))
# "twenty four", "a hundred and fifty", "two point two five"; an "and" between two numbers
# ("five and three") still separates two items.
SPOKEN_RUN = re.compile(
    rf"\b(?:an?\s+(?=hundred\b))?(?:{_SPOKEN_WORD})"
    rf"(?:(?:(?<=hundred)\s+and)?\s+(?:point\s+)?(?:{_SPOKEN_WORD}))*\b"
)
# "half kg", "aadha kilo", "quarter litre": a pack size, not half a case.
FRACTION_SIZE = re.compile(
    r"\b(half|aadha|adha|aadhi|adhi|quarter|pav|paav)\s+(?:a\s+)?"
    r"(kgs|kg|kilos|kilo|kilograms|kilogram|ltrs|ltr|litres|litre|liters|liter)\b"
)
# "the ten rupees one", "the small one": "one" is the pack, not a count.
THE_ONE = re.compile(r"\b((?:the|that|this)\s+(?:[\w']+\s+){0,3}?)one\b(?=\s*(?:[,.;!?]|$))")
SIZE = re.compile(
    r"(\d+(?:\.\d+)?)\s*(kgs|kg|kilograms|kilogram|kilos|kilo|grams|gram|gms|gm|g|ltrs|ltr|"
    r"litres|litre|liters|liter|lt|l|millilitres|millilitre|milliliters|milliliter|mls|ml)"
    r"(?![a-z])"
)
GLUED_UNIT = re.compile(
    r"(?<![\d.])(\d+)(cs|case|cases|ctn|ctns|pcs|pc|pkt|pkts|box|dozen|doz|dz|peti|nos|no|c)"
    r"(?![a-z])"
)
# A price point names a pack ("kurkure 20 rs", "parle g 10 wala"): it is no quantity.
PRICE = re.compile(
    r"(?:₹|(?<![a-z])rs\.?|(?<![a-z])inr)\s*(\d+)(?![\d.])"
    r"|(?<![\d.])(\d+)\s*(?:/-|₹|rs\b\.?|rupees|rupaye|rupay|rupee|wala|wali|vala|vali)"
)
PRICE_TOKEN = re.compile(r"\d+rs")
LIST_MARKER = re.compile(r"(?m)^\s*\d{1,2}\s*[.)]\s+")
SEPARATORS = re.compile(r"[,;:/\n+&]|\s-\s|\s(?:aur|and|or|also|plus|n|ani|aani)\s|\.\s")


@dataclass(frozen=True)
class CatalogItem:
    sku: str
    name: str
    category: str
    pack_size: str
    units_per_case: int
    price_paise: int
    mrp_paise: int
    aliases: tuple[str, ...] = ()

    @classmethod
    def of(cls, product) -> "CatalogItem":
        """From a `db.models.Product`."""
        return cls(
            product.sku,
            product.name,
            product.category,
            product.pack_size,
            product.units_per_case,
            product.price_paise,
            product.mrp_paise,
            tuple(product.aliases),
        )


@dataclass
class ParsedLine:
    text: str  # the words that named the product
    candidates: list[str]  # SKUs it may be, best first; one when resolved
    quantity: int | None  # as written, in `unit`
    unit: Literal["case", "piece"] = "piece"
    pieces: int | None = None
    confidence: float = 0.0
    problem: str | None = None  # why it is not confident: ambiguous, unknown, no quantity

    @property
    def sku(self) -> str | None:
        return self.candidates[0] if len(self.candidates) == 1 else None


@dataclass
class ParsedOrder:
    lines: list[ParsedLine] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)  # words that looked like a product we lack

    @property
    def confident(self) -> bool:
        return (
            bool(self.lines)
            and not self.unknown
            and all(line.confidence >= CONFIDENT for line in self.lines)
        )


def normalise(text: str) -> str:
    """Lower case, Latin letters, sizes and prices written one way ("250 gm" -> "250g",
    "rs 20" -> "20rs"), units split from numbers, list numbering dropped."""
    text = to_latin(LIST_MARKER.sub(" ", text)).lower().replace("’", "'").replace("&", " and ")
    text = re.sub(r"(?<=[a-z0-9])-(?=[a-z0-9])", " ", text)  # parle-g -> parle g, 10-rupee
    text = FRACTION_SIZE.sub(_fraction_size, text)
    text = THE_ONE.sub(r"\1", text)
    text = SPOKEN_RUN.sub(lambda m: _spoken_number(m.group(0).split()), text)
    text = re.sub(r"(?<=[a-z])(?=\d)", " ", text)  # parleg250 -> parleg 250
    text = PRICE.sub(lambda m: f" {m.group(1) or m.group(2)}rs ", text)
    text = re.sub(r"\s[-–—]+\s", " , ", text)  # "coke 5 cs - sprite 2 cs"
    text = SIZE.sub(
        lambda m: f" {_number(m.group(1))}{SIZE_UNIT.get(m.group(2), m.group(2))} ", text
    )
    text = GLUED_UNIT.sub(r" \1 \2 ", text)
    text = re.sub(r"[^\w\s.,;:+&/\n]", " ", text)
    text = re.sub(r"(?<!\d)\.|\.(?!\d)", " . ", text)
    return re.sub(r"[ \t]+", " ", text).strip()


def _fraction_size(match: re.Match) -> str:
    """ "half kg" -> "500g", "quarter litre" -> "250ml"."""
    amount = 250 if match.group(1) in {"quarter", "pav", "paav"} else 500
    return f"{amount}{'g' if match.group(2).startswith('k') else 'ml'}"


def _spoken_number(words: list[str]) -> str:
    """A run of English number words as the digits it says: "twenty four" -> "24", "five
    hundred" -> "500", "a hundred" -> "100", "two point two five" -> "2.25". Sizes are said in
    pairs, "two fifty" -> "250" and "one twenty five" -> "125"; a count before them stays
    apart ("two seven fifty" -> "2 750")."""
    numbers: list[int] = []
    decimals: dict[int, str] = {}  # index of a number -> the digits said after "point"
    after_point = False
    for word in words:
        if word in {"a", "an", "and"}:  # "a hundred and ten"
            continue
        if word == "point":
            after_point = True
            continue
        value = SPOKEN_NUMBERS[word]
        last = numbers[-1] if numbers else None
        if after_point and value < 10:
            decimals[len(numbers) - 1] = decimals.get(len(numbers) - 1, "") + str(value)
            continue
        after_point = False
        if last is not None and value == 100 and 0 < last < 10:
            numbers[-1] = last * 100  # five hundred
        elif last is not None and last % 100 == 0 and value < 100:
            numbers[-1] = last + value  # hundred (and) twenty
        elif last is not None and last % 10 == 0 and last % 100 >= 20 and 0 < value < 10:
            numbers[-1] = last + value  # twenty four, hundred twenty five
        else:
            numbers.append(value)
    said: list[str] = []
    index = len(numbers) - 1
    while index >= 0:  # pairs from the right: "two seven fifty" is 2 of 750
        number, before = numbers[index], numbers[index - 1] if index else 0
        if 10 <= number < 100 and 0 < before < 10 and not {index, index - 1} & set(decimals):
            said.append(str(before * 100 + number))
            index -= 2
        else:
            said.append(f"{number}.{decimals[index]}" if index in decimals else str(number))
            index -= 1
    return " ".join(reversed(said))


def _number(value: str) -> str:
    number = float(value)
    return str(int(number)) if number.is_integer() else str(number)


def normalise_size(pack_size: str) -> str:
    return normalise(pack_size).replace(" ", "")


class OrderParser:
    """Reads order messages against one company's catalog."""

    def __init__(self, catalog: list[CatalogItem]) -> None:
        self.items = {item.sku: item for item in catalog}
        self.by_alias: dict[tuple[str, ...], list[str]] = {}
        joined = set()
        for item in catalog:
            for name in {item.name, item.sku, *item.aliases}:
                key = tuple(normalise(name).replace(".", " ").split())
                if set(key) & JOINERS:  # "hide and seek" must survive the split at "and"
                    joined.add(" ".join(key))
                    key = ("_".join(key),)
                if key and item.sku not in self.by_alias.setdefault(key, []):
                    self.by_alias[key].append(item.sku)
        self.joined = (
            re.compile(
                "|".join(
                    rf"(?<!\w){re.escape(j)}(?!\w)" for j in sorted(joined, key=len, reverse=True)
                )
            )
            if joined
            else None
        )
        self.longest = max((len(k) for k in self.by_alias), default=1)
        self.alias_texts = [" ".join(key) for key in self.by_alias]
        self.sizes = {sku: normalise_size(item.pack_size) for sku, item in self.items.items()}
        # "twenty five star" is 20 Five Star, not 25 "star": names that start with a number word
        # are written as digits before a count can swallow their number.
        numbered = sorted(
            {
                name.lower()
                for item in catalog
                for name in (item.name, *item.aliases)
                if re.split(r"[\s-]+", name.lower().strip())[0] in SPOKEN_NUMBERS
            },
            key=len,
            reverse=True,
        )
        spellings = (r"[\s-]+".join(map(re.escape, name.split())) for name in numbered)
        self.numbered = (
            re.compile(
                "|".join(rf"(?<!\w){spelling}(?!\w)" for spelling in spellings), re.IGNORECASE
            )
            if numbered
            else None
        )

    def parse(self, text: str) -> ParsedOrder:
        order = ParsedOrder()
        if self.numbered is not None:
            text = self.numbered.sub(lambda m: normalise(m.group(0)), text)
        text = normalise(text)
        if self.joined is not None:
            text = self.joined.sub(lambda m: m.group(0).replace(" ", "_"), text)
        segments: list[list[str]] = []
        for segment in SEPARATORS.split(f" {text} "):
            tokens = [t for t in segment.replace(".", " ").split() if t]
            described = quantities(tokens) or any(_descriptor(t) for t in tokens)
            quantity_only = described and not any(self._wordy(t) for t in tokens)
            if segments and quantity_only and not self._mentions(tokens):
                # "parle g 250 - 2 cs", "Parle-G, 250 grams.": the quantity or size of the last one
                segments[-1] += tokens
            elif tokens:
                segments.append(tokens)
        for tokens in segments:
            self._parse_segment(tokens, order)
        return order

    def _parse_segment(self, tokens: list[str], order: ParsedOrder) -> None:
        mentions = self._mentions(tokens)
        covered = {i for start, end, *_ in mentions for i in range(start, end)}
        leftovers = [t for i, t in enumerate(tokens) if i not in covered and self._wordy(t)]
        if not mentions:
            header = HEADER_WORDS & set(tokens) and not quantities(tokens)
            if leftovers and not header:
                order.unknown.append(" ".join(leftovers))
            return
        if len(leftovers) >= 2:  # a product-like phrase we could not place
            order.unknown.append(" ".join(leftovers))
        starts = [start for start, *_ in mentions]
        ends = [end for _, end, *_ in mentions]
        # "2 cs parle g 3 cs coke" names quantities first; "parle g 2 cs, coke 3 cs" after.
        prefix = bool(quantities(tokens[: starts[0]]))
        for index, (start, end, skus, score) in enumerate(mentions):
            before = tokens[ends[index - 1] if index else 0 : start]
            after = tokens[end : starts[index + 1] if index + 1 < len(starts) else len(tokens)]
            own = before + after if len(mentions) == 1 else before if prefix else after
            if not quantities(own) and self._number_in_name(tokens[start:], end - start, skus):
                end -= 1
                own = [tokens[end], *own]
            own = self._bare_sizes(own, skus)
            found = quantities(own)
            if not found and before and before[-1] in ARTICLES:  # "a large coke"
                found = [(1, "piece")]
            descriptors = [t for t in own if _descriptor(t)]
            order.lines.append(self._line(tokens[start:end], skus, score, found, descriptors))

    def _bare_sizes(self, tokens: list[str], skus: list[str]) -> list[str]:
        """ "sprite 750 2 cs": a bare number that is a candidate's pack size, beside another
        number, is the size ("750ml"), not a second quantity. A number before a unit is the
        quantity ("2 peti coke 750", though 2L is a coke too), unless it follows another bare
        number ("2 750 cases" may be either way round)."""
        if len([t for t in tokens if t.isdigit() or t in NUMBER_WORDS]) < 2:
            return tokens
        sizes = {
            re.match(r"[\d.]+", self.sizes[sku]).group(0): self.sizes[sku]
            for sku in skus
            if re.match(r"[\d.]+", self.sizes[sku])
        }
        read = []
        for index, token in enumerate(tokens):
            after = tokens[index + 1] if index + 1 < len(tokens) else ""
            counted = after in ALL_UNITS and not (index and tokens[index - 1].isdigit())
            read.append(sizes.get(token, token) if token.isdigit() and not counted else token)
        return read

    def _number_in_name(self, tokens: list[str], end: int, skus: list[str]) -> bool:
        """ "boroline 20 nos": the name (here the SKU code BOROLINE20) ends in a number that
        names nothing the rest of it does not, and a unit follows it: the number is the
        quantity."""
        name, following = tokens[:end], tokens[end] if end < len(tokens) else ""
        return (
            len(name) > 1
            and name[-1].isdigit()
            and following in ALL_UNITS
            and set(self.by_alias.get(tuple(name[:-1]), ())) == set(skus)
        )

    def _wordy(self, token: str) -> bool:
        return (
            token.isalpha()
            and len(token) > 2
            and token not in FILLER
            and token not in NUMBER_WORDS
            and token not in CASE_UNITS | PIECE_UNITS | DOZEN_UNITS
            and token not in HALF_WORDS
        )

    def _mentions(self, tokens: list[str]) -> list[tuple[int, int, list[str], float]]:
        """Product mentions as (start, end, candidate SKUs, match score 0..1), in order."""
        found, i = [], 0
        while i < len(tokens):
            for length in range(min(self.longest, len(tokens) - i), 0, -1):
                skus = self.by_alias.get(tuple(tokens[i : i + length]))
                if skus and not (length == 1 and self._is_quantityish(tokens[i])):
                    found.append((i, i + length, list(skus), 1.0))
                    i += length
                    break
            else:
                i += 1
        return self._fuzzy_mentions(tokens, found)

    def _is_quantityish(self, token: str) -> bool:
        return token.isdigit() or token in NUMBER_WORDS or bool(SIZE.fullmatch(token))

    def _fuzzy_mentions(self, tokens, found):
        """Typos: windows of unplaced words scored against every alias."""
        covered = {i for start, end, *_ in found for i in range(start, end)}
        i = 0
        while i < len(tokens):
            if i in covered or not self._wordy(tokens[i]):
                i += 1
                continue
            best = None
            for length in range(min(4, len(tokens) - i), 0, -1):
                window = tokens[i : i + length]
                if any(j in covered for j in range(i, i + length)):
                    continue
                phrase = " ".join(window)
                if len(phrase) < 4:
                    continue
                match = process.extractOne(
                    phrase, self.alias_texts, scorer=fuzz.ratio, score_cutoff=82
                )
                if match and (best is None or match[1] > best[2]):
                    best = (length, match[0], match[1])
            if best is None:
                i += 1
                continue
            length, alias, score = best
            found.append((i, i + length, list(self.by_alias[tuple(alias.split())]), score / 100))
            covered.update(range(i, i + length))
            i += length
        return self._sharpen(tokens, _merge_adjacent(sorted(found)))

    def _sharpen(self, tokens: list[str], mentions: list[tuple]) -> list[tuple]:
        """ "dery milk chota": a name shared by several packs, followed by words that make one
        of the packs' own aliases, takes those words in."""
        sharpened = []
        for index, (start, end, skus, score) in enumerate(mentions):
            limit = mentions[index + 1][0] if index + 1 < len(mentions) else len(tokens)
            while limit > end and not all(self._wordy(t) for t in tokens[end:limit]):
                limit -= 1  # only words: sizes, prices and quantities are read elsewhere
            if len(skus) > 1:
                own = [
                    a for a in self.alias_texts if set(self.by_alias[tuple(a.split())]) & set(skus)
                ]
                for stop in range(min(end + 2, limit), end, -1):
                    match = process.extractOne(
                        " ".join(tokens[start:stop]), own, scorer=fuzz.ratio, score_cutoff=86
                    )
                    if match and len(self.by_alias[tuple(match[0].split())]) == 1:
                        skus, end = self.by_alias[tuple(match[0].split())], stop
                        break
            sharpened.append((start, end, skus, score))
        return sharpened

    def _line(self, words, skus, score, found, descriptors) -> ParsedLine:
        candidates = self._narrow(skus, descriptors)
        line = ParsedLine(" ".join(words), candidates or skus, None)
        confidence = 0.95 if score == 1.0 else 0.9 * score
        if not candidates:
            line.problem, confidence = "size not sold", min(confidence, 0.4)
        elif len(candidates) > 1:
            line.problem, confidence = "ambiguous", min(confidence, 0.5)
        if len(found) > 1:
            line.problem, confidence = "several quantities", min(confidence, 0.5)
        elif not found:
            line.problem, confidence = line.problem or "no quantity", min(confidence, 0.5)
        if found:
            quantity, unit = found[0]
            item = self.items[line.candidates[0]]
            if quantity is None:  # half a case
                quantity, unit = max(1, item.units_per_case // 2), "piece"
            line.quantity, line.unit = quantity, unit
            line.pieces = quantity * (item.units_per_case if unit == "case" else 1)
        line.confidence = round(confidence, 3)
        return line

    def _narrow(self, skus: list[str], descriptors: list[str]) -> list[str]:
        """Candidates that fit every size or price point written next to the product; none
        when the message names a pack we do not sell."""
        for token in descriptors:
            if PRICE_TOKEN.fullmatch(token):
                rupees = int(token[:-2])
                skus = [s for s in skus if self.items[s].mrp_paise == rupees * 100]
            else:
                skus = [s for s in skus if self.sizes[s] == token]
        return skus


def _descriptor(token: str) -> bool:
    """A pack size or price point: "250g", "20rs"."""
    return bool(SIZE.fullmatch(token) or PRICE_TOKEN.fullmatch(token))


def _merge_adjacent(mentions: list[tuple]) -> list[tuple]:
    """ "50 50" + "maska chaska" side by side name one product: join mentions that touch and
    share a candidate."""
    merged = []
    for start, end, skus, score in mentions:
        if merged and merged[-1][1] == start and set(merged[-1][2]) & set(skus):
            first = merged.pop()
            common = [sku for sku in first[2] if sku in skus]
            merged.append((first[0], end, common, min(first[3], score)))
        else:
            merged.append((start, end, skus, score))
    return merged


def quantities(tokens: list[str]) -> list[tuple[int | None, str]]:
    """Every (quantity, unit) written in these words; quantity None means half a case."""
    found = []
    for index, token in enumerate(tokens):
        following = tokens[index + 1] if index + 1 < len(tokens) else ""
        previous = tokens[index - 1] if index else ""
        if token in HALF_WORDS:  # "half case", "half a case", "half a dozen"
            unit = following
            if following in ARTICLES and index + 2 < len(tokens):
                unit = tokens[index + 2]
            if unit in CASE_UNITS:
                found.append((None, "case"))
            elif unit in DOZEN_UNITS:
                found.append((6, "piece"))
            continue
        if token.isascii() and token.isdigit():  # not "²" or "①", which int() refuses
            number = int(token)
            if number == 0:  # "0 case": no quantity to order
                continue
        elif token in ARTICLES and following in ALL_UNITS and previous not in HALF_WORDS:
            number = 1  # "a case of coke"
        elif token in NUMBER_WORDS and (token not in WEAK_NUMBERS or following in ALL_UNITS):
            number = NUMBER_WORDS[token]
        else:
            continue
        if _descriptor(following) and index + 2 < len(tokens):  # "2 750ml cases"
            following = tokens[index + 2]
        unit = following if following in ALL_UNITS else previous if previous in ALL_UNITS else ""
        if unit in DOZEN_UNITS:
            found.append((number * 12, "piece"))
        else:
            found.append((number, "case" if unit in CASE_UNITS else "piece"))
    return found
