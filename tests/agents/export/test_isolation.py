"""The runtime and the artifact's pacer.py import neither torch, SB3, gymnasium, hydra nor mlflow."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

BLOCKED = (
    "torch",
    "stable_baselines3",
    "sb3_contrib",
    "gymnasium",
    "hydra",
    "mlflow",
    "onnxruntime",
    "numba",
)
REPO = Path(__file__).resolve().parents[3]

PROJECT = ("pacegym",)

BLOCKER = """
import sys
class _Block:
    blocked = {blocked!r}
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in self.blocked:
            raise ImportError(f"blocked import: {{name}}")
        return None
sys.meta_path.insert(0, _Block())
sys.path.insert(0, ".")
"""


def _run(code: str, cwd: Path, project: bool = False) -> str:
    """Run ``code`` in a fresh interpreter in ``cwd`` with the heavy modules blocked
    (and the project's packages too unless ``project``)."""
    blocked = BLOCKED if project else BLOCKED + PROJECT
    r = subprocess.run(
        [sys.executable, "-I", "-c", BLOCKER.format(blocked=blocked) + textwrap.dedent(code)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_project_runtime_imports_only_numpy(ppo_artifact):
    out = _run(
        f"""
        import numpy as np
        from pacegym.agents.export.runtime import load_pacer
        p = load_pacer({str(ppo_artifact)!r})
        x = np.zeros((3, 14), np.float32); x[:, 1] = 1.0; x[:, 2] = 4.7; x[:, 12] = -4.0
        print(p(x).tolist())
        heavy = [m for m in {BLOCKED!r} if m in sys.modules]
        assert not heavy, heavy
        """,
        REPO,
        project=True,
    )
    assert out.strip().startswith("[")


def test_artifact_runs_alone(ppo_artifact, tmp_path):
    # the directory alone, moved elsewhere, with the project not importable
    art = Path(shutil.copytree(ppo_artifact, tmp_path / "deployed"))
    out = _run(
        """
        import numpy as np, pacer
        p = pacer.load(".")
        x = np.zeros((2, 14), np.float32); x[:, 1] = 1.0; x[:, 2] = 4.7; x[:, 12] = -4.0
        x[1, 0] = np.nan
        y = p(x)
        assert y[1] == 0.0 and np.isfinite(y).all()
        for m in ("pacegym",):
            assert m not in sys.modules, m
        print("ok", p.name)
        """,
        art,
    )
    assert out.strip() == "ok ppo-test"


def test_baseline_artifact_runs_alone(tmp_path):
    from pacegym.agents.export.exporter import export_controller

    art = export_controller({"kind": "pid", "name": "pid-test", "params": {}}, tmp_path / "pid")
    out = _run(
        """
        import numpy as np, pacer
        p = pacer.load(".")
        p.reset(2)
        x = np.zeros((2, 14), np.float32); x[:, 1] = 1.0; x[:, 2] = 4.7; x[:, 12] = -4.0
        print(p(x).tolist())
        """,
        art,
    )
    assert out.strip().startswith("[")
