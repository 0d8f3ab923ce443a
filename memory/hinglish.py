"""English glosses for the Hindi words retailers and reps mix into their messages.

The embedding model is English; "paisa nahi hai is mahine" means little to it. Queries keep their
own words and gain the English ones ("money payment ... month"), which lifts recall on
Hinglish questions without touching English ones.
"""

import re

from phrases import GLOSSARY

WORD = re.compile(r"[a-z]+")


def expand(query: str) -> str:
    """The query with English glosses of its Hindi words appended."""
    glosses = [GLOSSARY[w] for w in WORD.findall(query.lower()) if w in GLOSSARY]
    return f"{query} ({' '.join(dict.fromkeys(glosses))})" if glosses else query
