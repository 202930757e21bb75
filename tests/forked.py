"""Console scripts run as fresh processes, forked from one interpreter that imported them.

Most of a refused or shortened command's time is the interpreter starting and importing
numpy, numba, Hydra, torch, MLflow and pacegym (2-4 s of CPU each time). A ``Server``
(``python tests/forked.py <socket>``) starts once with the commands' environment, imports
every console script's module, and then forks one child per command it is sent. The child
is a new process: its own pid and process group, the caller's working directory,
environment, stdin, stdout and stderr (the caller's file descriptors, passed over the
socket), and it leaves through the interpreter's own exit (``sys.exit`` at the top level:
threads joined, ``atexit`` run, streams flushed) after running exactly what the installed
console script runs::

    sys.argv[0] = re.sub(r"(-script\\.pyw|\\.exe)?$", "", sys.argv[0])
    sys.exit(<entry point>())

so its exit code, stdout and stderr are the script's. What it does not repeat is the
import (a failure at import is for ``tests/test_console_scripts.py`` and
``tests/test_install.py`` to find: they run the installed scripts themselves).

Two ways in: ``Server.run`` (a test calls it, like ``subprocess.run``), and ``shims``, a
folder of ``pacegym-*`` executables to put first on a shell's ``PATH`` (the doc-check):
each sends its own command line, environment and descriptors to the server named by
``$PACEGYM_FORK_SERVER`` and exits as its child did (the real script when none is set).

Only the standard library is imported here; the server imports the apps after it starts.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
"""The venv's scripts: what an installed console script's ``sys.argv[0]`` names."""
ENV_VAR = "PACEGYM_FORK_SERVER"
"""The server's socket, for the ``shims``."""
HEADER = struct.Struct("!Q")


def entry_point(script: str) -> tuple[str, str]:
    """(module, function) of a ``[project.scripts]`` entry: ``pacegym.cli.<command>``."""
    return "pacegym.cli", script.removeprefix("pacegym-").replace("-", "_")


def _request(script: str, args: list[str], cwd: str, env: dict[str, str]) -> bytes:
    body = json.dumps(
        {
            "argv": [str(BIN / script), *args],
            "entry": entry_point(script),
            "cwd": cwd,
            "env": env,
        }
    ).encode()
    return body


def _send(sock: socket.socket, body: bytes, fds: list[int]) -> None:
    socket.send_fds(sock, [HEADER.pack(len(body))], fds)
    sock.sendall(body)


def _read_line(sock: socket.socket, buf: bytearray) -> str:
    while b"\n" not in buf:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("the fork server closed the connection")
        buf += chunk
    line, _, rest = bytes(buf).partition(b"\n")
    buf[:] = rest
    return line.decode()


class Server:
    """The fork server's process; ``run`` a console script as its child."""

    def __init__(self, env: dict[str, str], cwd: Path | None = None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="forked-"))
        self.path = str(self.dir / "socket")
        self.env = env
        """The children's environment for ``run`` (the shims send their own)."""
        self.log = self.dir / "server.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, __file__, self.path],
                env=env,
                cwd=cwd or self.dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + 600
        while not os.path.exists(self.path):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                text = self.log.read_text(errors="replace")
                self.close()
                raise RuntimeError(f"the fork server did not start:\n{text[-4000:]}")
            time.sleep(0.05)

    def run(
        self,
        script: str,
        args: list[str] | tuple[str, ...],
        cwd: Path,
        env: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Like ``subprocess.run([script, *args], capture_output=True, text=True,
        stdin=DEVNULL)``; raises ``subprocess.TimeoutExpired`` (the child killed)."""
        with (
            tempfile.TemporaryFile() as out,
            tempfile.TemporaryFile() as err,
            open(os.devnull, "rb") as null,
            socket.socket(socket.AF_UNIX) as sock,
        ):
            sock.connect(self.path)
            body = _request(script, list(args), str(cwd), env or self.env)
            _send(sock, body, [null.fileno(), out.fileno(), err.fileno()])
            buf = bytearray()
            pid = int(_read_line(sock, buf).split()[1])
            sock.settimeout(timeout)
            try:
                status = int(_read_line(sock, buf).split()[1])
            except TimeoutError:
                _kill(pid)
                raise subprocess.TimeoutExpired([script, *args], timeout) from None
            out.seek(0)
            err.seek(0)
            text = [f.read().decode(errors="replace") for f in (out, err)]
        code = os.waitstatus_to_exitcode(status)
        return subprocess.CompletedProcess([script, *args], code, *text)

    def shims(self) -> Path:
        """A folder of ``pacegym-*`` executables that run through this server, for a
        ``PATH`` whose environment sets ``ENV_VAR`` to ``self.path``."""
        folder = self.dir / "bin"
        folder.mkdir(exist_ok=True)
        for script in BIN.glob("pacegym-*"):
            shim = folder / script.name
            shim.write_text(
                f"#!{sys.executable} -S\nimport sys\nsys.path.insert(0, {str(Path(__file__).parent)!r})\n"
                f"from forked import shim_main\nshim_main({script.name!r})\n"
            )
            shim.chmod(0o755)
        return folder

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for p in self.dir.rglob("*"):
            if not p.is_dir():
                p.unlink()
        for p in sorted(self.dir.rglob("*"), reverse=True):
            p.rmdir()
        self.dir.rmdir()


def shim_main(script: str) -> None:
    """A shim's body: this command line through the server; exit as its child did."""
    path = os.environ.get(ENV_VAR)
    if not path:  # no server: the real script
        os.execv(str(BIN / script), [str(BIN / script), *sys.argv[1:]])
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(path)
        _send(sock, _request(script, sys.argv[1:], os.getcwd(), dict(os.environ)), [0, 1, 2])
        buf = bytearray()
        pid = int(_read_line(sock, buf).split()[1])
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, lambda s, _f: os.kill(pid, s))
        status = int(_read_line(sock, buf).split()[1])
    if os.WIFSIGNALED(status):
        signal.signal(os.WTERMSIG(status), signal.SIG_DFL)
        os.kill(os.getpid(), os.WTERMSIG(status))
    sys.exit(os.waitstatus_to_exitcode(status))


