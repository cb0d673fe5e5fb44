"""The soak drill's worker process as the driver sees it: start, send a command, read an answer, kill -9.

A reader thread moves the worker's stdout lines into a queue, so the driver can wait for an
answer with a deadline and tell "answered" from "died" (end of output) from "hung" (the deadline).
"""

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

__all__ = ["WorkerDiedError", "WorkerHungError", "WorkerProcess"]

START_TIMEOUT_S = 60.0


class WorkerDiedError(Exception):
    """The worker ended before it answered (killed, or crashed: ``returncode`` says which)."""

    def __init__(self, returncode: int | None) -> None:
        super().__init__(f"the worker ended with {returncode}")
        self.returncode = returncode


class WorkerHungError(TimeoutError):
    """The worker neither answered nor ended by the deadline."""


class WorkerProcess:
    """One ``python -m testbench.soak_worker`` with its settings; its stderr goes to ``log``."""

    def __init__(self, settings_json: str, log: IO[str]) -> None:
        env = {k: v for k, v in os.environ.items() if k != "PUMP_CRASH_AT"}
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "testbench.soak_worker", settings_json],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env=env,
            cwd=Path(__file__).resolve().parent.parent,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()
        ready = self.answer(START_TIMEOUT_S)
        if not ready.get("ready"):
            raise RuntimeError(f"the worker did not start: {ready}")

    def _drain(self) -> None:
        stdout = self.process.stdout
        if stdout is not None:
            for line in stdout:
                self._lines.put(line)
        self._lines.put(None)

    def send(self, command: dict[str, Any]) -> None:
        """Write one command; a worker already dead shows at :meth:`answer`."""
        stdin = self.process.stdin
        if stdin is None:
            raise RuntimeError("the worker has no stdin")
        with contextlib.suppress(BrokenPipeError):
            stdin.write(json.dumps(command) + "\n")
            stdin.flush()

    def answer(self, timeout_s: float) -> dict[str, Any]:
        """The next answer.

        Raises:
            WorkerDiedError: the worker ended first.
            WorkerHungError: nothing came within ``timeout_s``.
        """
        try:
            line = self._lines.get(timeout=timeout_s)
        except queue.Empty:
            raise WorkerHungError(f"no answer within {timeout_s} s") from None
        if line is None:
            raise WorkerDiedError(self.process.wait(timeout=30))
        answer: dict[str, Any] = json.loads(line)
        return answer

    def kill9(self) -> bool:
        """SIGKILL it if it still runs; True when this call killed it."""
        if self.process.poll() is not None:
            return False
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        return True

    def close(self) -> None:
        """End it politely (stdin closed), or kill it if it does not go."""
        if self.process.stdin is not None and not self.process.stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill9()
