"""What the MLflow UI shows of a pacegym experiment, through its ajax API and a browser.

These tests ask the served UI's own ajax endpoints the questions its experiment page asks to pick its
view, and read the shipped UI bundle's rule for that view:

- earlier MLflow 3 UIs open an experiment on its runs when its ``mlflow.experimentKind`` tag
  is ``custom_model_development`` (``experiments/get``);
- MLflow 3.17 picks the view from the browser's "GenAI / Machine learning" switch or the
  URL's ``workflowType`` (``tracking.runs_url`` sets it to ``machine_learning``), and in
  the GenAI view lists as "Training runs" the runs that have LoggedModel outputs
  (``runs/search``), which every train run has;
- the LoggedModels (``logged-models/search``) carry their metrics, linked by model id;
- and a headless chromium renders the runs link: the runs table, not the GenAI overview.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def _post(url: str, body: dict) -> dict:
    req = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    """A store with one run that has a LoggedModel, and ``mlflow ui`` serving it."""
    import mlflow

    from pacegym.experiments import tracking
    from pacegym.experiments.tracking_models import log_model_dir

    root = tmp_path_factory.mktemp("ui")
    uri = f"sqlite:///{root}/mlflow.db"
    cfg = {"tracking": {"uri": uri}, "scenario": {"name": "live_commerce", "money": {"budget": 5}}}
    folder = root / "model"
    folder.mkdir()
    (folder / "agent.json").write_text("{}")
    with tracking.start_run(cfg, "train tiny", {"run_type": "train"}) as run:
        model_id = log_model_dir(folder, "tiny", 128, "final", {"pacing_score_v2": 0.5})
    mlflow.set_tracking_uri(None)
    port = _free_port()
    mlflow_cli = str(Path(sys.executable).parent / "mlflow")
    proc = subprocess.Popen(
        [mlflow_cli, "ui", "--backend-store-uri", uri, "--port", str(port), "--workers", "1"],
        cwd=root,
        # no GenAI job runner (8 more processes importing MLflow): the runs view needs none
        env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(base + "/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("mlflow ui did not start")
            time.sleep(0.5)
    yield {"base": base, "run": run, "model_id": model_id, "uri": uri}
    proc.terminate()
    proc.wait(timeout=30)


def test_the_experiment_is_tagged_to_open_on_its_runs(ui):
    exp_id = ui["run"].info.experiment_id
    exp = _get(f"{ui['base']}/ajax-api/2.0/mlflow/experiments/get?experiment_id={exp_id}")
    tags = {t["key"]: t["value"] for t in exp["experiment"]["tags"]}
    assert tags["mlflow.experimentKind"] == "custom_model_development"


def test_the_runs_link_opens_the_machine_learning_view_of_the_shipped_ui(ui):
    """The installed UI's experiment page reads ``workflowType`` from the URL, and its
    "Machine learning" value opens the runs tab: ``runs_url`` lands on the runs."""
    import mlflow

    from pacegym.experiments.tracking import runs_url

    url = runs_url(ui["base"], ui["run"].info.experiment_id)
    assert url.endswith(
        f"/#/experiments/{ui['run'].info.experiment_id}/runs?workflowType=machine_learning"
    )
    with urllib.request.urlopen(url.split("#")[0], timeout=10) as r:  # the page the link loads
        assert r.status == 200 and b"<html" in r.read().lower()
    bundle = Path(mlflow.__file__).parent / "server" / "js" / "build" / "static" / "js"
    code = "".join(p.read_text(errors="ignore") for p in bundle.glob("*.js"))
    if "mlflow.workflowType" in code:  # MLflow 3.17: the switch decides, the URL first
        assert 'MACHINE_LEARNING="machine_learning"' in code
        assert '.get("workflowType")' in code
    else:  # earlier MLflow 3: the experiment's kind tag decides
        assert "mlflow.experimentKind" in code


def test_train_runs_are_training_runs_with_their_logged_model(ui):
    """The GenAI view's "Training runs" are runs with LoggedModel outputs (the UI's
    ``runs/search`` call), and the model's metrics are linked to it."""
    exp_id = ui["run"].info.experiment_id
    found = _post(
        f"{ui['base']}/ajax-api/2.0/mlflow/runs/search",
        {"experiment_ids": [exp_id], "max_results": 50, "order_by": ["attributes.start_time DESC"]},
    )
    (run,) = found["runs"]
    assert [o["model_id"] for o in run["outputs"]["model_outputs"]] == [ui["model_id"]]
    assert run["inputs"]["dataset_inputs"][0]["dataset"]["name"] == "live_commerce"
    params = {p["key"]: p["value"] for p in run["data"]["params"]}
    assert params["scenario.money.budget"] == "5"  # flat, searchable
    models = _post(
        f"{ui['base']}/ajax-api/2.0/mlflow/logged-models/search", {"experiment_ids": [exp_id]}
    )
    (model,) = models["models"]
    assert (
        model["info"]["name"] == "tiny" and model["info"]["source_run_id"] == run["info"]["run_id"]
    )
    metrics = {m["key"]: m for m in model["data"]["metrics"]}
    assert (
        metrics["pacing_score_v2"]["value"] == 0.5
        and int(metrics["pacing_score_v2"]["step"]) == 128
    )


def _browser() -> str | None:
    return shutil.which("chromium-headless-shell") or shutil.which("chromium")


def test_a_headless_browser_opens_the_runs_link_on_the_runs_table(ui, tmp_path):
    """A real browser renders ``runs_url``: the runs table with the train run's row, not
    the GenAI overview. The screenshot is the artefact (``PACEGYM_UI_SHOT=<png path>``
    keeps it; docs/figures/mlflow_runs.png was made so). CI installs the browser
    (``.ci/run``); elsewhere the test is skipped when none is installed."""
    from pacegym.experiments.tracking import runs_url

    exe = _browser()
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("no chromium-headless-shell: .ci/run installs it with apt-get")
        pytest.skip("no headless chromium installed (apt-get install chromium-headless-shell)")
    url = runs_url(ui["base"], ui["run"].info.experiment_id)
    shot = Path(os.environ.get("PACEGYM_UI_SHOT") or tmp_path / "runs.png")
    flags = ["--no-sandbox", "--disable-gpu", "--window-size=1400,900"]
    flags.append("--virtual-time-budget=20000")  # let the single-page app fetch and draw

    def render(*what: str) -> str:
        out = subprocess.run(
            [exe, *flags, *what, url], capture_output=True, text=True, timeout=180, check=True
        )
        return out.stdout

    dom = render("--dump-dom")
    assert 'col-id="attributes.`Run Name`"' in dom  # the runs table's grid
    assert ui["run"].info.run_name in dom  # with the train run's row
    assert "Detect Issues" not in dom  # not the GenAI traces overview
    render(f"--screenshot={shot}")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
