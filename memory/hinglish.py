"""English glosses for the Hindi words retailers and reps mix into their messages.

The embedding model is English; "paisa nahi hai is mahine" means little to it. Queries keep their
own words and gain the English ones ("money payment ... month"), which lifts recall on
Hinglish questions without touching English ones.
"""

import re

GLOSSARY = {
    "paisa": "money payment", "paise": "money payment", "udhaar": "credit", "udhar": "credit",
    "bakaya": "outstanding dues", "hisaab": "account bill", "hisab": "account bill",
    "jama": "deposit pay", "vasooli": "collection", "wasooli": "collection",
    "maal": "stock goods", "godown": "storeroom stock", "saaman": "goods",
    "din": "days", "mahina": "month", "mahine": "month", "hafta": "week", "hafte": "week",
    "kal": "tomorrow", "abhi": "now", "baad": "later", "pehle": "first before",
    "kam": "less low", "zyada": "more high", "jyada": "more high", "thoda": "little",
    "poora": "full", "pura": "full", "aadha": "half", "khali": "empty",
    "nahi": "not no", "nahin": "not no", "mat": "do not",
    "dukaan": "shop store", "dukan": "shop store", "dukaanon": "shops stores",
    "dukandar": "shopkeeper retailer", "dukaandar": "shopkeeper retailer",
    "grahak": "customer", "maang": "demand ask", "maangta": "asks demand",
    "mangta": "asks demand", "chahiye": "need want", "jagah": "space", "bikhra": "scattered",
    "rakho": "keep place", "rakhna": "keep place", "rakhe": "keep place",
    "naya": "new", "nayi": "new", "naye": "new", "purana": "old",
    "sasta": "cheap", "mehnga": "expensive", "mehenga": "expensive", "daam": "price",
    "chhoot": "discount", "chhut": "discount", "bikta": "sells", "bikega": "will sell",
    "bechna": "sell", "bhejo": "send", "bhej": "send", "dunga": "will give",
    "lunga": "will take buy", "wapas": "return", "toota": "damaged broken",
    "tuta": "damaged broken", "der": "late delay", "kitna": "how much", "kitne": "how many",
    "kaise": "how", "kya": "what", "kyun": "why", "kyon": "why", "kab": "when",
    "kaunsa": "which", "kaunse": "which", "kaunsi": "which", "bolu": "say tell",
    "bolun": "say tell", "karu": "do", "karun": "do", "sabse": "most",
}
WORD = re.compile(r"[a-z]+")


def expand(query: str) -> str:
    """The query with English glosses of its Hindi words appended."""
    glosses = [GLOSSARY[w] for w in WORD.findall(query.lower()) if w in GLOSSARY]
    return f"{query} ({' '.join(dict.fromkeys(glosses))})" if glosses else query
