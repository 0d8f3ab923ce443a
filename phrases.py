"""The words our users write and say: English, Hindi and Hinglish, in one place.

Everything that recognises language by rule reads it here: the router's families of asks, the
order agent's yes and no, greetings and thanks, number words and units (`tools.order_parser`),
and the glosses retrieval adds to Hinglish. A word added here is added everywhere it matters,
and tests/test_phrases.py holds each list to the messages it must and must not match.
"""

import re
import unicodedata


def _words(*patterns: str) -> re.Pattern[str]:
    """Any of `patterns` as whole words, any case."""
    return re.compile(r"\b(?:" + "|".join(patterns) + r")\b", re.IGNORECASE)


# -- greetings, thanks, questions about us -----------------------------------------

GREETING = re.compile(
    r"^\W*(hi+|hello+|hey+|namaste|namaskar|namaskaar|ram ram|good (morning|afternoon|evening)|"
    r"thanks?|thank you|thanku|thx|ty|ok+|okay|ok thanks?|dhanyavaad|dhanyavad|shukriya|"
    r"what can you do|who are you|menu|help|start)(\s+(ji|bhai|bhaiya|sir|madam|boss|"
    r"thanks?|thank you|order done))*\W*$",
    re.IGNORECASE,
)
ABOUT_US = re.compile(
    r"\b(what (all )?can (you|this bot) do|(which|what) services|kya kya kar sakte|"
    r"how (do i|to) use (this|you)|who are you|tum kaun ho|aap kaun ho)\b",
    re.IGNORECASE,
)
THANKS = re.compile(r"\b(thanks?|thank you|thanku|shukriya|dhanyavaa?d)\b", re.IGNORECASE)
# asking for a new scheme: "draft a scheme for Maggi", "Diwali offer banao"
DRAFT_VERBS = r"draft|design|propose|plan|create|suggest|make|banao|bana do"
SCHEME_NOUNS = r"schemes?|offers?|promos?|promotions?"
DRAFT_SCHEME = re.compile(  # either order: Hinglish puts the verb last
    rf"\b({DRAFT_VERBS})\b.*\b({SCHEME_NOUNS})\b|\b({SCHEME_NOUNS})\b.*\b({DRAFT_VERBS})\b",
    re.IGNORECASE,
)
QUESTION = re.compile(
    r"\?|\b(what|which|who|how|why|kya|kaun|kitna|kitne|kaise|kyun)\b", re.IGNORECASE
)
# "voice on" / "voice off": spoken replies to voice notes, a setting the help agent keeps
VOICE_SWITCH = re.compile(r"^\W*/?voice(?:\s+repl(?:y|ies))?\s+(on|off)\W*$", re.IGNORECASE)

# -- what a message asks for: the router's keyword families -----------------------------

