"""The fast path reads quantities, units, sizes, prices and products, and never guesses."""

import pytest

from tools.order_parser import CONFIDENT, normalise


def lines(parser, text):
    order = parser.parse(text)
    return [(line.sku, line.pieces) for line in order.lines], order.confident


@pytest.mark.parametrize(
    ("text", "expected"),
    [
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
    ],
)
def test_confident_readings(parser, text, expected):
    got, confident = lines(parser, text)
    assert sorted(got) == sorted(expected) and confident


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("2 case surf excel", "ambiguous"),  # 500g or 1kg?
        ("parle g 250 bhejo", "no quantity"),
        ("sprite 2 ltr 2 case", "size not sold"),
        ("santoor 4 pack 5 pkt", "several quantities"),
        ("2 750 thums up cases", "size not sold"),  # 2 of 750ml, or 750 of 2L?
    ],
)
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


@pytest.mark.parametrize(
    ("spoken", "written"),
    [
        ("twenty-four pieces", "24 pieces"),
        ("a hundred and twenty", "120"),
        ("five and three", "5 and 3"),  # two items' counts
        ("five hundred gram", "500g"),
        ("two fifty ml", "250ml"),
        ("one twenty five ml", "125ml"),
        ("three seven fifty", "3 750"),
        ("two point two five litre", "2.25l"),
        ("half kg", "500g"),
        ("aadha kilo", "500g"),
        ("the ten rupees one.", "the 10rs ."),
        ("someone often", "someone often"),
    ],
)
def test_spoken_numbers_are_written_as_digits(spoken, written):
    assert normalise(spoken) == written


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("seventy two Tiger biscuit", [("TIGER100", 72)]),
        ("ninety-six pieces of Yippee", [("YIPPEE70", 96)]),
        ("a hundred and twenty Monaco", [("MONACO63", 120)]),
        ("sixteen packets of Bournvita five hundred grams", [("BOURN500", 16)]),
        ("one case Coca-Cola two fifty ml", [("COKE250", 24)]),
        ("three Dettol liquid one twenty five ml", [("DETLIQ125", 3)]),
        ("two bottles Pepsi two point two five litre", [("PEPSI225L", 2)]),
        ("two seven fifty Sprite cases", [("SPRITE750", 48)]),
        ("eleven Amul butter half kg", [("AMULBTR500", 11)]),
        ("three bags of Aashirvaad atta ten kilograms", [("AASH10KG", 3)]),
        ("forty Frooti ten rupees pack", [("FROOTI125", 40)]),
        ("Vim bar thirty rupees, two dozen", [("VIMBAR300", 24)]),
        ("a carton of Fanta", [("FANTA750", 24)]),
        ("half a case of Oreo", [("OREO120", 24)]),
        ("half a dozen Zandu balm", [("ZANDU8", 6)]),
        ("two cases of Lay's Magic Masala, the ten rupees one", [("LAYSMM25", 120)]),
        ("hmm okay so six Horlicks please", [("HORL500", 6)]),
        ("kindly send twelve Pears soap", [("PEARS125", 12)]),
        ("twenty Five Star, forty Seven Up", [("FIVESTAR22", 20), ("7UP750", 40)]),
    ],
)
def test_spoken_orders(parser, text, expected):
    """A voice note as the speech model transcribes it, number words and all."""
    got, confident = lines(parser, text)
    assert sorted(got) == sorted(expected) and confident


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2 cases of Parle-G 250 grams.", [("PG250", 96)]),
        ("Send 1 case of Thums Up, 750 ml.", [("TU750", 24)]),
        ("Okay, so 24 pieces of Good Day.", [("GDCASH200", 24)]),
        (
            "3 cartons of Coca-Cola 2 litres, and 1 carton of Sprite.",
            [("COKE2L", 27), ("SPRITE750", 24)],
        ),
        ("Hello? Yes, 10 packets of Haldiram's Moong Dal.", [("HALMOONG200", 10)]),
        ("I want 6 bottles of Harpic 500 ml, please.", [("HARPIC500", 6)]),
        ("2 cases of Maggi 70-gram.", [("MAGGI70", 192)]),
        ("Send 12 Kit-Kat.", [("KITKAT13", 12)]),
    ],
)
def test_whisper_style_transcripts(parser, text, expected):
    """Capitals, commas, full stops, hyphens and digits as Whisper writes them."""
    got, confident = lines(parser, text)
    assert sorted(got) == sorted(expected) and confident


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2 peti coca cola 750", [("COKE750", 48)]),  # 2 is the count, though 2L is a coke too
        ("3 750ml fanta cases", [("FANTA750", 72)]),
        ("boroline 20 nos", [("BOROLINE20", 20)]),  # the SKU code BOROLINE20 does not take the 20
    ],
)
def test_numbers_beside_units_are_counts(parser, text, expected):
    got, confident = lines(parser, text)
    assert sorted(got) == sorted(expected) and confident
