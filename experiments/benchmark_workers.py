"""``pacegym-benchmark`` over several processes: one suite scenario per worker at a time.

``benchmark.workers`` > 1 evaluates the scenarios in that many worker processes (null, the
default: one per usable CPU, ``worker_count``; 1: in the app's process), each limited
to one BLAS, OpenMP, numba and torch thread (``THREAD_ENV``) and running the clairvoyant's
solves one at a time (``one_thread``: the oracle's ``threads`` is 1 there; that setting only
says how many episodes are solved at once, never what is solved). The workers are forked
from a ``forkserver`` started with ``THREAD_ENV`` (``prestart``, called before the parent
resolves the suite, so the server's imports overlap that work) that has imported the
benchmark's modules once (``PRELOAD``): a worker starts in milliseconds instead of
importing numba, the solver and the rest itself (``spawn``, where there is no
forkserver). Nothing of the parent's threads or state is inherited.
``benchmark.ray_address`` runs them as Ray tasks on that cluster instead (one CPU each, at
most ``workers`` at once; probed first, ``experiments.ray_connect``). A worker gets its
scenario resolved and its policies' specs from the parent (``benchmark._unit``), builds the
controllers and loads the agents itself, then runs ``benchmark._scenario_doc``, so every figure is the one a serial run computes (the same
episodes, seeds and bootstrap streams): only ``seconds`` differs. The scenarios start
longest first (episodes x flight length) and come back in suite order.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from multiprocessing import get_all_start_methods, get_context
from multiprocessing.context import BaseContext
from typing import Any

from omegaconf import OmegaConf

from pacegym.agents.export.runtime.workers import usable_cpus

THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMBA_NUM_THREADS": "1",
    "VECLIB_MAXIMUM_THREADS": "1",
}
"""Set for the worker processes: one thread each for BLAS, OpenMP and numba (torch follows
``OMP_NUM_THREADS``)."""

PRELOAD = ["pacegym.experiments.benchmark"]
"""Imported once by the forkserver, before it forks the workers: the app and through it the
core, the controllers and the solver (not torch: a worker imports it only for agents)."""

Job = Callable[[Any, Any], dict[str, Any]]
"""``job(benchmark settings (plain), a scenario's unit of work) -> its document``."""


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


def _context() -> BaseContext:
    """``forkserver`` preloading ``PRELOAD`` where the platform has it, else ``spawn``."""
    if "forkserver" not in get_all_start_methods():
        return get_context("spawn")
    ctx = get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


def worker_count(b: Any, scenarios: int) -> int:
    """Scenarios evaluated at once for ``scenarios`` suite scenarios: ``b.workers``, or where
    it is null (the default) the CPUs this process may use (``usable_cpus``; on a Ray
    cluster, ``b.ray_address``: every scenario, the cluster queues them by their one CPU
    each); never more than the scenarios, at least 1 (1: serial, in the caller's process)."""
    if b.get("workers") is not None:
        want = int(b.workers)
    else:
        want = scenarios if b.get("ray_address") else usable_cpus()
    return max(1, min(want, scenarios))


def prestart(b: Any, scenarios: int) -> None:
    """Start the forkserver now (with ``THREAD_ENV``) when ``b`` runs its ``scenarios``
    scenarios on local workers, so its imports run while the caller resolves the suite; a
    no-op if it is already running."""
    local = not b.get("ray_address") and "forkserver" in get_all_start_methods()
    if not local or worker_count(b, scenarios) <= 1:
        return
    from multiprocessing import forkserver

    _context()
    with _thread_env():
        forkserver.ensure_running()


def one_thread(spec: dict[str, Any]) -> dict[str, Any]:
    """Controller ``spec`` with its solver ``threads`` (the oracle's episodes solved at
    once) at 1, for a worker that has one core; other specs unchanged. The results are the
    same: each episode's problem is solved alike whichever thread solves it."""
    params = spec.get("params") or {}
    if "threads" not in params:
        return spec
    return {**spec, "params": {**params, "threads": 1}}


def _one_thread() -> None:
    """Worker initializer: torch to one thread too, where it is loaded."""
    import sys

    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(1)


def run_parallel(
    b: Any, units: dict[str, Any], cost: dict[str, float], job: Job, done: Callable[[str], None]
) -> dict[str, dict[str, Any]]:
    """``{key: job(b, units[key])}`` for the suite's scenarios on ``worker_count`` processes
    or Ray tasks (``b.ray_address``); ``done(key)`` after each (the progress bar). The order of
    ``units`` (the suite's) kept."""
    keys = list(units)
    plain = OmegaConf.to_container(b, resolve=True)
    order = sorted(keys, key=lambda k: -cost[k])  # longest first: the last to finish is short
    workers = worker_count(b, len(keys))
    if b.get("ray_address"):
        docs = _on_ray(plain, units, order, workers, str(b.ray_address), job, done)
    else:
        docs = {}
        with (
            _thread_env(),
            ProcessPoolExecutor(workers, _context(), initializer=_one_thread) as pool,
        ):
            futures = {pool.submit(job, plain, units[k]): k for k in order}
            pending = set(futures)
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in finished:
                    docs[futures[f]] = f.result()
                    done(futures[f])
    return {k: docs[k] for k in keys}


def _on_ray(
    plain: Any,
    units: dict[str, Any],
    order: list[str],
    workers: int,
    address: str,
    job: Job,
    done: Callable[[str], None],
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
                running[task.remote(plain, units[k])] = k
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


def stop_forkserver() -> None:
    """Stop this process's forkserver, if one runs, and wait for it: the next run starts a
    fresh one (as a new ``pacegym-benchmark`` does), and the CPU time of the server and of
    the workers it forked is then counted in this process's children's (``getrusage``)."""
    from multiprocessing import forkserver

    stop = getattr(forkserver._forkserver, "_stop", None)  # the standard library's own
    if stop is not None:
        stop()