_SUGGEST = (
    r"suggest(ed)? (me )?(my |an? |the )?order",
    r"what should i order",
    r"what (do|should) i (need to )?(buy|order|stock)",
    r"perfect basket",
    r"recommended order",
    r"kya (mangwau|mangwaun|mangau|order karu|order karun)",
)
SUGGEST_ASKS = _words(*_SUGGEST)
ORDER_ASKS = _words(
    *_SUGGEST,  # a suggested order, accepted with one tap
    r"where is my order",
    r"order status",
    r"kab (tak )?aa(ye|y)ega",
    r"kab milega",
    r"maal kab",
    r"deliver(y|ed)?",
    r"not (yet )?(received|delivered)",
    r"cancel (my )?order",
    r"repeat (my )?(last )?order",
    r"same as last",
    r"pichla order",
    r"my order",
    r"nahi (pahucha|pahuncha|aaya|mila)",
    r"dispatch",
    r"bhejo",
    r"bhej do",
    r"bhijwa",
    r"chahiye",
    r"de do",
    r"dedo",
    r"send me",
)
SCHEME_ASKS = _words(
    r"schemes?",
    r"offers?",
    r"discounts?",
    r"promos?",
    r"promotions?",
    r"cashback",
    r"free goods",
    r"skim",
    r"yojana",
    r"deals?",
    r"\d\s*\+\s*\d",
)
_DELIVERIES = (
    r"plan (the |tomorrow'?s |today'?s )?deliver(y|ies)",
    r"deliver(y|ies) (plan|routes?|run)s?",
    r"(van|truck|vehicle|lorry) routes?",
)
DELIVERY_ASKS = _words(*_DELIVERIES)
_NEEDS = (
    r"what will .{2,60} need",
    r"need next week",
    r"needs? for next week",
    r"(demand )?forecast",
    r"next week'?s? (order|demand|need)s?",
    r"(agle|next) (hafte|week) (kya|kitna) (chahiye|lagega)",
)
_RISK = (
    r"(stores?|shops?|outlets?) (are |is )?(at risk|at churn|slipping|losing)",
    r"at.risk stores?",
    r"churn",
    r"which (stores?|shops?) (might|may|could|will) (stop|leave|drop)",
    r"kaun ?se (stores?|shops?|dukaan) (band|chhod)",
)
FIGURE_ASKS = _words(
    *_DELIVERIES,  # the routes of tomorrow's orders, for a manager
    *_RISK,  # a manager's stores at risk (a rep's own are the tasks agent's)
    *_NEEDS,  # what a store will need, for a manager
    r"top \d*",
    r"bottom \d*",
    r"best",
    r"worst",
    r"highest",
    r"lowest",
    r"ranking",
    r"leaderboard",
    r"trend",
    r"growth",
    r"grew",
    r"decline[ds]?",
    r"compared?",
    r"vs",
    r"versus",
    r"how (much|many)",
    r"total",
    r"average",
    r"avg",
    r"share",
    r"coverage",
    r"strike rate",
    r"lines per call",
    r"not (ordered|ordering)",
    r"sales",
    r"sold",
    r"revenue",
    r"turnover",
    r"kitna (becha|bika|sale)",
    r"performance",
    r"report",
    r"order nahi (diya|kiya|aaya)",
    r"haven'?t ordered",
    r"kitne ka",
    r"kitna maal",
)
COACHING_ASKS = _words(
    r"coach(ing)?",
    r"practi[cs]e",
    r"role ?-?play",
    r"mock",
    r"objections?",
    r"how (do|should|can) i (handle|convince|pitch|sell|respond|reply|answer|deal|"
    r"counter|tackle|close|overcome)",
    r"pitch tips?",
    r"train me",
    r"kaise (samjhaun|samjhau|convince|bolun|manaun)",
    r"kya bolun",
)
_ROUTE = (
    r"(plan|optimi[sz]e|best) (my |the |today'?s )?(beat|route|day)",
    r"my route",
    r"route (for )?today",
    r"today'?s route",
    r"rasta",
    r"route (batao|bata|do)",
)
ROUTE_ASKS = _words(*_ROUTE)
NEEDS_ASKS = _words(*_NEEDS)
RISK_ASKS = _words(*_RISK)
CREDIT_ASKS = _words(  # what a store owes, its limit and tier; orders waiting for approval
    r"(my|our|mera|meri|their|its) credit",
    r"credit (limit|balance|standing|tier|status|risk|score)",
    r"credit of",
    r"outstanding",
    r"owes?",
    r"(my |our |payment )dues",
    r"overdue",
    r"udh?aa?r",
    r"(kitna|kitne) (baaki|baki|bakaya)",
    r"bakaya",
    r"held orders?",
    r"orders? (on hold|waiting|for approval)",
)
CREDIT_SURE = _words(  # decides alone, whatever else matches ("which stores owe the most")
    r"owes?", r"held orders?", r"credit (limit|tier|standing|balance)", r"udh?aa?r kitna"
)
PRICE_ASKS = _words(  # a product's rate, scheme price or stock, asked by a store or a rep
    r"(ka|ki|ke) (rate|price|daam|dam|bhav|mrp)",
    r"rate (kya|kitna|kitne|batao|bata|list)",
    r"price (of|for|kya|kitna|list)",
    r"(what|how much) (is|are) the (price|rate|mrp)",
    r"what does .+ cost",
    r"how much (is|are|for|does)",
    r"kitne (ka|ki|ke|mein|me) (hai|h|he|milega|padega|dete ho)",  # not "kitne ka maal liya"
    r"kya (rate|bhav|daam)",
    r"mrp",
    r"(is|are) [\w\s.-]{1,40}?(in|out of) stock",  # not "which products are out of stock"
    r"stock (hai|me|mein|main|available|mil)",
    r"(is|are) [\w\s.-]{1,40}?available",
    r"available (hai|h)",
    r"milega",
)
TASK_ASKS = _words(
    *_ROUTE,  # a route is part of a rep's plan
    *_NEEDS,  # and what a store on it will need
    *_RISK,  # and which of its stores it may lose
    r"my tasks?",
    r"today'?s tasks?",
    r"tasks? (for )?today",
    r"aaj ke? tasks?",
    r"today'?s beat",
    r"beat plan",
    r"route (for )?today",
    r"aaj kaun ?se",
    r"kaun ?se stores? (jaana|jana|visit)",
    r"stores? to visit",
    r"task (is )?done",
    r"mark .* done",
    r"complete (the |my )?task",
    r"pending tasks?",
)
VISIT_ASKS = _words(
    r"check ?in",
    r"check ?out",
    r"checked ?in",
    r"visit (done|over|khatam)",
    r"(end|close|finish) (the |my )?visit",
    r"nikal raha",
)
CHECK_OUT = re.compile(
    r"^\W*(/checkout|check ?out|checkout|visit (done|over|khatam)|"
    r"(end|close|finish) (the |my )?visit)\b(?P<notes>.*)$",
    re.IGNORECASE | re.DOTALL,
)
POINTS_ASKS = _words(
    r"my points?",
    r"points? (balance|kitne)",
    r"kitne points?",
    r"leader ?board",
    r"ranking",
    r"top reps?",
    r"who is (leading|on top|first)",
    r"points? (did|have) i (earn|earned|get|got)",
)
OFF_TOPIC = _words(
    r"weather",
    r"mausam",
    r"baarish",
    r"rain",
    r"cricket",
    r"match",
    r"ipl",
    r"jokes?",
    r"funny",
    r"songs?",
    r"gaana",
    r"movie",
    r"film",
    r"news",
    r"sensex",
    r"nifty",
    r"share market",
    r"stock market",
    r"horoscope",
    r"politics",
    r"election",
    r"where do you live",
    r"kahan rehte",
    r"girlfriend",
    r"boyfriend",
    r"shaadi",
)

