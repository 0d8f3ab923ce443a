"""docs/settings.md is the one list of settings: a field missing from it is a setting nobody can
find, and a name on it that no field reads is silently ignored in production."""

import re
from pathlib import Path

from settings import Settings

SETTINGS_MD = Path(__file__).resolve().parent.parent / "docs" / "settings.md"


def test_settings_page_lists_every_setting_and_nothing_else():
    fields = {f"OPENSALES_{field.upper()}" for field in Settings.model_fields}
    listed = set(re.findall(r"OPENSALES_[A-Z0-9_]+", SETTINGS_MD.read_text()))
    assert fields - listed == set(), "settings missing from docs/settings.md"
    assert listed - fields == set(), "docs/settings.md names variables that are not settings"
