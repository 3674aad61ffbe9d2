"""RFC 2782 SRV ordering: priority, weighted random draw, weight 0."""

import collections
import random

import pytest

from testbed.dns import SrvRecord, order_srv


def srv(priority, weight, target, port=5060):
    return SrvRecord(priority, weight, port, target)


def first_choice_frequencies(records, seed, draws):
    rng = random.Random(seed)
    counts = collections.Counter(order_srv(records, rng)[0].target for _ in range(draws))
    return {target: count / draws for target, count in counts.items()}


def test_priority_before_weight():
    records = [srv(20, 1000, "backup"), srv(10, 1, "main-a"), srv(10, 1, "main-b"),
               srv(30, 0, "last")]
    for seed in range(50):
        ordered = [r.target for r in order_srv(records, random.Random(seed))]
        assert set(ordered[:2]) == {"main-a", "main-b"}
        assert ordered[2:] == ["backup", "last"]


def test_every_record_appears_once():
    records = [srv(p, w, f"h{p}{w}") for p in (1, 2) for w in (0, 5, 10)]
    ordered = order_srv(records, random.Random(3))
    assert sorted(ordered, key=str) == sorted(records, key=str)


@pytest.mark.parametrize(
    "weights, seed",
    [((60, 30, 10), 1234), ((50, 50), 99), ((1, 3), 5), ((70, 20, 10, 0), 2024)],
)
def test_weight_distribution(weights, seed):
    """The first record chosen follows weight / (sum + 1) (the +1 is the draw of 0)."""
    records = [srv(10, w, f"host{i}") for i, w in enumerate(weights)]
    frequencies = first_choice_frequencies(records, seed, draws=20000)
    total = sum(weights)
    # The draw is uniform in [0, total]; a draw of 0 picks the head of the list, which is
    # the first weight-0 record when there is one (they are put first), else record 0.
    head = weights.index(0) if 0 in weights else 0
    for i, weight in enumerate(weights):
        expected = (weight + (i == head)) / (total + 1)
        assert frequencies.get(f"host{i}", 0.0) == pytest.approx(expected, abs=0.015)


def test_weight_zero_is_rarely_first():
    """RFC 2782: weight 0 records have a very small chance of being selected first."""
    records = [srv(10, 10, "weighted"), srv(10, 0, "zero")]
    frequencies = first_choice_frequencies(records, seed=11, draws=22000)
    assert frequencies["zero"] == pytest.approx(1 / 11, abs=0.01)


def test_all_weights_zero_keep_the_given_order():
    records = [srv(10, 0, "a"), srv(10, 0, "b"), srv(10, 0, "c")]
    for seed in range(20):
        assert [r.target for r in order_srv(records, random.Random(seed))] == ["a", "b", "c"]


def test_weight_zero_records_go_first_in_the_list():
    """Weight-0 records are placed before the others, so a draw of 0 picks them."""

    class Zero(random.Random):
        def randint(self, a, b):
            return a

    records = [srv(10, 5, "w5"), srv(10, 0, "z1"), srv(10, 7, "w7"), srv(10, 0, "z2")]
    assert [r.target for r in order_srv(records, Zero())] == ["z1", "z2", "w5", "w7"]


def test_exact_sequence_for_a_seed():
    """A seed reproduces the order exactly (a regression anchor for the algorithm)."""
    records = [srv(10, 60, "a"), srv(10, 30, "b"), srv(10, 10, "c"), srv(20, 0, "d")]
    rng = random.Random(42)
    sequences = ["".join(r.target for r in order_srv(records, rng)) for _ in range(8)]
    assert sequences == ["bacd", "abcd", "abcd", "abcd", "bcad", "acbd", "abcd", "abcd"]


def test_single_record_draws_nothing():
    rng = random.Random(5)
    state = rng.getstate()
    assert order_srv([srv(10, 5, "only")], rng)[0].target == "only"
    assert rng.getstate() == state


def test_empty():
    assert order_srv([], random.Random(0)) == []