# fmt: off
# -- numbers, units and the words around them in an order (tools/order_parser.py) ----
# Hindi number words, read as words; English ones are digits by then (`SPOKEN_NUMBERS`).
NUMBER_WORDS = {
    "ek": 1, "do": 2, "teen": 3, "tin": 3, "char": 4, "chaar": 4, "paanch": 5, "panch": 5,
    "paach": 5, "chhe": 6, "che": 6, "chheh": 6, "saat": 7, "sat": 7, "aath": 8, "ath": 8,
    "nau": 9, "das": 10, "dus": 10, "gyarah": 11, "gyara": 11, "barah": 12, "bara": 12,
    "terah": 13, "chaudah": 14, "pandrah": 15, "solah": 16, "satrah": 17, "atharah": 18,
    "unnis": 19, "bees": 20, "bis": 20, "pachees": 25, "pachis": 25, "tees": 30, "chalis": 40,
    "pachas": 50, "sau": 100,
}
# English number words as speech is transcribed; `normalise` writes them as digits.
SPOKEN_NUMBERS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20,
    "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
    "hundred": 100,
}
# Number words that are also ordinary words: numbers only next to a unit or a product.
WEAK_NUMBERS = {
    "ath", "bara", "bis", "che", "do", "sat", "tin",
}
CASE_UNITS = {
    "c", "carton", "cartons", "case", "cases", "crate", "crates", "cs", "ctn", "ctns", "peti",
    "peti's", "petti",
}
PIECE_UNITS = {
    "bag", "bags", "bar", "bars", "bottle", "bottles", "box", "boxes", "btl", "can", "cans", "jar",
    "jars", "no", "nos", "pack", "packet", "packets", "packs", "pc", "pcs", "piece", "pieces",
    "pkt", "pkts", "pouch", "pouches", "sachet", "sachets", "strip", "strips", "tin", "tins",
    "tube", "tubes", "unit", "units",
}
DOZEN_UNITS = {
    "darjan", "darjen", "darzan", "doz", "dozen", "dozens", "dz",
}
HALF_WORDS = {
    "aadha", "aadhi", "adha", "adhi", "half",
}
JOINERS = {
    "and", "aur", "n", "or", "plus",
}
ARTICLES = {
    "a", "an",
}
FILLER = {
    "bhaiya", "bhai", "bhaisaab", "sir", "ji", "please", "pls", "plz", "send", "bhejo", "bhej",
    "bhejna", "bhejiye", "dena", "de", "dijiye", "chahiye", "chaiye", "jaldi", "kal", "tak",
    "order", "mera", "mere", "meri", "hai", "hain", "ka", "ki", "ke", "of", "the", "a", "an",
    "me", "mujhe", "hame", "humko", "also", "bhi", "thanks", "thank", "you", "namaste",
    "hello", "hi", "good", "morning", "for", "shop", "store", "dukaan", "urgent", "today",
    "aaj", "abhi", "need", "want", "add", "and", "aur", "with", "x", "nos.", "each", "sath",
    "saath", "regards", "ok", "okay", "bhijwa", "bhijwana", "dijiyega", "karo", "kar",
    "delivery", "deliver", "by", "evening", "sham", "subah", "ko",
    # the English of asking: "I would like to get ...", "can we have ... on the side"
    "i", "i'd", "i'll", "im", "we", "we'd", "would", "like", "could", "can", "may", "get",
    "have", "take", "let", "give", "just", "some", "my", "our", "on", "it", "that", "this",
    "in", "to", "be", "will", "is", "are", "there", "side", "top", "thats", "all", "else", "as",
    "well", "too", "then", "so", "yes", "hey",
    # Hindi and Marathi of placing an order: "likh lo", "pathva", "mala ... dya"
    "haan", "han", "likh", "likho", "likhiye", "lijiye", "lo", "lena", "pathva", "pathwa",
    "pathvaa", "dya", "dyaa", "dyave", "mala", "amhala", "udya", "sakali", "saheb", "saab",
    "rakh", "rakhna",
    # speech: hesitations, and pack descriptions that only repeat the size ("the small bottle")
    "uh", "um", "umm", "uhh", "uhm", "hmm", "erm", "ah", "yeah", "actually", "small", "big",
    "large", "kindly",
}
SIZE_UNIT = {
    "kgs": "kg", "kilograms": "kg", "kilogram": "kg", "kilos": "kg", "kilo": "kg", "grams": "g",
    "gram": "g", "gms": "g", "gm": "g", "ltrs": "l", "ltr": "l", "litres": "l", "litre": "l",
    "liters": "l", "liter": "l", "lt": "l", "millilitres": "ml", "millilitre": "ml",
    "milliliters": "ml", "milliliter": "ml", "mls": "ml",
}
# A forwarded list starts with who it is from: "Order from Balaji Kirana: ..."
HEADER_WORDS = {
    "forwarded", "frm", "from", "fwd", "list", "order", "orders",
}
ALL_UNITS = CASE_UNITS | PIECE_UNITS | DOZEN_UNITS

