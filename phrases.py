"""The words our users write and say: English, Hindi and Hinglish, in one place.

Everything that recognises language by rule reads it here: the router's families of asks, the
order agent's yes and no, greetings and thanks, number words and units (`tools.order_parser`),
and the glosses retrieval adds to Hinglish. A word added here is added everywhere it matters,
and tests/test_phrases.py holds each list to the messages it must and must not match.
"""

import re


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
DRAFT_SCHEME = re.compile(
    r"\b(draft|design|propose|plan|create|suggest|make|banao)\b.*"
    r"\b(schemes?|offers?|promos?|promotions?)\b",
    re.IGNORECASE,
)
QUESTION = re.compile(
    r"\?|\b(what|which|who|how|why|kya|kaun|kitna|kitne|kaise|kyun)\b", re.IGNORECASE
)
# "voice on" / "voice off": spoken replies to voice notes, a setting the help agent keeps
VOICE_SWITCH = re.compile(r"^\W*/?voice(?:\s+repl(?:y|ies))?\s+(on|off)\W*$", re.IGNORECASE)

# -- what a message asks for: the router's keyword families -----------------------------

ORDER_ASKS = _words(
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
FIGURE_ASKS = _words(
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
TASK_ASKS = _words(
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
