"""Money as people read it in chat: whole rupees with Indian digit grouping left to the reader."""


def rupees(paise: int) -> str:
    return f"₹{paise / 100:,.0f}"
