from __future__ import annotations

import itertools

import pytest

from client.backoff import backoff_delays


def test_delays_double_until_the_cap_without_jitter():
    delays = backoff_delays(initial=0.1, maximum=1.0, jitter=0)
    assert [round(d, 3) for d in itertools.islice(delays, 6)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]


def test_jitter_spreads_each_delay_around_its_base():
    low = backoff_delays(initial=1.0, maximum=8.0, jitter=0.5, rng=lambda: 0.0)
    high = backoff_delays(initial=1.0, maximum=8.0, jitter=0.5, rng=lambda: 0.999999)
    assert next(low) == pytest.approx(0.5)
    assert next(high) == pytest.approx(1.5, rel=1e-5)


def test_capped_delays_stay_finite_forever():
    delays = backoff_delays(initial=1.0, maximum=15.0, factor=10.0, jitter=0)
    assert list(itertools.islice(delays, 2000))[-1] == 15.0


@pytest.mark.parametrize(
    "kwargs",
    [{"initial": 0}, {"initial": 2.0, "maximum": 1.0}, {"factor": 0.5}, {"jitter": 1.5}],
)
def test_out_of_range_parameters_are_refused(kwargs):
    with pytest.raises(ValueError):
        backoff_delays(**kwargs)
