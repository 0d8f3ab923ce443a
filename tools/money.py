"""Money as people read it in chat: whole rupees with Indian digit grouping left to the reader."""


def rupees(paise: int) -> str:
    return f"₹{paise / 100:,.0f}"


def inr(paise: int) -> str:
    """A price to the paisa, as order replies show it: INR 12, INR 11.40."""
    return f"INR {paise / 100:,.0f}" if paise % 100 == 0 else f"INR {paise / 100:,.2f}"
