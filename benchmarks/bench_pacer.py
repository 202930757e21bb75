"""Benchmark the exported pacer: numpy runtime vs onnxruntime vs torch eager inference.

    python benchmarks/bench_pacer.py [--rows 1000000] [--repeats 5] [--threads 2]

Policy: SB3 PPO's default actor (2 x 64 tanh) with observation normalisation, exported by
``agents.export``; inputs are observations recorded in the live-commerce env, tiled.
Prints a markdown table of medians over ``--repeats`` runs; ratios are to torch eager
(``TorchActor``, the same modules in torch, ``no_grad``, ``--threads`` threads), measured in
the same run. The numpy and onnxruntime figures include input checks, normalisation and the
action -> throttle mapping (torch: normalisation and clip only). The numpy pacer is shown
with ``threads=1`` (all work in the caller's thread) and with ``--threads`` worker threads
(its default on a machine with that many usable CPUs).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable

import numpy as np


def _median_time(fn: Callable[[], object], repeats: int, inner: int = 1) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        times.append((time.perf_counter() - t0) / inner)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)

    import torch
    from stable_baselines3 import PPO

    from agents.export.artifact import normalization_from_stats
    from agents.export.exporter import export_controller, export_sb3
    from agents.export.runtime import load_pacer
    from agents.export.sb3_policy import TorchActor
    from agents.export.verify import SB3Controller, record_observations
    from agents.vec_env import PacingVecEnv

    torch.set_num_threads(args.threads)
    model = PPO("MlpPolicy", PacingVecEnv("live_commerce", n_envs=4, seed=0), seed=0, device="cpu")
    obs = record_observations(SB3Controller(model, None), "live_commerce", 8, 0, max_rows=50_000)
    norm = normalization_from_stats(obs.mean(0), obs.var(0))
    tmp = tempfile.mkdtemp()
    art = export_sb3(model, f"{tmp}/ppo", normalization=norm)
    pid_art = export_controller({"kind": "pid", "params": {}}, f"{tmp}/pid")
    pacer = load_pacer(art, threads=1)
    pacer_n = load_pacer(art, threads=args.threads)
    onnx1 = load_pacer(art, backend="onnx", threads=1)
    onnxn = load_pacer(art, backend="onnx", threads=args.threads)
    pid = load_pacer(pid_art, threads=1)
    actor = TorchActor(model, norm).eval()

    big = np.ascontiguousarray(np.resize(obs, (args.rows, obs.shape[1])))
    one = obs[100:101].copy()
    one_named = {n: one[:, i] for i, n in enumerate(pacer.features)}

    def torch_eager(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return actor(torch.from_numpy(x)).numpy()

    inner = 3000
    rows: list[tuple[str, str, float, float]] = []
    t_torch1 = _median_time(lambda: torch_eager(one), args.repeats, inner)
    t_torchn = _median_time(lambda: torch_eager(big), args.repeats)
    pid.reset(1)
    single = [
        ("numpy pacer, 2-D array", lambda: pacer(one)),
        ("numpy pacer, named features", lambda: pacer(one_named)),
        ("onnxruntime pacer (1 thread)", lambda: onnx1(one)),
        ("torch eager actor", lambda: torch_eager(one)),
        ("numpy PID rule pacer", lambda: pid(one)),
    ]
    for name, fn in single:
        t = t_torch1 if name.startswith("torch") else _median_time(fn, args.repeats, inner)
        rows.append(("1 campaign", name, t * 1e6, t_torch1 / t))
    pid.reset(args.rows)
    batch = [
        ("numpy pacer (1 thread)", lambda: pacer(big)),
        (f"numpy pacer ({args.threads} threads)", lambda: pacer_n(big)),
        (f"onnxruntime pacer ({args.threads} threads)", lambda: onnxn(big)),
        ("onnxruntime pacer (1 thread)", lambda: onnx1(big)),
        ("torch eager actor (one batch)", lambda: torch_eager(big)),
        ("numpy PID rule pacer", lambda: pid(big)),
    ]
    for name, fn in batch:
        t = t_torchn if name.startswith("torch") else _median_time(fn, args.repeats)
        rows.append((f"{args.rows:,} campaigns", name, t * 1e6, t_torchn / t))

    assert np.abs(pacer.actions(big[:10000]) - onnxn.actions(big[:10000])).max() < 1e-5
    print(f"torch {torch.__version__}, {args.threads} threads, medians of {args.repeats} runs")
    print("| batch | path | median | speed vs torch eager |\n|---|---|---:|---:|")
    for batch_name, name, us, ratio in rows:
        shown = f"{us:.1f} µs" if us < 1e4 else f"{us / 1e6:.3f} s"
        print(f"| {batch_name} | {name} | {shown} | {ratio:.2f}x |")


if __name__ == "__main__":
    main()
