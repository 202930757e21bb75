"""Start a local Ray, or join a cluster without waiting on an address that never answers.

``ray.init(address=...)`` retries a head node that does not answer for about 20 s, then
raises a traceback (longer where packets are dropped). ``probe`` refuses such an address
in one line naming the setting (``ValueError``: exit 2 in the apps), in two bounded steps:
a TCP connection to the head's GCS port (``CONNECT_TIMEOUT_S``: a closed port or a dropped
packet), then one Ray GCS client built against it in a child process (``GCS_TIMEOUT_S``:
something else listening there, or a proxy that accepts any connection, as in some
sandboxes). SIGTERM is never blocked while it waits (socket and child-process waits are
interruptible; the child is short-lived).
"""

from __future__ import annotations

import socket
import subprocess
import sys

CONNECT_TIMEOUT_S = 5.0
"""[s] how long the TCP connection to a cluster's head may take."""
GCS_TIMEOUT_S = 20.0
"""[s] how long the child that asks the head's GCS for its cluster id may take (it imports
Ray's core first)."""
DEFAULT_PORT = 6379
"""Ray's GCS port when an address names none."""
_ASK_GCS = "import sys\nfrom ray._raylet import GcsClient\nGcsClient(address=sys.argv[1])\n"


def head(address: str) -> tuple[str, int] | None:
    """``(host, port)`` of a ``host[:port]`` or ``ray://host[:port]`` address; None for
    ``auto`` / ``local`` (Ray finds those itself, from this machine's running cluster)."""
    if address in ("auto", "local"):
        return None
    rest = address.split("://", 1)[-1]
    host, sep, port = rest.rpartition(":")
    if not sep:
        return rest, DEFAULT_PORT
    return host.strip("[]"), int(port)


def probe(key: str, address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Raise ``ValueError`` naming ``key`` unless ``address``'s head accepts a TCP connection
    within ``timeout_s`` and its GCS answers a client within ``GCS_TIMEOUT_S`` (module
    docstring); ``auto`` is left to Ray."""
    try:
        where = head(address)
    except ValueError:
        raise ValueError(
            f"{key} = {address!r}: allowed host:port (e.g. 10.0.0.5:6379), ray://host:port, or auto"
        ) from None
    if where is None:
        return
    try:
        socket.create_connection(where, timeout=timeout_s).close()
        if "://" not in address:  # a GCS address (ray:// is the Ray Client's server)
            _gcs_answers(address, max(GCS_TIMEOUT_S, timeout_s))
    except OSError as exc:
        why = "no answer" if isinstance(exc, TimeoutError) else exc.strerror or str(exc)
        raise ValueError(
            f"{key} = {address!r}: no Ray cluster answers there ({why}); allowed the address "
            "of a running head (`ray start --head`), or leave it out for a local Ray"
        ) from None


def _gcs_answers(address: str, timeout_s: float) -> None:
    """Raise ``OSError`` unless a Ray GCS at ``address`` tells a client its cluster id
    within ``timeout_s`` (in a child process: Ray's client logs to stderr and retries)."""
    try:
        r = subprocess.run(
            [sys.executable, "-c", _ASK_GCS, address],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise TimeoutError("no answer") from None
    if r.returncode != 0 and "AuthToken" not in r.stderr:  # a GCS that wants a token: Ray's
        lines = [ln.strip() for ln in r.stderr.splitlines() if ln.strip()]
        why = lines[-1] if lines else f"exit {r.returncode}"
        raise ConnectionError(why.split(": ", 1)[-1][:160])


def connect(key: str, address: str | None, num_cpus: int | None = None) -> None:
    """``ray.init``: a local Ray with ``num_cpus`` when ``address`` is None, else the cluster
    at ``address`` (probed first, ``probe``; a refused join is one ``ValueError`` line)."""
    import ray

    if not address:
        ray.init(num_cpus=num_cpus, include_dashboard=False)
        return
    probe(key, address)
    try:
        ray.init(address=address)
    except ConnectionError as exc:
        raise ValueError(f"{key} = {address!r}: Ray could not join it ({exc})") from None
