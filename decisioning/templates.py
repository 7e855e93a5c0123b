"""Treatment templates: the text of an offer on a channel, filled with customer and
offer fields.

The syntax is one thing only: ``{{ field }}`` with a field from
``TEMPLATE_FIELDS``. Anything else that looks like template code (``{%``,
filters, attribute chains outside the registry) is refused when the treatment
is saved, naming the field or fragment, so a typo never reaches a customer.
Rendering escapes every value for HTML channels; nothing in a template is ever
evaluated.
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Mapping
from typing import Any

# The fields a template may use, with what they hold. Contact details that a channel
# needs (an address) are the channel's business, not the message's: only a first name.
TEMPLATE_FIELDS: dict[str, str] = {
    "customer.first_name": "The customer's first name (empty when unknown or erased).",
    "customer.external_id": "The customer's bank id.",
    "offer.name": "The offer's name.",
    "offer.value": "The offer's headline value, e.g. a rate or an amount, as text.",
    "offer.ends_on": "The last day of the offer (e.g. 31 Dec 2026).",
    "product.name": "The product's name.",
    "product.family": "The product family.",
    "bank.name": "The bank's name.",
}
_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_STRAY = re.compile(r"\{\{|\}\}|\{%|%\}|\{#|#\}")
MAX_TEMPLATE_CHARS = 20_000


class TemplateError(ValueError):
    """A template that cannot be saved; the message names the fragment."""


def template_fields(text: str) -> list[str]:
    """The fields a template uses, in order of first use; TemplateError on anything else."""
    if len(text) > MAX_TEMPLATE_CHARS:
        raise TemplateError(f"a template is at most {MAX_TEMPLATE_CHARS} characters")
    used: list[str] = []
    for match in _PLACEHOLDER.finditer(text):
        name = match.group(1)
        if name not in TEMPLATE_FIELDS:
            known = ", ".join(TEMPLATE_FIELDS)
            raise TemplateError(f"unknown field {{{{ {name[:60]} }}}}: a template may use {known}")
        if name not in used:
            used.append(name)
    rest = _PLACEHOLDER.sub("", text)
    stray = _STRAY.search(rest)
    if stray:
        start = max(stray.start() - 20, 0)
        raise TemplateError(f"unexpected template syntax near {rest[start : stray.end() + 20]!r}: only {{{{ field }}}}")
    return used


@functools.lru_cache(maxsize=1024)
def _checked(text: str) -> None:
    # Checked again before every render, once per text: a decision renders three of them per offer.
    template_fields(text)


def template_render(text: str, values: Mapping[str, Any], *, escape: bool) -> str:
    """Fill a validated template. A field without a value renders empty; with
    ``escape`` (HTML channels) every value is HTML-escaped."""
    _checked(text)

    def fill(match: re.Match[str]) -> str:
        value = values.get(match.group(1))
        shown = "" if value is None else str(value)
        return html.escape(shown, quote=True) if escape else shown

    return _PLACEHOLDER.sub(fill, text)
