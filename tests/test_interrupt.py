"""Ctrl-C ends a command with one line on stderr and exit code 130, and the MLflow run KILLED."""

import os
import signal
import subprocess
import sys
import time

import mlflow
import pytest


def _as_from_a_terminal() -> None:
    """In the child before exec: SIGINT delivered and at its default, as a shell's foreground
    job gets it. A process that ignores or blocks SIGINT passes that to its children (the
    full suite's xdist worker did, after some earlier test in it: the run then trained on
    after the signal); what is tested is pacegym-train's own handling of a Ctrl-C."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.slow
def test_ctrl_c_during_training_is_one_line_and_the_run_ends_killed(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    code = "from pacegym.cli import train; train()"  # what the pacegym-train script runs
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "train.total_timesteps=50000000", "train.eval_freq=0"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_as_from_a_terminal,
    )
    deadline = time.monotonic() + 120
    log = None
    while time.monotonic() < deadline and proc.poll() is None:  # wait until it trains
        logs = list(tmp_path.glob("outputs/train/*/train.log"))
        if logs and "training" in logs[0].read_text():
            log = logs[0]
            break
        time.sleep(0.5)
    assert log is not None, proc.communicate()[1][-2000:]
    time.sleep(2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert err.strip().splitlines()[-1] == "pacegym-train: interrupted"
    assert "Traceback" not in err and "meta_path" not in err
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("pacegym").experiment_id])
    assert run.info.status == "KILLED"


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the dropped one
def test_a_ctrl_c_lost_in_a_destructor_is_raised_by_the_next_check():
    """Python drops a KeyboardInterrupt raised inside ``__del__`` ("Exception ignored");
    ``pacegym.interrupt`` remembers the request, and the training callback's ``check``
    raises it from an ordinary frame."""
    import gc

    from pacegym import interrupt

    class Victim:
        def __del__(self) -> None:
            signal.raise_signal(signal.SIGINT)  # the handler runs, and raises, in here

    previous = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        interrupt.install()
        assert signal.getsignal(signal.SIGINT) is not signal.default_int_handler
        Victim()  # dropped at once: __del__ swallows the KeyboardInterrupt
        gc.collect()
        assert interrupt.requested()
        with pytest.raises(KeyboardInterrupt):
            interrupt.check()
    finally:
        signal.signal(signal.SIGINT, previous)
        interrupt._requested.clear()
