"""Jinja2 prompt templates, one file per agent task (`prompts/<name>.j2`), loaded by name.

Each prompt has an id, its name and the start of its template's sha256 (`route@3f2a9c1b0d4e`),
which the LLM service logs with every call: a changed prompt shows in the logs and metrics of
the calls that used it. Keep what varies per call (the user's message, the role) at the end of a
template, so that llama.cpp can reuse the evaluated prefix between calls.
"""

import hashlib
from dataclasses import dataclass
from functools import cache
from importlib import resources

from jinja2 import Environment, PackageLoader, StrictUndefined, Template


@cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("prompts", ""),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )


@dataclass(frozen=True)
class Prompt:
    name: str
    sha256: str  # of the template file

    @property
    def id(self) -> str:
        return f"{self.name}@{self.sha256[:12]}"

    def render(self, **variables) -> str:
        return self._template().render(**variables)

    def _template(self) -> Template:
        return _environment().get_template(f"{self.name}.j2")


@cache
def prompt(name: str) -> Prompt:
    """The prompt `name` (the file `prompts/<name>.j2`)."""
    source = resources.files("prompts").joinpath(f"{name}.j2").read_bytes()
    return Prompt(name, hashlib.sha256(source).hexdigest())


def render(name: str, **variables) -> str:
    """The prompt `name` filled in."""
    return prompt(name).render(**variables)
