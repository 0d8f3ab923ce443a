"""PII is redacted before any prompt: phones masked, names replaced by stand-ins of their kind
that can be put back, addresses cut to the city."""

import time

from llm.redact import PiiContext, redact, restore
from tools.sql_guard import restore_names

CONTEXT = PiiContext.build(
    names=["Sunita More"],
    addresses={"Shop 4, Paud Road, Kothrud, Pune 411038": "Pune"},
    owners=["Ramesh Patil"],
    reps=["Vikram Singh"],
    stores=["Shree Ganesh Kirana", "Ganesh Stores"],
)


def test_phones_keep_country_code_and_last_four_digits():
    text = "call (+91 98220 13210), 9822043210 or +1 415 555 2671"
    assert redact(text) == "call (+91****3210), +91****3210 or +1****2671"


def test_numbers_that_are_not_phones_stay():
    text = "order #1234: 2 cs Parle-G 250g, 10000 cases, INR 1,440 on 2026-11-28, pin 411038"
    assert redact(text) == text


def test_known_people_stores_and_addresses():
    text = (
        "RAMESH PATIL of Shop 4, Paud Road, Kothrud, Pune 411038 and sunita more asked "
        "Vikram Singh about shree ganesh kirana; Ganesh Stores too"
    )
    assert redact(text, CONTEXT) == (
        "Store Owner A of Pune and Person A asked Rep A about Store B; Store A too"
    )


def test_stand_ins_are_put_back_and_unknown_ones_left():
    said = "Rep A beat Person A at Store B; Store Q is nobody"
    assert restore(said, CONTEXT) == (
        "Vikram Singh beat Sunita More at Shree Ganesh Kirana; Store Q is nobody"
    )
    assert restore(said, None) == said


def test_a_stand_in_in_sql_becomes_the_name_as_one_literal():
    context = PiiContext.build(reps=["D'Souza Anil"])
    sql = "SELECT r.name FROM reps r WHERE r.name = 'Rep A' AND r.code <> 'Rep A x'"
    restored = restore_names(sql, lambda text: restore(text, context), "postgres")
    assert restored == (
        "SELECT r.name FROM reps AS r WHERE r.name = 'D''Souza Anil' AND r.code <> "
        "'D''Souza Anil x'"
    )
    assert restore_names("SELECT nonsense FROM", str, "sqlite") == "SELECT nonsense FROM"


def test_thousands_of_names_redact_a_long_prompt_fast():
    stores = [f"Balaji Kirana {number}" for number in range(5000)]
    owners = [f"Owner Number{number} Patil" for number in range(5000)]
    context = PiiContext.build(owners=owners, stores=stores)
    text = (
        "Which of these sold most last week? " * 200 + "Balaji Kirana 4999 of Owner Number7 Patil"
    )
    redact(text, context)  # builds the table once
    started = time.perf_counter()
    redacted = redact(text, context)
    assert time.perf_counter() - started < 0.5
    assert "Balaji" not in redacted and "Patil" not in redacted
    assert restore(redacted, context) == text


def test_names_inside_other_words_are_left():
    context = PiiContext.build(names=["Sai Ram"], addresses={})
    assert redact("Sai Ramesh Stores", context) == "Sai Ramesh Stores"
