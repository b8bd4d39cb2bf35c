"""Filters combine sorted index streams: OR within a key is a merge, AND across keys an intersection."""

from __future__ import annotations

import heapq

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.adapters.dynamodb.accounts import _intersect, _unique

pytestmark = pytest.mark.unit

ids = st.lists(st.text(alphabet="0123456789abcdef", min_size=1, max_size=3), max_size=30)


@given(st.lists(ids, min_size=1, max_size=4))
def test_or_within_a_key_is_the_sorted_union(values):
    merged = list(_unique(heapq.merge(*(sorted(set(v)) for v in values))))
    assert merged == sorted(set().union(*map(set, values)))


@given(st.lists(ids, min_size=1, max_size=4))
def test_and_across_keys_is_the_sorted_intersection(keys):
    streams = [iter(sorted(set(k))) for k in keys]
    assert list(_intersect(streams)) == sorted(set.intersection(*map(set, keys)))