# -- yes, no, and what a retailer does with an order (agents/order.py) -----------------
STATUS_WORDS = re.compile(
    r"\b(where|status|kab|kidhar|kahan|track|pahuncha|aaya nahi|not come|"
    r"not received|delivery kab)\b"
)
REPEAT_WORDS = re.compile(
    r"\b(repeat|same as last|last order|pichla order|pichhla order|"
    r"wahi order|same order|usual order)\b"
)
CANCEL_ORDER = re.compile(r"\bcancel\b.*?(?:order\s*(?:no\.?|number)?\s*#?|#)\s*(\d{3,})")
YES = {
    "confirm", "done", "ha", "haan", "han", "ji", "ok", "okay", "theek", "thik", "y", "yes",
}
NO = {
    "mat", "na", "nahi", "nahin", "no", "skip",
}
AGREEING = {
    "ahead", "bhai", "bhaiya", "cancel", "confirm", "correct", "don't", "dont", "fine", "go",
    "haan", "it", "ji", "ok", "okay", "order", "place", "please", "right", "sir", "sure", "thank",
    "thanks", "that's", "the", "yes", "you",
}
ADD = re.compile(r"^\s*(add|aur|also|plus|\+)\b", re.IGNORECASE)
REMOVE = re.compile(
    r"^\s*(remove|hatao|hata do|cancel|delete|minus|mat bhejo)\b\s*(.*)$", re.IGNORECASE
)

