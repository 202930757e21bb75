"""Read a stable-baselines3 policy's deterministic actor as plain arrays (writer side).

Supported: ``ActorCriticPolicy`` (PPO, A2C; deterministic action = the Gaussian mean),
SAC (``tanh`` of the mean) and TD3/DDPG (the ``mu`` network), all with a flatten
features extractor and dense layers. Anything else (CNN or recurrent policies, dict
observations, custom extractors) is refused with ``ExportError`` naming the module.

``actor_layers(model)`` returns the layers as ``[(weight (in, out) float32, bias, activation)]``;
``TorchActor`` wraps the same torch modules (plus the normalisation) for ONNX export and
for the torch-eager reference in parity tests and benchmarks.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from pacegym.agents.export.runtime import Normalization

ACT_NAMES: dict[type, str] = {
    nn.Tanh: "tanh",
    nn.ReLU: "relu",
    nn.ELU: "elu",
    nn.LeakyReLU: "leaky_relu",
    nn.SiLU: "silu",
    nn.Identity: "identity",
}


class ExportError(ValueError):
    """A model or source that cannot be exported; the message names what and why."""


def _actor_modules(policy: Any) -> list[nn.Module]:
    """The deterministic actor as a flat list of torch modules, input -> action."""
    from stable_baselines3.common.policies import ActorCriticPolicy
    from stable_baselines3.common.torch_layers import FlattenExtractor

    if isinstance(policy, ActorCriticPolicy):
        fx = policy.pi_features_extractor
        if not isinstance(fx, FlattenExtractor):
            raise ExportError(f"features extractor {type(fx).__name__}: only FlattenExtractor")
        mods = [*policy.mlp_extractor.policy_net, policy.action_net]
        if policy.squash_output:
            mods.append(nn.Tanh())
        return mods
    actor = getattr(policy, "actor", None)
    if actor is None:
        raise ExportError(f"policy {type(policy).__name__}: no actor to export")
    fx = actor.features_extractor
    if not isinstance(fx, FlattenExtractor):
        raise ExportError(f"features extractor {type(fx).__name__}: only FlattenExtractor")
    if hasattr(actor, "latent_pi"):  # SAC: tanh-squashed Gaussian, mean = tanh(mu(latent))
        if getattr(actor, "use_sde", False):
            raise ExportError("SAC with gSDE: export a policy trained without use_sde")
        return [*actor.latent_pi, actor.mu, nn.Tanh()]
    return list(actor.mu)  # TD3 / DDPG: Linear/act ... Linear, Tanh


def actor_layers(model: Any) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """Dense layers of the deterministic actor of an SB3 ``model`` (or policy)."""
    from gymnasium import spaces

    policy = getattr(model, "policy", model)
    if not isinstance(policy.action_space, spaces.Box) or policy.action_space.shape != (1,):
        raise ExportError(f"action space {policy.action_space}: allowed Box with shape (1,)")
    return module_layers(_actor_modules(policy))


def module_layers(mods: list[nn.Module]) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """Dense layers ``[(weight (in, out) float32, bias, activation)]`` of torch modules
    (``Linear`` each followed by at most one activation of ``ACT_NAMES``)."""
    layers: list[tuple[np.ndarray, np.ndarray, str]] = []
    for mod in mods:
        if isinstance(mod, nn.Linear):
            w = mod.weight.detach().cpu().numpy().T.astype(np.float32)
            b = mod.bias.detach().cpu().numpy().astype(np.float32)
            layers.append((np.ascontiguousarray(w), b, "identity"))
        elif type(mod) in ACT_NAMES and ACT_NAMES[type(mod)] != "identity":
            if isinstance(mod, nn.LeakyReLU) and mod.negative_slope != 0.01:
                raise ExportError(f"LeakyReLU slope {mod.negative_slope}: allowed 0.01")
            if isinstance(mod, nn.ELU) and mod.alpha != 1.0:
                raise ExportError(f"ELU alpha {mod.alpha}: allowed 1.0")
            if not layers or layers[-1][2] != "identity":
                raise ExportError(f"activation {type(mod).__name__} without a Linear before it")
            w, b, _ = layers[-1]
            layers[-1] = (w, b, ACT_NAMES[type(mod)])
        elif not isinstance(mod, nn.Identity | nn.Flatten):
            raise ExportError(
                f"actor module {type(mod).__name__}: allowed Linear and {sorted(ACT_NAMES.values())}"
            )
    if not layers:
        raise ExportError("the actor has no Linear layer")
    return layers


def action_bounds(model: Any) -> tuple[float, float]:
    """The Box bounds the deterministic action is clipped (or unscaled) to."""
    space = getattr(model, "policy", model).action_space
    low, high = float(space.low[0]), float(space.high[0])
    squashed = _squashes(getattr(model, "policy", model))
    if squashed and (low, high) != (-1.0, 1.0):
        raise ExportError(f"squashed actor with action bounds [{low}, {high}]: allowed [-1, 1]")
    return low, high


def _squashes(policy: Any) -> bool:
    return bool(getattr(policy, "squash_output", False)) or hasattr(policy, "actor")


class TorchActor(nn.Module):
    """Raw observation -> deterministic action, in torch (for ONNX and the eager reference).

    The normalisation's statistics come from the runtime's ``Normalization`` (``std`` in
    float64, then float32); the graph computes in float32, so the onnx backend agrees with
    the numpy one to 1e-5 (tested), not bit for bit.
    """

    def __init__(
        self, model: Any, normalization: dict[str, Any] | None, inputs: list[str] | None = None
    ) -> None:
        super().__init__()
        from pacegym.envs.spaces import OBS_INDEX

        self.select = inputs is not None
        if inputs is not None:  # the raw observation's columns the network reads
            idx = torch.tensor([OBS_INDEX[n] for n in inputs], dtype=torch.long)
            self.register_buffer("index", idx)
        self.net = nn.Sequential(*_actor_modules(getattr(model, "policy", model))).float()
        self.net.eval()
        low, high = action_bounds(model)
        self.register_buffer("a_low", torch.tensor(low, dtype=torch.float32))
        self.register_buffer("a_high", torch.tensor(high, dtype=torch.float32))
        self.normalize = normalization is not None
        if normalization is not None:
            norm = Normalization.from_spec(normalization)
            self.register_buffer("mean", torch.tensor(norm.mean, dtype=torch.float32))
            self.register_buffer("std", torch.tensor(norm.std, dtype=torch.float32))
            self.clip = norm.clip

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        x = obs
        if self.select:
            x = torch.index_select(x, 1, self.index)
        if self.normalize:  # Normalization.__call__ as graph ops (ONNX cannot call numpy)
            x = torch.clamp((x - self.mean) / self.std, -self.clip, self.clip)
        a = self.net(x)
        return torch.minimum(torch.maximum(a, self.a_low), self.a_high)


def sb3_reference_actions(model: Any, obs_normalized: np.ndarray) -> np.ndarray:
    """``model.predict(obs, deterministic=True)`` on already-normalised observations, ``(n,)``."""
    a, _ = model.predict(np.asarray(obs_normalized, dtype=np.float32), deterministic=True)
    return np.asarray(a, dtype=np.float64).reshape(-1)
