"""Choosing the template for a locale and the A/B variant for a subscriber."""

from __future__ import annotations

from collections import Counter

import pytest

from notifications.rendering import choose_variant, select_template
from tests.notifications.rendering.helpers import template, variant


def test_variant_choice_is_deterministic_per_subscriber():
    variants = [variant("a"), variant("b"), variant("c")]

    first = [
        choose_variant(template_key="t", subscriber_id=f"u{i}", variants=variants)
        for i in range(50)
    ]
    again = [
        choose_variant(template_key="t", subscriber_id=f"u{i}", variants=list(reversed(variants)))
        for i in range(50)
    ]

    assert [v.name for v in first] == [v.name for v in again]
    assert {v.name for v in first} == {"a", "b", "c"}


def test_variant_choice_follows_weights():
    variants = [variant("control", weight=1), variant("treatment", weight=3)]

    counts = Counter(
        choose_variant(template_key="welcome", subscriber_id=f"user-{i}", variants=variants).name
        for i in range(10_000)
    )

    assert abs(counts["treatment"] / 10_000 - 0.75) < 0.02


def test_variant_choice_differs_between_templates():
    variants = [variant("a"), variant("b")]

    one = [
        choose_variant(template_key="t1", subscriber_id=f"u{i}", variants=variants).name
        for i in range(200)
    ]
    two = [
        choose_variant(template_key="t2", subscriber_id=f"u{i}", variants=variants).name
        for i in range(200)
    ]

    assert one != two


def test_no_variant_without_variants_or_weight():
    assert choose_variant(template_key="t", subscriber_id="u", variants=[]) is None
    zero = [variant("a", weight=0), variant("b", weight=0)]
    assert choose_variant(template_key="t", subscriber_id="u", variants=zero) is None
    only_b = [variant("a", weight=0), variant("b", weight=2)]
    assert choose_variant(template_key="t", subscriber_id="u", variants=only_b).name == "b"


@pytest.mark.parametrize(
    ("available", "wanted", "chosen"),
    [
        (["en", "fr", "fr-CA"], "fr-CA", "fr-CA"),
        (["en", "fr", "fr-CA"], "fr_ca", "fr-CA"),
        (["en", "fr"], "fr-CA", "fr"),
        (["en", "fr-FR"], "fr-CA", "fr-FR"),
        (["de", "en"], "ja", "en"),
        (["de", "en-US"], "ja", "en-US"),
        (["de", "it"], "ja", "de"),
        (["de", "en"], "", "en"),
    ],
)
def test_locale_fallback(available, wanted, chosen):
    templates = [template(locale=locale) for locale in available]

    assert select_template(templates, wanted, "en").locale == chosen


def test_default_locale_comes_from_settings(settings):
    settings.CLARION_DEFAULT_LOCALE = "de"
    templates = [template(locale="en"), template(locale="de")]

    assert select_template(templates, "ja").locale == "de"
    assert select_template([], "en", "en") is None
