"""Joining a Ray cluster never hangs: an address that does not answer is refused in seconds,
in one line naming the setting, and SIGTERM ends the wait at once."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time

import pytest

from pacegym.experiments.ray_connect import GCS_TIMEOUT_S, head, probe


def test_head_of_an_address():
    assert head("10.0.0.5:6380") == ("10.0.0.5", 6380)
    assert head("ray://10.0.0.5:10001") == ("10.0.0.5", 10001)
    assert head("headnode") == ("headnode", 6379)
    assert head("auto") is None


def test_a_closed_local_port_is_refused_at_once():
    with socket.socket() as s:  # a port nothing listens on: bound, never listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        t0 = time.monotonic()
        with pytest.raises(ValueError, match=rf"^--address = '127.0.0.1:{port}': no Ray cluster"):
            probe("--address", f"127.0.0.1:{port}")
    assert time.monotonic() - t0 < 2.0


def test_an_address_that_drops_packets_or_is_no_ray_head_is_refused_within_the_timeouts():
    """10.255.255.1 drops packets (the TCP connection times out), or, in a sandbox whose
    proxy accepts every connection, answers HTTP/2 but no Ray GCS (the client fails)."""
    t0 = time.monotonic()
    with pytest.raises(ValueError, match=r"^ray\.address = '10\.255\.255\.1:6379': no Ray"):
        probe("ray.address", "10.255.255.1:6379", timeout_s=0.5)
    assert time.monotonic() - t0 < 0.5 + GCS_TIMEOUT_S + 2.0


def test_a_bad_port_is_refused_naming_the_key():
    with pytest.raises(ValueError, match=r"^--address = 'host:port': allowed host:port"):
        probe("--address", "host:port")


def test_sigterm_ends_the_wait_at_once():
    code = "from pacegym.experiments.ray_connect import probe; probe('a', '10.255.255.1:6379', 60)"
    proc = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True)
    time.sleep(3.0)  # imports done, waiting on the connection (or already refused)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=10)
    assert time.monotonic() - t0 < 2.0
    assert proc.returncode in (-signal.SIGTERM, 1)  # killed, or refused before the signal
