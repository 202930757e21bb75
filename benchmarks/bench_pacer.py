"""Benchmark the exported pacer: numpy runtime vs onnxruntime vs torch eager inference.

    python benchmarks/bench_pacer.py [--rows 1000000] [--repeats 5] [--threads 2]
    python benchmarks/bench_pacer.py --artifact artifacts/pacer   # an exported pacer as is
    python benchmarks/bench_pacer.py --recurrent [--rows 1000000] [--lstm-hidden 64]

Policy: SB3 PPO's default actor (2 x 64 tanh) with observation normalisation, exported by
``agents.export``; inputs are observations recorded in the live-commerce env, tiled.
Prints a markdown table of medians over ``--repeats`` interleaved rounds, wall and the
process's CPU seconds (all threads) per call; ratios are to torch eager (``TorchActor``, the
same modules in torch, ``no_grad``, ``--threads`` threads), measured in the same run, on
wall and on CPU time (on a machine shared with other jobs, CPU time is the steadier one). The numpy and onnxruntime figures include input checks, normalisation and the
action -> throttle mapping (torch: normalisation and clip only). The numpy pacer is shown
with ``threads=1`` (all work in the caller's thread) and with ``--threads`` worker threads
(its default on a machine with that many usable CPUs).

``--recurrent``: the ``lstm`` pacer (``runtime.recurrent``, state in, state out) of an
untrained RecurrentPPO on value_channels (12 segments, 50 inputs, ``--lstm-hidden`` units,
one 64-unit tanh layer, 12 actions), against sb3_contrib's ``predict`` with the same states:
1 campaign, then ``--rows`` campaigns, each on 1 and ``--threads`` threads (the pacer's
worker threads; torch's intra-op threads); its timing, not its quality, is measured.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable

import numpy as np


def _interleaved(fns: dict[str, Callable[[], object]], rounds: int, inner: int) -> dict[str, float]:
    """Median seconds per call of each function, measured in interleaved rounds.

    Every round times ``inner`` calls of each function in turn, so all paths share the same
    spells of load from other jobs on a shared machine; the median over rounds is reported.
    """
    for fn in fns.values():
        fn()  # warm-up
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            for _ in range(inner):
                fn()
            times[name].append((time.perf_counter() - t0) / inner)
    return {name: statistics.median(ts) for name, ts in times.items()}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--artifact", default=None, help="time this exported pacer instead")
    ap.add_argument("--scenario", default="live_commerce", help="with --artifact: its inputs")
    ap.add_argument("--recurrent", action="store_true", help="time the lstm pacer instead")
    ap.add_argument("--lstm-hidden", type=int, default=64, help="with --recurrent: LSTM units")
    args = ap.parse_args(argv)
    if args.recurrent:
        bench_recurrent(args.rows, args.repeats, args.lstm_hidden, args.threads)
        return
    if args.artifact:
        bench_artifact(args.artifact, args.scenario, args.rows, args.repeats, args.threads)
        return

    import torch
    from stable_baselines3 import PPO

    from pacegym.agents.export.artifact import normalization_from_stats
    from pacegym.agents.export.exporter import export_controller, export_sb3
    from pacegym.agents.export.runtime import load_pacer
    from pacegym.agents.export.runtime.workers import usable_cpus
    from pacegym.agents.export.sb3_policy import TorchActor
    from pacegym.agents.export.verify import record_observations
    from pacegym.agents.policy import SB3Controller
    from pacegym.agents.vec_env import PacingVecEnv

    torch.set_num_threads(args.threads)
    model = PPO("MlpPolicy", PacingVecEnv("live_commerce", n_envs=4, seed=0), seed=0, device="cpu")
    obs = record_observations(SB3Controller(model, None), "live_commerce", 8, 0, max_rows=50_000)
    norm = normalization_from_stats(obs.mean(0), obs.var(0))
    tmp = tempfile.mkdtemp()
    art = export_sb3(model, f"{tmp}/ppo", normalization=norm)
    pid_art = export_controller({"kind": "pid", "params": {}}, f"{tmp}/pid")
    res_art = _residual_artifact(f"{tmp}/residual")
    pacer = load_pacer(art, threads=1)
    pacer_n = load_pacer(art, threads=args.threads)
    onnx1 = load_pacer(art, backend="onnx", threads=1)
    onnxn = load_pacer(art, backend="onnx", threads=args.threads)
    pid = load_pacer(pid_art, threads=1)
    residual = load_pacer(res_art, threads=1)
    actor = TorchActor(model, norm).eval()

    big = np.ascontiguousarray(np.resize(obs, (args.rows, obs.shape[1])))
    one = obs[100:101].copy()
    one_named = {n: one[:, i] for i, n in enumerate(pacer.features)}

    def torch_eager(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return actor(torch.from_numpy(x)).numpy()

    one_floats = {n: float(one[0, i]) for i, n in enumerate(pacer.features)}
    pid.reset(1)
    residual.reset(1)
    load_start = os.getloadavg()[0]
    single = _wall_and_cpu(
        {
            "numpy pacer, 2-D array": lambda: pacer(one),
            "numpy pacer, named features (1-element arrays)": lambda: pacer(one_named),
            "numpy pacer, named features (floats)": lambda: pacer(one_floats),
            "onnxruntime pacer (1 thread)": lambda: onnx1(one),
            "torch eager actor": lambda: torch_eager(one),
            "numpy PID rule pacer": lambda: pid(one),
            "numpy residual pacer (PID + 2 x 64 tanh)": lambda: residual(one),
        },
        args.repeats,
        inner=2000,
    )
    pid.reset(args.rows)
    batch = _wall_and_cpu(
        {
            "numpy pacer (1 thread)": lambda: pacer(big),
            f"numpy pacer ({args.threads} threads)": lambda: pacer_n(big),
            f"onnxruntime pacer ({args.threads} threads)": lambda: onnxn(big),
            "onnxruntime pacer (1 thread)": lambda: onnx1(big),
            "torch eager actor (one batch)": lambda: torch_eager(big),
            "numpy PID rule pacer": lambda: pid(big),
        },
        args.repeats,
        inner=1,
    )
    rows: list[tuple[str, str, float, float, float, float]] = []
    for label, timed, (ref, ref_cpu) in (
        ("1 campaign", single, single["torch eager actor"]),
        (f"{args.rows:,} campaigns", batch, batch["torch eager actor (one batch)"]),
    ):
        rows += [(label, name, w, c, ref / w, ref_cpu / c) for name, (w, c) in timed.items()]

    assert np.abs(pacer.actions(big[:10000]) - onnxn.actions(big[:10000])).max() < 1e-5
    print(
        f"torch {torch.__version__}, {args.threads} threads, medians of {args.repeats}"
        f" interleaved rounds; load (1-min average) {load_start:.1f} at the start,"
        f" {os.getloadavg()[0]:.1f} at the end, {usable_cpus()} usable CPUs"
    )
    print("| batch | path | wall | CPU (all threads) | vs torch eager: wall | CPU |")
    print("|---|---|---:|---:|---:|---:|")
    for batch_name, name, wall, cpu, ratio, ratio_cpu in rows:
        shown = [f"{t * 1e6:.1f} µs" if t < 1e-3 else f"{t:.3f} s" for t in (wall, cpu)]
        print(
            f"| {batch_name} | {name} | {shown[0]} | {shown[1]} | {ratio:.2f}x | {ratio_cpu:.2f}x |"
        )


def _residual_artifact(path: str) -> str:
    """An untrained residual PPO (SB3's default actor) on the default PID, exported: its
    timing, not its quality, is measured."""
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecNormalize

    from pacegym.agents.export.artifact import normalization_from_vecnormalize
    from pacegym.agents.export.exporter import export_residual
    from pacegym.agents.residual import ResidualVecEnv
    from pacegym.agents.vec_env import PacingVecEnv

    base = {"kind": "pid", "params": {}}
    env = VecNormalize(ResidualVecEnv(PacingVecEnv("live_commerce", n_envs=4, seed=1), base, 1.0))
    model = PPO("MlpPolicy", env, n_steps=32, batch_size=128, n_epochs=1, seed=0, device="cpu")
    model.learn(128)
    norm = normalization_from_vecnormalize(env, n=15)
    return str(export_residual(model, base, 1.0, path, normalization=norm))


def bench_artifact(path: str, scenario: str, rows: int, repeats: int, threads: int) -> None:
    """Time an exported pacer (any kind: a residual agent's too) on observations it meets in
    ``scenario``, tiled to ``rows`` campaigns: 1 campaign, then ``rows`` with 1 and ``threads``
    worker threads. A stateful base rule is reset to the batch size once, as a service would."""
    from pacegym.agents.export.runtime import load_pacer
    from pacegym.agents.export.verify import record_observations

    probe = load_pacer(path, threads=1)
    obs = record_observations(probe, scenario, 8, 0, max_rows=50_000)
    big = np.ascontiguousarray(np.resize(obs, (rows, obs.shape[1])))
    one = obs[100:101].copy()
    p1, pn, single = (
        load_pacer(path, threads=1),
        load_pacer(path, threads=threads),
        load_pacer(path),
    )
    single.reset(1)
    p1.reset(rows)
    pn.reset(rows)
    t_one = _interleaved({"1": lambda: single(one)}, repeats, inner=2000)["1"]
    t_big = _interleaved({"1": lambda: p1(big), "n": lambda: pn(big)}, repeats, inner=1)
    kind = probe.manifest["policy"]["kind"]
    print(f"{path} ({kind}), {scenario} observations, medians of {repeats} interleaved rounds")
    print("| batch | path | median |\n|---|---|---:|")
    print(f"| 1 campaign | numpy pacer | {t_one * 1e6:.1f} µs |")
    print(f"| {rows:,} campaigns | numpy pacer (1 thread) | {t_big['1']:.3f} s |")
    print(f"| {rows:,} campaigns | numpy pacer ({threads} threads) | {t_big['n']:.3f} s |")


def _wall_and_cpu(
    fns: dict[str, Callable[[], object]], rounds: int, inner: int
) -> dict[str, tuple[float, float]]:
    """``_interleaved`` with the process's CPU seconds (all threads) beside the wall seconds:
    medians per call of each, over ``rounds`` interleaved rounds."""
    for fn in fns.values():
        fn()  # warm-up
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(inner):
                fn()
            times[name].append(
                ((time.perf_counter() - t0) / inner, (time.process_time() - c0) / inner)
            )
    return {
        name: (statistics.median(w for w, _ in ts), statistics.median(c for _, c in ts))
        for name, ts in times.items()
    }


def _recurrent_model(hidden: int) -> tuple[object, np.ndarray, str]:
    """An untrained RecurrentPPO on value_channels, observations of a dual-price rollout
    (8 campaigns x 400 ticks) and the model exported as an lstm pacer (its folder)."""
    from sb3_contrib import RecurrentPPO

    from pacegym.agents.export.recurrent_export import export_recurrent
    from pacegym.agents.vec_env import PacingVecEnv
    from pacegym.baselines.factory import from_spec
    from pacegym.envs.spaces import obs_names

    env = PacingVecEnv("value_channels", n_envs=8, seed=0)
    kw = {"lstm_hidden_size": hidden, "net_arch": [64]}
    model = RecurrentPPO("MlpLstmPolicy", env, policy_kwargs=kw, seed=0, device="cpu")
    obs, ctrl = [env.reset()], from_spec({"kind": "dual_price", "params": {}})
    ctrl.reset(8)
    for _ in range(400):
        obs.append(env.step_throttle(ctrl.act(obs[-1]))[0])
    names = list(obs_names(env.segments))
    art = export_recurrent(model, tempfile.mkdtemp() + "/lstm", names, names, env.segments)
    return model, np.concatenate(obs[1:]), str(art)


def bench_recurrent(rows: int, repeats: int, hidden: int, threads: int) -> None:
    """Time the lstm pacer and sb3_contrib's ``predict`` on value_channels observations
    (``_recurrent_model``'s, tiled to ``rows`` campaigns); states carried by the caller. The
    pacer on 1 and ``threads`` worker threads, ``predict`` with torch on 1 and ``threads``."""
    import torch

    from pacegym.agents.export.runtime import load_recurrent_pacer
    from pacegym.agents.export.runtime.workers import usable_cpus

    torch.set_num_threads(1)
    model, recorded, art = _recurrent_model(hidden)
    p1, pn = load_recurrent_pacer(art, threads=1), load_recurrent_pacer(art, threads=threads)
    big = np.ascontiguousarray(np.resize(recorded, (rows, recorded.shape[1])))
    one, s1, sb = recorded[100:101], p1.initial_state(1), p1.initial_state(rows)
    shape = (model.policy.lstm_actor.num_layers, 1, hidden)
    h1 = (np.zeros(shape, np.float32), np.zeros(shape, np.float32))
    hb = (np.zeros((*shape[:1], rows, hidden), np.float32),) * 2
    no, nb = np.zeros(1, dtype=bool), np.zeros(rows, dtype=bool)

    def predict(x: np.ndarray, state: tuple, starts: np.ndarray, n_threads: int) -> object:
        torch.set_num_threads(n_threads)
        return model.predict(x, state, starts, deterministic=True)

    load_start = os.getloadavg()[0]
    torch_1 = "sb3_contrib predict (torch 1 thread)"
    single = _wall_and_cpu(
        {"numpy lstm pacer": lambda: p1.step(one, s1), torch_1: lambda: predict(one, h1, no, 1)},
        repeats,
        inner=500,
    )
    batch = _wall_and_cpu(
        {
            "numpy lstm pacer (1 thread)": lambda: p1.step(big, sb),
            f"numpy lstm pacer ({threads} threads)": lambda: pn.step(big, sb),
            torch_1: lambda: predict(big, hb, nb, 1),
            f"sb3_contrib predict (torch {threads} threads)": lambda: predict(big, hb, nb, threads),
        },
        repeats,
        inner=1,
    )
    a_np, _ = pn.actions(big[:4096], sb[:4096])
    a_torch, _ = predict(big[:4096], tuple(h[:, :4096] for h in hb), nb[:4096], 1)
    print(
        f"lstm pacer, {hidden} units, value_channels (12 segments, 50 inputs); torch"
        f" {torch.__version__}; medians of {repeats} interleaved rounds; load (1-min average)"
        f" {load_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end; {usable_cpus()}"
        f" usable CPUs; max |numpy - torch action| {np.abs(a_np - a_torch).max():.1e}"
    )
    print("| batch | path | wall | CPU (all threads) | wall speed vs predict (1 thread) |")
    print("|---|---|---:|---:|---:|")
    for label, timed in (("1 campaign", single), (f"{rows:,} campaigns x 12 segments", batch)):
        ref = timed[torch_1][0]
        for name, (wall, cpu) in timed.items():
            shown = [f"{t * 1e6:.1f} µs" if t < 1e-2 else f"{t:.3f} s" for t in (wall, cpu)]
            print(f"| {label} | {name} | {shown[0]} | {shown[1]} | {ref / wall:.2f}x |")


if __name__ == "__main__":
    main()
