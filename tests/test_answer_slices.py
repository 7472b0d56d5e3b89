"""Heavy answers serialised in slices (server/http.serialize_in_slices): the same text, other threads run."""

import json
import math
import threading
import time

import hypothesis
import numpy as np
from hypothesis import strategies as st

from innspector_tb.server import http

_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)
_json = st.recursive(
    _leaf,
    lambda children: st.one_of(
        st.lists(children, max_size=12), st.dictionaries(st.text(max_size=6), children, max_size=6)
    ),
    max_leaves=200,
)


@hypothesis.given(_json, st.sampled_from([1, 2, 7, 50]))
@hypothesis.settings(max_examples=300, deadline=None)
def test_slices_make_the_same_text_as_one_call(body, slice_values):
    original = http.SLICE_VALUES
    http.SLICE_VALUES = slice_values
    try:
        assert http.serialize_in_slices(body) == http.serialize(body)
    finally:
        http.SLICE_VALUES = original


def test_values_json_cannot_hold_are_cleaned_slice_by_slice_as_in_one_call():
    body = {"a": [[1.0, math.nan], [math.inf, 2.0]] * 5000, "b": [1, 2]}
    assert http.serialize_in_slices(body) == http.serialize(body)
    assert json.loads(http.serialize_in_slices(body))["a"][0] == [1.0, "NaN"]  # TensorBoard's Cleanse


def test_a_big_answer_lets_another_thread_run_while_it_is_serialised():
    body = {"values": np.random.default_rng(0).standard_normal((600, 4000)).tolist()}
    gaps = []
    done = threading.Event()

    def ticker():
        last = time.perf_counter()
        while not done.is_set():
            time.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    def longest_gap(serialize):
        gaps.clear()
        done.clear()
        thread = threading.Thread(target=ticker)
        thread.start()
        time.sleep(0.02)
        start = time.perf_counter()
        serialize(body)
        seconds = time.perf_counter() - start
        done.set()
        thread.join()
        return max(gaps), seconds

    whole_gap, whole_seconds = longest_gap(http.serialize)
    sliced_gap, _ = longest_gap(http.serialize_in_slices)
    # One C call holds the lock for the whole answer; slices let the ticker in many times meanwhile.
    assert whole_gap >= 0.5 * whole_seconds
    assert sliced_gap < whole_gap / 4, (sliced_gap, whole_gap, whole_seconds)
