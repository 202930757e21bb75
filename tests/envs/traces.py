"""Test helpers: a scenario's traffic section that replays a trace as it is."""


def replayed(trace: str, **traffic: object) -> dict[str, object]:
    """``traffic`` of a scenario that replays ``trace`` as the traffic (no simulated noise,
    surges or day-of-week factors), with ``traffic`` keys added or replaced."""
    return {
        "profile": "trace",
        "trace_csv": trace,
        "noise_sd": 0.0,
        "surge_rate_per_h": 0.0,
        "dow_factors": [1.0] * 7,
        **traffic,
    }
