"""Start a local Ray, or join a cluster without waiting on an address that never answers.

``ray.init(address=...)`` retries an unreachable head node for about 20 s and then raises
a traceback (longer where packets are dropped). ``connect`` first opens a plain TCP
connection to the head's GCS port, bounded by ``CONNECT_TIMEOUT_S``, and refuses an
address that does not answer in one line naming the setting (``ValueError``: exit 2 in
the apps). SIGTERM is never blocked while it waits (a socket wait is interruptible).
"""

from __future__ import annotations

import socket

CONNECT_TIMEOUT_S = 5.0
"""[s] how long the TCP probe of a cluster's head waits for an answer."""
DEFAULT_PORT = 6379
"""Ray's GCS port when an address names none."""


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
    within ``timeout_s``."""
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
    except OSError as exc:
        why = "no answer" if isinstance(exc, TimeoutError) else exc.strerror or type(exc).__name__
        raise ValueError(
            f"{key} = {address!r}: no Ray cluster answers there ({why} within "
            f"{timeout_s:g} s); allowed the address of a running head (`ray start --head`), "
            "or leave it out for a local Ray"
        ) from None


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
