"""Image understanding: the text of a photo of an order list (offline OCR)."""
