"""The ``Pacer``: inputs to a float32 matrix, safety around any policy kind, worker threads."""

from __future__ import annotations

import operator
from collections.abc import Mapping
from typing import Any

import numpy as np

from .kinds import ActionMap, PolicyKind
from .manifest import PacerError
from .normalize import rowwise, tile
from .workers import Runner, Workers, run_serial

SMALL_ROWS = 4  # up to this many rows, a per-row path with fewer numpy calls [rows]
_FLOAT32 = np.dtype(np.float32)
_NO_ROWS: tuple[int, ...] = ()
_ROW_0 = (0,)


class Pacer:
    """A loaded pacing policy: ``throttles = pacer(observations)``. See ``load``'s module.

    Owns what every kind shares: the input mapping (``as_matrix``), the range check of every
    feature, the fallback for invalid rows, the refusal of NaN or out-of-range throttles, the
    budget guard and the worker threads. ``policy`` (a ``PolicyKind``) turns valid rows into
    throttles. Also a pacegym ``Controller`` (``name``, ``reset(n)``, ``act(obs)``).
    """

    def __init__(
        self, manifest: dict[str, Any], policy: PolicyKind, path: str, guard: bool, threads: int = 1
    ) -> None:
        self.manifest = manifest
        self.path = path
        self.name = str(manifest.get("name", "pacer"))
        self.kind = str(manifest["policy"]["kind"])
        obs = manifest["observation"]["features"]
        self.features: tuple[str, ...] = tuple(f["name"] for f in obs)
        self._feature_set = frozenset(self.features)
        self._width = (len(self.features),)
        self.low = np.array([f["low"] for f in obs], dtype=np.float32)
        self.high = np.array([f["high"] for f in obs], dtype=np.float32)
        self._bound_tiles = (tile(self.low), tile(self.high))  # for ``_valid``
        self.action_map = ActionMap.from_manifest(manifest)
        self.fallback = self.action_map.fallback
        self.budget_guard = guard
        idx = {n: i for i, n in enumerate(self.features)}
        self._guard_cols = (idx.get("reported_spend"), idx.get("in_flight"))
        if guard and None in self._guard_cols:
            raise PacerError(
                "safety.budget_guard needs features 'reported_spend' and 'in_flight';"
                f" the artifact has {self.features}"
            )
        self.policy = policy
        self._row = policy.row_path
        if self._row is not None:  # bound once: the one-row path calls them every time
            self._row_begin, self._row_one = self._row.begin, self._row.one_throttle
        self._bounds = (self.low.astype(float).tolist(), self.high.astype(float).tolist())
        self._box = self._bounds
        if self._row is not None:  # valid rows the normalisation clip leaves alone
            self._box = (
                [max(a, b) for a, b in zip(self._bounds[0], self._row.box[0], strict=True)],
                [min(a, b) for a, b in zip(self._bounds[1], self._row.box[1], strict=True)],
            )
        self.workers = Workers(threads if policy.parallel else 1)
        # the last call's flags: (invalid, guarded) arrays, or the row path's (n, invalid
        # rows, guarded rows), turned into arrays when first read (``last_invalid``)
        self._flags: tuple[Any, ...] = (np.zeros(0, dtype=bool), np.zeros(0, dtype=bool))
        self.manifest_sha256: str | None = None  # set by ``load``: what expected_digest pins

    def as_matrix(self, observations: Any) -> np.ndarray:
        """Observations as a float32 ``(n, n_features)`` array in manifest order."""
        if (
            type(observations) is np.ndarray
            and observations.dtype is _FLOAT32
            and observations.shape[-1:] == self._width
            and observations.ndim == 2
        ):  # the common case, tested first
            return observations
        if type(observations) is not np.ndarray and isinstance(observations, Mapping):
            if observations.keys() != self._feature_set:  # one set comparison when they match
                keys = set(observations)
                missing = [f for f in self.features if f not in keys]
                extra = sorted(str(k) for k in keys - self._feature_set)
                raise PacerError(
                    f"observation features: missing {missing}, unexpected {extra};"
                    f" expected exactly {list(self.features)}"
                )
            try:  # one (n_features, n) array: a single numpy call for the common case
                x = np.array([observations[f] for f in self.features], dtype=np.float32)
            except ValueError:
                lens = {f: np.size(observations[f]) for f in self.features}
                raise PacerError(f"observation features have different lengths: {lens}") from None
            if x.ndim == 1:  # scalars: one campaign
                return x[None, :]
            if x.ndim > 2:
                raise PacerError(
                    f"observation features must be 1-D arrays, got shape {x.shape[1:]}"
                )
            return x.T if x.shape[1] <= SMALL_ROWS else np.ascontiguousarray(x.T)
        x = np.asarray(observations, dtype=np.float32)
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2 or x.shape[1] != len(self.features):
            raise PacerError(
                f"observations have shape {x.shape}: allowed (n, {len(self.features)}), columns"
                f" in the order {list(self.features)}"
            )
        return x

    def __call__(self, observations: Any) -> np.ndarray:
        """Throttles ``(n,)`` float64 in [0, 1] for a batch of campaigns."""
        x = observations
        # ``as_matrix``'s common case, tested inline (a call less on one row)
        if type(x) is not np.ndarray or x.dtype is not _FLOAT32 or x.shape[1:] != self._width:
            x = self.as_matrix(x)
        n = x.shape[0]
        if n <= SMALL_ROWS and self._row is not None:
            return self._one(x.tolist()[0]) if n == 1 else self._small(x)
        out = np.empty(n, dtype=np.float64)
        invalid = np.empty(n, dtype=bool)
        guarded = np.zeros(n, dtype=bool)
        step = self.policy.block_rows
        if step:  # independent rows: blocks may run on the workers, each one whole

            def block(s: int, e: int) -> None:
                self._block(x[s:e], out[s:e], invalid[s:e], guarded[s:e], run_serial)

            self.workers.run(block, n, step)
        else:  # one block, rows keep their index; the kind may use the workers itself
            self._block(x, out, invalid, guarded, self.workers.run)
        self._flags = (invalid, guarded)
        return out

    @property
    def last_invalid(self) -> np.ndarray:
        """``(n,)`` bool, the rows of the last call that got ``fallback_throttle``: an invalid
        input, or a throttle the policy gave outside [0, 1] (NaN included)."""
        return self._flag_arrays()[0]

    @property
    def last_guarded(self) -> np.ndarray:
        """``(n,)`` bool, the rows of the last call that the budget guard set to 0."""
        return self._flag_arrays()[1]

    def _flag_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if len(self._flags) == 3:  # the row path's: made arrays once, when first read
            n, bad, guarded = self._flags
            arrays = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
            for i in bad:
                arrays[0][i] = True
            for i in guarded:
                arrays[1][i] = True
            self._flags = arrays
        return self._flags  # type: ignore[return-value]

    def _one(self, row: list[float]) -> np.ndarray:
        """``_small`` for one row, ``row`` its values as Python floats: the same checks in
        the same order, without the loop and the lists (the latency path's common call)."""
        self._row_begin(1)
        box_lo, box_hi = self._box
        le = operator.le
        bad = guarded = _NO_ROWS
        in_box = all(map(le, box_lo, row)) and all(map(le, row, box_hi))
        if in_box or self._in_bounds(row):
            p = self._row_one(row, in_box, 0)
            if not 0.0 <= p <= 1.0:  # NaN (overflowing weights) or out of range: never served
                bad, p = _ROW_0, self.fallback
            elif self.budget_guard and self._over_budget(row):
                guarded, p = _ROW_0, 0.0
        else:
            bad, p = _ROW_0, self.fallback
        self._flags = (1, bad, guarded)
        out = np.empty(1)
        out[0] = p
        return out

    def _small(self, x: np.ndarray) -> np.ndarray:
        """Same contract as the block path, row by row (latency path, few numpy calls)."""
        n = x.shape[0]
        row_path = self._row
        row_path.begin(n)  # type: ignore[union-attr]
        one = row_path.one_throttle  # type: ignore[union-attr]
        box_lo, box_hi = self._box
        le = operator.le
        out = np.empty(n)
        bad: list[int] = []
        guarded: list[int] = []
        for i, row in enumerate(x.tolist()):
            # NaN fails every comparison, +-inf one of them: one test covers all bad values;
            # the box (valid and unclipped) holds nearly every row, so it is tried first
            in_box = all(map(le, box_lo, row)) and all(map(le, row, box_hi))
            if in_box or self._in_bounds(row):
                p = one(row, in_box, i)
                if not 0.0 <= p <= 1.0:  # NaN (overflowing weights) or out of range: never served
                    bad.append(i)
                    p = self.fallback
                elif self.budget_guard and self._over_budget(row):
                    guarded.append(i)
                    p = 0.0
            else:
                bad.append(i)
                p = self.fallback
            out[i] = p
        self._flags = (n, bad, guarded)
        return out

    def _in_bounds(self, row: list[float]) -> bool:
        """Every value of ``row`` lies in ``[low, high]`` (NaN never does)."""
        (lows, highs), le = self._bounds, operator.le
        return all(map(le, lows, row)) and all(map(le, row, highs))

    def _over_budget(self, row: list[float]) -> bool:
        """The budget guard's test: ``reported_spend + in_flight >= 1``."""
        r, f = self._guard_cols
        return row[r] + row[f] >= 1.0  # type: ignore[index]

    def _valid(self, x: np.ndarray) -> np.ndarray:
        """Rows ``(n,)`` whose every feature lies in ``[low, high]`` (NaN fails both
        comparisons, +-inf one of them: one test covers all bad values).

        A C-contiguous block is first tested whole on flat views (``rowwise``, 5-8x cheaper
        than a test per row); only a block holding some bad value is tested row by row."""
        if x.flags.c_contiguous:
            flags = np.empty(x.shape, dtype=bool)
            lo, hi = self._bound_tiles
            if (
                rowwise(np.greater_equal, x, lo, flags).all()
                and rowwise(np.less_equal, x, hi, flags).all()
            ):
                return np.ones(len(x), dtype=bool)
        return ((x >= self.low) & (x <= self.high)).all(axis=1)

    def _block(
        self, x: np.ndarray, out: np.ndarray, invalid: np.ndarray, guarded: np.ndarray, run: Runner
    ) -> None:
        ok = self._valid(x)
        np.logical_not(ok, out=invalid)
        out[:] = self.policy.throttle(x, ok, run)
        if invalid.any():
            out[invalid] = self.fallback
        if out.size and not (out.min() >= 0.0 and out.max() <= 1.0):  # NaN fails both
            bad = ~((out >= 0.0) & (out <= 1.0))  # a kind that misbehaves never serves NaN
            out[bad] = self.fallback
            invalid |= bad
        if self.budget_guard:
            r, f = self._guard_cols
            np.logical_and(x[:, r].astype(np.float64) + x[:, f] >= 1.0, ok, out=guarded)
            out[guarded] = 0.0

    def actions(self, observations: Any) -> np.ndarray:
        """The deterministic actions before the throttle mapping (no input checks).

        ``mlp``: the clipped action; ``residual``: the correction ``a`` (state of the base
        rule advances as in a call); rules have none (``PacerError``).
        """
        return self.policy.actions(self.as_matrix(observations), self.workers.run)

    def action_to_throttle(self, action: np.ndarray) -> np.ndarray:
        """The manifest's action mapping: clip to [low, high], then to a throttle in [0, 1]."""
        return self.action_map.throttle(action)

    def reset(self, n: int) -> None:
        """Controller protocol: start ``n`` campaigns (clears the state of stateful rules)."""
        self.policy.reset(n)

    def act(self, obs: np.ndarray) -> np.ndarray:
        """Controller protocol: throttles for a ``(n, n_features)`` batch."""
        return self(obs)

    def close(self) -> None:
        """Stop the worker threads (a later large call starts them again)."""
        self.workers.close()

    def __repr__(self) -> str:
        return f"Pacer(name={self.name!r}, kind={self.kind!r}, path={self.path!r})"
