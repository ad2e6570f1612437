"""The sandbox refuses internals, mutation and memory bombs, and compiles each source once."""

from __future__ import annotations

import pytest

from notifications.rendering import RenderError
from notifications.rendering.sandbox import compile_template
from tests.notifications.rendering.helpers import render


@pytest.mark.parametrize(
    "source",
    [
        "{{ payload.__class__ }}",
        "{{ ''.__class__.__mro__ }}",
        "{{ payload.update({'a': 1}) }}",
        "{{ payload.items.__globals__ }}",
        "{{ 'a' * 100000000 }}",
        "{{ 9 ** 9999999 }}",
        "{{ range(10) }}",
    ],
)
def test_the_sandbox_blocks_internals_mutation_and_bombs(source):
    with pytest.raises(RenderError):
        render(source, {"payload": {"a": 1}})


def test_each_source_is_compiled_once():
    source = "Cached {{ payload.n }} " + "x" * 20
    compile_template.cache_clear()
    for n in range(1000):
        render(source, {"payload": {"n": n}})

    info = compile_template.cache_info()
    assert (info.misses, info.hits) == (1, 999)
