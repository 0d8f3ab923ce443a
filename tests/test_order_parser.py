"""The fast path reads quantities, units, sizes, prices and products, and never guesses."""

import pytest

from tools.order_parser import CONFIDENT


def lines(parser, text):
    order = parser.parse(text)
    return [(line.sku, line.pieces) for line in order.lines], order.confident


@pytest.mark.parametrize(("text", "expected"), [
    ("2 cs parle g 250 aur ek peti coke 750ml", [("PG250", 96), ("COKE750", 24)]),
    ("parle g 250 - 2 cs, coke 750 3 ctn", [("PG250", 96), ("COKE750", 72)]),
    ("2 cs parle g 250 3 cs coke 750", [("PG250", 96), ("COKE750", 72)]),
    ("parleg250 2cs", [("PG250", 96)]),
    ("surf excel 1 kg teen pcs", [("SURF1KG", 3)]),
    ("hide & seek 2 dozen", [("HIDESEEK100", 24)]),
    ("kurkure ₹20 2 case", [("KURK75", 72)]),
    ("aadha case amul butter 100g", [("AMULBTR100", 30)]),
    ("1) maggi 280g 1 case\n2) maggi 70g 3 case", [("MAGGI280", 24), ("MAGGI70", 288)]),
    ("parle g 250 दो case और good day एक case", [("PG250", 96), ("GDCASH200", 36)]),
    ("sirf excel 500g 2", [("SURF500", 2)]),
])
def test_confident_readings(parser, text, expected):
    got, confident = lines(parser, text)
    assert sorted(got) == sorted(expected) and confident


@pytest.mark.parametrize(("text", "problem"), [
    ("2 case surf excel", "ambiguous"),  # 500g or 1kg?
    ("parle g 250 bhejo", "no quantity"),
    ("sprite 2 ltr 2 case", "size not sold"),
    ("santoor 4 pack 5 pkt", "several quantities"),
])
def test_unsure_readings_say_why(parser, text, problem):
    order = parser.parse(text)
    assert not order.confident
    assert order.lines[0].problem == problem and order.lines[0].confidence < CONFIDENT


def test_ambiguous_lines_keep_their_candidates(parser):
    line = parser.parse("5 case coke").lines[0]
    assert set(line.candidates) == {"COKE250", "COKE750", "COKE2L"} and line.sku is None


def test_products_we_do_not_sell_are_reported(parser):
    order = parser.parse("2 case parle g 250, nutella 2 jar")
    assert [line.sku for line in order.lines] == ["PG250"]
    assert order.unknown and not order.confident


def test_emoji_and_noise_find_nothing(parser):
    assert parser.parse("🙏🙏 👍").lines == []
    assert not parser.parse("hello bhaiya kaise ho").confident


def test_digits_of_other_scripts_are_not_quantities(parser):
    order = parser.parse("2 cs parle g 250 ² ①")
    assert [(line.sku, line.pieces) for line in order.lines] == [("PG250", 96)]
