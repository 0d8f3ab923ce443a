"""The language data in one place: each list matches what it must and not what it must not, and
the lists agree with each other (a number the parser reads can be written in Devanagari, said
aloud and heard; yes is never no)."""

import pytest

import phrases
from agents.order import yes_or_no
from tools.devanagari import to_latin
from tools.hearing import tidy
from tools.order_parser import normalise, quantities


@pytest.mark.parametrize(
    ("pattern", "matches", "misses"),
    [
        (phrases.GREETING, ["hi", "Namaste ji", "ok thanks", "good morning bhaiya"],
         ["hi 2 cs parle g", "namaste, where is my order"]),
        (phrases.ORDER_ASKS, ["where is my order", "maal kab aayega", "2 cs parle g bhejo"],
         ["top 5 stores", "coach me"]),
        (phrases.SCHEME_ASKS, ["koi scheme hai?", "any offers on maggi", "1+1 on surf"],
         ["where is my order"]),
        (phrases.FIGURE_ASKS, ["top 5 stores last week", "kitna becha kal"], ["hi bhai"]),
        (phrases.COACHING_ASKS, ["coach me", "retailer ko kaise convince karu"], ["my tasks"]),
        (phrases.TASK_ASKS, ["my tasks today", "aaj ke tasks", "stores to visit"], ["coach me"]),
        (phrases.OFF_TOPIC, ["who won the cricket match", "ek joke sunao"], ["2 cs maggi"]),
        (phrases.DRAFT_SCHEME, ["draft a scheme for Maggi", "Diwali offer banao", "bana do offer"],
         ["any scheme on maggi?"]),
        (phrases.VOICE_SWITCH, ["voice on", "/voice replies off"], ["voice note bhej raha hoon"]),
        (phrases.STOP_PLAYING, ["stop", "bas!", "band karo"], ["stop by tomorrow with 2 cases"]),
        (phrases.DONE, ["done 2", "2 done", "task #3 ho gaya"], ["done 3 calls today"]),
        (phrases.CANCEL_ORDER, ["cancel order #1234", "cancel order no. 1007"],
         ["cancel", "cancel 2 cs parle g 250"]),
        (phrases.HINGLISH, ["maal kab aayega bhai"], ["where is my order"]),
        (phrases.CREDIT_ASKS, ["my credit limit", "kitna baaki hai", "udhaar kitna hai",
                               "how much do I owe", "credit of Sai Kirana", "held orders"],
         ["2 cs parle g", "where is my order", "my tasks",
          "what should I say when a retailer demands extra credit days?"]),
        (phrases.CREDIT_SURE, ["which stores owe the most", "held orders", "udhaar kitna hai"],
         ["retailer udhaar maangta hai, kya bolu?", "credit days kaise badhau"]),
        (phrases.CHANGE_ASKS, ["delete all orders from last week", "please remove store S001",
                               "change the price of maggi to 12", "drop table stores",
                               "purana order hata do"],
         ["change in sales vs last month", "update me on sales", "which stores were updated",
          "what changed in sales this month", "drop stores with zero sales",
          "remove store S001 from the list"]),
    ],
)  # fmt: skip
def test_each_phrase_matches_its_messages_and_no_others(pattern, matches, misses):
    assert [text for text in matches if not pattern.search(text)] == []
    assert [text for text in misses if pattern.search(text)] == []


def test_a_script_we_do_not_read_is_told_apart_from_ours():
    assert phrases.unread_script("விற்பனை எவ்வளவு")  # Tamil
    assert phrases.unread_script("কত বিক্রি হয়েছে")  # Bengali
    for ours in ("sales kitni hui", "बिक्री कितनी हुई", "Maggi 2 ctn 🙏", "👍", "Parle-G விற்பனை",
                 "𝐇𝐞𝐥𝐥𝐨 𝐛𝐡𝐚𝐢", "ｓａｌｅｓ"):  # fmt: skip
        assert not phrases.unread_script(ours), ours


def test_yes_and_no_never_overlap_and_are_read_in_any_script():
    assert not phrases.YES & phrases.NO
    assert [yes_or_no(text) for text in ("haan ji", "हाँ", "Yes, please place it.")] == [True] * 3
    assert [yes_or_no(text) for text in ("nahi", "नहीं", "no thanks")] == [False] * 3
    assert yes_or_no("no, 2 cases of Maggi") is None  # a new order, not an answer


def test_every_hindi_number_the_parser_reads_can_be_typed_in_devanagari():
    in_devanagari = {
        phrases.NUMBER_WORDS[latin]
        for latin in phrases.DEVANAGARI_WORDS.values()
        if latin in phrases.NUMBER_WORDS
    }
    assert set(phrases.NUMBER_WORDS.values()) <= in_devanagari
    assert quantities(normalise(to_latin("ग्यारह केस")).split()) == [(11, "case")]


def test_every_spoken_number_is_heard_next_to_a_unit():
    for word in phrases.SPOKEN_NUMBERS:
        assert tidy(f"{word} grand") == f"{word} gram", word


def test_units_are_one_kind_each():
    kinds = (phrases.CASE_UNITS, phrases.PIECE_UNITS, phrases.DOZEN_UNITS)
    assert sum(len(kind) for kind in kinds) == len(phrases.ALL_UNITS)
