"""PII is redacted before any prompt: phones masked, people generalised, addresses cut."""

from llm.redact import PiiContext, redact

CONTEXT = PiiContext.build(
    names=["Ramesh Patil", "Sunita More"],
    addresses={"Shop 4, Paud Road, Kothrud, Pune 411038": "Pune"},
)


def test_phones_keep_country_code_and_last_four_digits():
    text = "call (+91 98220 13210), 9822043210 or +1 415 555 2671"
    assert redact(text) == "call (+91****3210), +91****3210 or +1****2671"


def test_numbers_that_are_not_phones_stay():
    text = "order #1234: 2 cs Parle-G 250g, 10000 cases, INR 1,440 on 2026-11-28, pin 411038"
    assert redact(text) == text


def test_known_people_and_addresses():
    text = "RAMESH PATIL of Shop 4, Paud Road, Kothrud, Pune 411038 and sunita more"
    assert redact(text, CONTEXT) == "Store Owner of Pune and Store Owner"


def test_names_inside_other_words_are_left():
    context = PiiContext.build(names=["Sai Ram"], addresses={})
    assert redact("Sai Ramesh Stores", context) == "Sai Ramesh Stores"
