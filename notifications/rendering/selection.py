"""Choosing what to render: the template for a locale, the A/B variant for a subscriber."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, Protocol

from django.conf import settings


class _VariantLike(Protocol):
    name: str
    weight: int


def choose_variant(
    *, template_key: str, subscriber_id: str, variants: Sequence[_VariantLike]
) -> Any | None:
    """The variant a subscriber gets: weighted, and always the same for the same subscriber."""
    # Sorted by name, so the choice does not depend on the order the rows were read in.
    weighted = sorted((v for v in variants if (v.weight or 0) > 0), key=lambda v: v.name)
    total = sum(v.weight for v in weighted)
    if not total:
        return None
    digest = hashlib.sha256(f"{template_key}\x1f{subscriber_id}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") % total
    for variant in weighted:
        point -= variant.weight
        if point < 0:
            return variant
    return weighted[-1]  # pragma: no cover - unreachable


def _locale_key(locale: str) -> str:
    return (locale or "").replace("_", "-").lower()


def select_template(
    templates: Sequence[Any], locale: str, default_locale: str | None = None
) -> Any | None:
    """The template for a locale: exact, then its language, then the default locale, then any."""
    templates = list(templates)
    if not templates:
        return None
    if default_locale is None:
        default_locale = getattr(settings, "CLARION_DEFAULT_LOCALE", "en")
    by_locale: dict[str, Any] = {}
    for template in templates:
        by_locale.setdefault(_locale_key(template.locale), template)

    def language(value: str) -> str:
        return value.split("-", 1)[0]

    for wanted in (_locale_key(locale), _locale_key(default_locale)):
        if not wanted:
            continue
        if wanted in by_locale:
            return by_locale[wanted]
        if language(wanted) in by_locale:
            return by_locale[language(wanted)]
        # fr-CA wanted, only fr-FR written: still better than another language.
        same_language = sorted(k for k in by_locale if language(k) == language(wanted))
        if same_language:
            return by_locale[same_language[0]]
    return by_locale[sorted(by_locale)[0]]
