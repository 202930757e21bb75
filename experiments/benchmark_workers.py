"""``pacegym-benchmark`` over several processes: one suite scenario per worker at a time.

``benchmark.workers`` > 1 evaluates the scenarios in that many worker processes (``spawn``:
nothing of this process's threads or state is inherited), each limited to one BLAS, OpenMP,
numba and torch thread (``THREAD_ENV``); ``benchmark.ray_address`` runs them as Ray tasks on
that cluster instead (one CPU each, at most ``workers`` at once; probed first,
``experiments.ray_connect``). A worker resolves its scenario, builds its policies and loads
the agents itself, then runs ``benchmark._scenario_doc``, so every figure is the one a serial
run computes (the same episodes, seeds and bootstrap streams): only ``seconds`` differs. The
scenarios start longest first (episodes x flight length) and come back in suite order.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from multiprocessing import get_context
from typing import Any

from omegaconf import OmegaConf

THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMBA_NUM_THREADS": "1",
    "VECLIB_MAXIMUM_THREADS": "1",
}
"""Set for the worker processes: one thread each for BLAS, OpenMP and numba (torch follows
``OMP_NUM_THREADS``)."""

Job = Callable[[Any, str], dict[str, Any]]
"""``job(benchmark settings (plain), suite key) -> that scenario's document``."""


class _Quiet:
    """A progress bar that shows nothing (a worker's; the parent counts whole scenarios)."""

    def set_postfix_str(self, *_: Any) -> None:
        return None

    def update(self, *_: Any) -> None:
        return None


QUIET = _Quiet()


@contextlib.contextmanager
def _thread_env() -> Iterator[None]:
    """``THREAD_ENV`` in ``os.environ`` while workers start (they inherit it), then restored."""
    saved = {k: os.environ.get(k) for k in THREAD_ENV}
    os.environ.update(THREAD_ENV)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _one_thread() -> None:
    """Worker initializer: torch to one thread too, where it is loaded."""
    import sys

    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)


def run_parallel(
    b: Any, keys: list[str], cost: dict[str, float], job: Job, done: Callable[[str], None]
) -> dict[str, dict[str, Any]]:
    """``{key: job(b, key)}`` for the suite ``keys`` on ``b.workers`` processes or Ray tasks
    (``b.ray_address``); ``done(key)`` after each (the progress bar). Suite order kept."""
    plain = OmegaConf.to_container(b, resolve=True)
    order = sorted(keys, key=lambda k: -cost[k])  # longest first: the last to finish is short
    if b.get("ray_address"):
        docs = _on_ray(plain, order, int(b.workers), str(b.ray_address), job, done)
    else:
        docs = {}
        with (
            _thread_env(),
            ProcessPoolExecutor(
                min(int(b.workers), len(keys)), get_context("spawn"), initializer=_one_thread
            ) as pool,
        ):
            futures = {pool.submit(job, plain, k): k for k in order}
            pending = set(futures)
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in finished:
                    docs[futures[f]] = f.result()
                    done(futures[f])
    return {k: docs[k] for k in keys}


def _on_ray(
    plain: Any, order: list[str], workers: int, address: str, job: Job, done: Callable[[str], None]
) -> dict[str, dict[str, Any]]:
    """The jobs as Ray tasks (one CPU each, ``THREAD_ENV`` in their runtime env)."""
    import ray

    from pacegym.experiments.ray_connect import connect

    connect("benchmark.ray_address", address)
    try:
        task = ray.remote(num_cpus=1, runtime_env={"env_vars": THREAD_ENV})(job)
        docs: dict[str, dict[str, Any]] = {}
        queue, running = list(order), {}
        while queue or running:
            while queue and len(running) < workers:
                k = queue.pop(0)
                running[task.remote(plain, k)] = k
            ready, _ = ray.wait(list(running), num_returns=1)
            for ref in ready:
                k = running.pop(ref)
                docs[k] = ray.get(ref)
                done(k)
        return docs
    finally:
        ray.shutdown()


def scenario_cost(episodes: int, flight_min: float, policies: int) -> float:
    """A scenario's relative cost for ordering: episodes x flight length x policies."""
    return float(episodes) * (flight_min if math.isfinite(flight_min) else 1.0) * policies