# -- a role-play: ending it, and the rubric's words (agents/coach.py) --------------------
STOP_PLAYING = re.compile(r"^\W*(stop|exit|quit|end|bas|band karo|cancel)\W*$", re.IGNORECASE)
RUBRIC_WORDS = {
    "acknowledge": r"\b(samajh|understand|sahi|right|true|agree|maanta|sorry|haan|correct|"
    r"valid|fair|i hear|theek)\b",
    "probe": r"\?|\b(kaun ?sa|which|kitna|how many|how much|kyun|why|kya|what)\b",
    "answer": r"\d|%|\b(scheme|margin|offer|discount|free|rotation|display|credit|delivery|"
    r"fast|bikta|nikal|demand|customer)\b",
    "close": r"\b(order|case|cases|le lijiye|lijiye|rakh|try|trial|bhej|book|confirm|"
    r"carton|ctn|pcs|pieces)\b",
}

# -- a question about the data (agents/analytics.py) ------------------------------------
DATA_WORDS = re.compile(
    r"\b(sales?|sold|sell|buy|bought|purchased?|purchases|revenue|turnover|orders?|stores?|"
    r"outlets?|shops?|products?|skus?|"
    r"brands?|categor(y|ies)|reps?|visits?|calls?|coverage|strike|stock|schemes?|promos?|"
    r"tasks?|points?|incentives?|beat|growth|trend|top|bottom|average|total|share|cases?|"
    r"pieces?|localit(y|ies)|areas?|bika|becha|maal|kitna|kitne)\b",
    re.IGNORECASE,
)

# -- asking about a scheme, or for one (agents/promo.py) -----------------------------------
DRAFT = re.compile(rf"\b({DRAFT_VERBS})\b", re.IGNORECASE)
ASKING = {
    "aaj", "abhi", "any", "are", "chal", "current", "deal", "deals", "discount", "discounts", "do",
    "for", "free", "hai", "have", "in", "is", "koi", "kya", "me", "mein", "month", "naya", "nayi",
    "new", "of", "offer", "offers", "on", "par", "pe", "promo", "promotion", "promotions", "raha",
    "rahi", "running", "scheme", "schemes", "skim", "the", "there", "this", "today", "week",
    "what", "which", "yojana", "you",
}

# -- a task done (agents/tasks.py) --------------------------------------------------------
# "done 2", "2 done", "task #2 done", "2 ho gaya": the whole message, so that "done 3 calls
# today" is not read as task 3.
DONE = re.compile(
    r"^\s*(?:done|completed?)\s*(?:task\s*)?#?(\d{1,2})\s*[.!]*\s*$|"
    r"^\s*(?:task\s*)?#?(\d{1,2})\s*(?:done|completed?|ho gaya|kar diya|ho gya)\s*[.!]*\s*$",
    re.IGNORECASE,
)

# "skip 2 shop closed": a task skipped, with the reason the next night's planning reads.
SKIP = re.compile(r"^\s*skip\s*(?:task\s*)?#?(\d{1,2})\b[\s:,.-]*(?P<reason>.*)$", re.I | re.S)
TASK_UPDATE = re.compile(f"(?:{DONE.pattern})|(?:{SKIP.pattern})", re.IGNORECASE | re.DOTALL)

# -- which language a message is in (memory/profile.py) ----------------------------------
DEVANAGARI = re.compile(r"[\u0900-\u097F]")
HINGLISH = re.compile(
    r"\b(hai|hain|kya|kab|kitna|kitne|bhejo|bhej|aur|nahi|nahin|chahiye|karo|kar|dena|de do|"
    r"wala|wali|mera|meri|humara|aaj|kal|bhai|bhaiya|ji|accha|theek|thik|kaun|kaise)\b",
    re.IGNORECASE,
)



def unread_script(text: str) -> bool:
    """Mostly letters of a script other than Latin or Devanagari (Tamil, Bengali, Arabic ...):
    neither the rules nor the model read it, so we say so rather than guess."""
    letters = [c for c in unicodedata.normalize("NFKC", text) if c.isalpha()]  # 𝐇𝐢 is "Hi"
    other = [c for c in letters if not unicodedata.name(c, "").startswith(("LATIN", "DEVANAGARI"))]
    return len(other) >= 2 and len(other) > len(letters) / 2


