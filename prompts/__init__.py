"""Jinja2 prompt templates, one file per prompt family, with a stable fixed prefix.

Keep what varies per call (the user's message, the role) at the end of a template, so that
llama.cpp can reuse the evaluated prefix between calls.
"""

from functools import lru_cache

from jinja2 import Environment, PackageLoader, StrictUndefined


@lru_cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("prompts", ""),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )


def render(name: str, **variables) -> str:
    """The prompt `name` (a file `prompts/<name>.j2`) filled in."""
    return _environment().get_template(f"{name}.j2").render(**variables)
