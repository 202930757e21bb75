"""Departure statistics: persistence, bursts and off-forecast hours of known series."""

import numpy as np
import pytest

from pacegym.envs.departures import departure_stats

DAYS = 7


def test_a_series_on_its_forecast_has_no_departure():
    f = np.full(DAYS * 1440, 10.0)
    st = departure_stats(f, f)
    assert st["off_forecast_hours"] == 0.0 and np.isnan(st["burst_size_q50"])
    assert st["burst_min_q90"] == 0.0


def test_persistent_departures_correlate_for_hours_and_white_noise_does_not():
    rng = np.random.default_rng(0)
    f = np.full(DAYS * 1440, 10.0)
    level = np.repeat(np.exp(rng.normal(0.0, 0.5, DAYS * 6)), 240)  # 4-hour steps
    slow = departure_stats(f * level, f)
    fast = departure_stats(f * np.exp(rng.normal(0.0, 0.5, f.size)), f)
    assert slow["acf_1h"] > 0.6 and slow["acf_15min"] > 0.9
    assert abs(fast["acf_1h"]) < 0.1 and abs(fast["acf_4h"]) < 0.1


def test_bursts_are_measured_by_peak_and_duration():
    f = np.full(DAYS * 1440, 10.0)
    a = f.copy()
    a[600:660] *= 5.0  # one hour at 5x
    a[3000:3030] *= 3.0  # half an hour at 3x
    st = departure_stats(a, f)
    assert st["burst_size_q90"] == pytest.approx(4.8, rel=0.01)
    assert st["burst_min_q50"] == pytest.approx(45.0)
    assert st["off_forecast_hours"] == pytest.approx(2 / (DAYS * 24))


def test_bad_lengths_are_refused():
    with pytest.raises(ValueError, match="equal 1-D lengths"):
        departure_stats(np.ones(1440), np.ones(1441))