# -- asking to change data (agents/analytics.py: reports only read); "drop stores with zero
# sales" and "remove S001 from the list" filter a report, they change nothing ---------------
CHANGE_ASKS = re.compile(
    r"^\W*(?:please |pls |can you |could you )?(?:delete|remove|drop|erase|update|modify|"
    r"change|edit|insert|truncate|alter|reset|wipe)\s+(?:all |the |this |that |these |my |our )?"
    r"(?:orders?|stores?|shops?|outlets?|products?|prices?|rates?|stock|schemes?|records?|rows?|"
    r"data|transactions?|entries|entry|tables?|catalogue|catalog|reps?|users?|targets?)\b"
    r"(?!.*\b(?:with|having|that|which|where|whose|from the (?:list|report|chart|table))\b)|"
    r"\b(?:hata|mita|badal|delete kar|update kar|change kar)\s*(?:do|dijiye|dena)\b",
    re.IGNORECASE,
)

# -- English glosses of Hindi words, for retrieval (memory/hinglish.py) ------------------
GLOSSARY = {
    "paisa": "money payment", "paise": "money payment", "udhaar": "credit", "udhar": "credit",
    "bakaya": "outstanding dues", "hisaab": "account bill", "hisab": "account bill",
    "jama": "deposit pay", "vasooli": "collection", "wasooli": "collection", "maal": "stock goods",
    "godown": "storeroom stock", "saaman": "goods", "din": "days", "mahina": "month",
    "mahine": "month", "hafta": "week", "hafte": "week", "kal": "tomorrow", "abhi": "now",
    "baad": "later", "pehle": "first before", "kam": "less low", "zyada": "more high",
    "jyada": "more high", "thoda": "little", "poora": "full", "pura": "full", "aadha": "half",
    "khali": "empty", "nahi": "not no", "nahin": "not no", "mat": "do not", "dukaan": "shop store",
    "dukan": "shop store", "dukaanon": "shops stores", "dukandar": "shopkeeper retailer",
    "dukaandar": "shopkeeper retailer", "grahak": "customer", "maang": "demand ask",
    "maangta": "asks demand", "mangta": "asks demand", "chahiye": "need want", "jagah": "space",
    "bikhra": "scattered", "rakho": "keep place", "rakhna": "keep place", "rakhe": "keep place",
    "naya": "new", "nayi": "new", "naye": "new", "purana": "old", "sasta": "cheap",
    "mehnga": "expensive", "mehenga": "expensive", "daam": "price", "chhoot": "discount",
    "chhut": "discount", "bikta": "sells", "bikega": "will sell", "bechna": "sell",
    "bhejo": "send", "bhej": "send", "dunga": "will give", "lunga": "will take buy",
    "wapas": "return", "toota": "damaged broken", "tuta": "damaged broken", "der": "late delay",
    "kitna": "how much", "kitne": "how many", "kaise": "how", "kya": "what", "kyun": "why",
    "kyon": "why", "kab": "when", "kaunsa": "which", "kaunse": "which", "kaunsi": "which",
    "bolu": "say tell", "bolun": "say tell", "karu": "do", "karun": "do", "sabse": "most",
}

# -- Devanagari order words as retailers type them in Latin letters (tools/devanagari.py) --
DEVANAGARI_WORDS = {
    "एक": "ek", "दो": "do", "तीन": "teen", "चार": "char", "पांच": "paanch", "पाँच": "paanch",
    "छह": "chhe", "छः": "chhe", "सात": "saat", "आठ": "aath", "नौ": "nau", "दस": "das",
    "ग्यारह": "gyarah", "बारह": "barah", "तेरह": "terah", "चौदह": "chaudah", "पंद्रह": "pandrah",
    "पन्द्रह": "pandrah", "सोलह": "solah", "सत्रह": "satrah", "अठारह": "atharah", "उन्नीस": "unnis",
    "पच्चीस": "pachees", "तीस": "tees", "चालीस": "chalis",  # every number NUMBER_WORDS reads
    "हाँ": "haan", "हां": "haan", "नहीं": "nahi", "ठीक": "theek",  # YES and NO
    "बीस": "bees", "पचास": "pachas", "सौ": "sau", "आधा": "aadha", "पेटी": "peti", "केस": "case",
    "कार्टन": "carton", "पीस": "piece", "पैकेट": "packet", "दर्जन": "dozen", "डिब्बा": "box",
    "बोतल": "bottle", "और": "aur", "भैया": "bhaiya", "भाई": "bhai", "भेजो": "bhejo",
    "भेजना": "bhejna", "नमस्ते": "namaste", "जी": "ji", "चाहिए": "chahiye", "किलो": "kg",
    "लीटर": "l", "ग्राम": "g", "रुपये": "rs", "रुपए": "rs",
}
# fmt: on
