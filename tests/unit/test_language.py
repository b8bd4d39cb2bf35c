"""The language fallback chain: exact tag, then base language (or a sibling), then the default."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.planning import pick_language

pytestmark = pytest.mark.unit

bases = st.sampled_from(["en", "fr", "de", "es", "pt"])
regions = st.sampled_from(["", "-CA", "-GB", "-BR", "-FR"])
tags = st.builds(lambda b, r: b + r, bases, regions)


@given(st.lists(tags, min_size=1, unique_by=str.lower), tags, st.data())
def test_the_chosen_language_follows_the_chain(available, wanted, data):
    default = data.draw(st.sampled_from(available))
    choice = pick_language(wanted, available, default)
    lower = {a.lower(): a for a in available}
    base = wanted.split("-")[0].lower()
    assert choice.language in available
    if wanted.lower() in lower:
        assert (choice.language, choice.fell_back) == (lower[wanted.lower()], False)
    elif base in lower:
        assert (choice.language, choice.fell_back) == (lower[base], True)
    elif any(a.lower().split("-")[0] == base for a in available):
        assert choice.language.lower().split("-")[0] == base and choice.fell_back
    else:
        assert (choice.language, choice.fell_back) == (default, True)


@given(st.lists(tags, min_size=1, unique_by=str.lower), st.data())
def test_case_never_matters(available, data):
    wanted = data.draw(st.sampled_from(available))
    choice = pick_language(wanted.upper(), available, available[0])
    assert (choice.language, choice.fell_back) == (wanted, False)


def test_examples():
    assert pick_language("fr-CA", ["en", "fr"], "en").language == "fr"
    assert pick_language("fr", ["en", "fr-CA"], "en").language == "fr-CA"
    assert pick_language("de", ["en", "fr"], "en").language == "en"
    assert not pick_language("fr-ca", ["en", "fr-CA"], "en").fell_back