# -- the server (this file run as a script) ---------------------------------------------------


def _recv_request(conn: socket.socket) -> tuple[dict, list[int]]:
    msg, fds, _, _ = socket.recv_fds(conn, HEADER.size, 3)
    (size,) = HEADER.unpack(msg)
    body = bytearray()
    while len(body) < size:
        chunk = conn.recv(size - len(body))
        if not chunk:
            raise ConnectionError("request cut short")
        body += chunk
    return json.loads(body), fds


def _child(request: dict, fds: list[int], open_socks: list[socket.socket]) -> None:
    """In the forked child: the caller's descriptors, directory, environment, argv."""
    for s in open_socks:
        s.close()
    os.setpgid(0, 0)  # its own process group: a timeout kills what it started too
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = list(request["argv"])
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def serve(path: str) -> dict | None:
    """Fork a child per request; returns the request in a child, None when told to stop."""
    import importlib
    import threading

    from pacegym import cli

    for module in sorted({m for m, _ in cli.COMMANDS.values()}):
        importlib.import_module(module)
    if threading.active_count() != 1:  # a fork copies only the forking thread
        raise RuntimeError(f"threads running after the imports: {threading.enumerate()}")
    import gc

    # The imports' objects are left out of the children's garbage collections, their exit's
    # included: a collection would touch (and so copy) every page the fork shares, ~1 s
    # of CPU per child. What a command makes is collected as in any process.
    gc.collect()
    gc.freeze()
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path + ".tmp")
    listener.listen(64)
    os.rename(path + ".tmp", path)  # the caller waits for the name: now it accepts
    children: dict[int, socket.socket | None] = {}  # None: its caller has gone
    parent = os.getppid()
    while not stop and os.getppid() == parent:  # (a test run killed: the server ends too)
        waiting = [c for c in children.values() if c is not None]
        ready, _, _ = select.select([listener, *waiting], [], [], 0.05)
        for sock in ready:
            if sock is listener:
                conn, _ = listener.accept()
                request, fds = _recv_request(conn)
                sys.stdout.flush()
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:
                    _child(request, fds, [listener, conn, *waiting])
                    return request
                with contextlib.suppress(OSError):  # (the child does too: whichever is first)
                    os.setpgid(pid, pid)
                for fd in fds:
                    os.close(fd)
                conn.sendall(f"pid {pid}\n".encode())
                children[pid] = conn
            else:  # a caller gone before its child ended: end the child
                pid = next(p for p, c in children.items() if c is sock)
                children[pid] = None
                sock.close()
                _kill(pid)
        while children:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            conn = children.pop(pid, None)
            if conn is not None:
                with contextlib.suppress(OSError):
                    conn.sendall(f"status {status}\n".encode())
                conn.close()
    for pid in children:
        _kill(pid)
    return None


def _kill(pid: int) -> None:
    """Kill a child's process group (gone already: nothing to do)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


if __name__ == "__main__":
    sys.path[0] = str(BIN)  # as for an installed console script, not this file's folder
    request = serve(sys.argv[1])
    if request is not None:  # a forked child: what the console script runs
        import importlib

        module, func = request["entry"]
        sys.argv[0] = re.sub(r"(-script\.pyw|\.exe)?$", "", sys.argv[0])
        sys.exit(getattr(importlib.import_module(module), func)())
