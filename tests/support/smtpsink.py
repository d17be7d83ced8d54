"""Postfix's smtp-sink on a free loopback port: it takes mail as fast as it comes and throws it
away, counting messages. Used by stream tests and benchmarks ("counted at the sink").

    with SmtpSink.start() as sink:
        ... send to sink.host, sink.port ...
        assert sink.wait_for(1000) == 1000
"""

from __future__ import annotations

import contextlib
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from support.mailservers import free_port

__all__ = ["SmtpSink"]

_PROGRAM = "/usr/sbin/smtp-sink"
_COUNTER = re.compile(rb"mesg=(\d+)")


class SmtpSink:
    def __init__(self, process: subprocess.Popen[bytes], port: int, output: Path) -> None:
        self.host = "127.0.0.1"
        self.port = port
        self._process = process
        self._output = output

    @classmethod
    def start(cls, *options: str) -> SmtpSink:
        """``options`` are smtp-sink's own (``-p`` turns PIPELINING off, ``-Q .`` answers 421)."""
        program = shutil.which("smtp-sink") or _PROGRAM
        port = free_port()
        output = Path(tempfile.mkstemp(prefix="smtp-sink-", suffix=".out")[1])
        # -c prints the running counters; -u is required when started as root. The counters go
        # to a file: a pipe nobody reads would fill and stop the sink.
        with output.open("wb") as sink:
            process = subprocess.Popen(
                [program, "-c", "-u", "postfix", *options, f"127.0.0.1:{port}", "1000"],
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        started = cls(process, port, output)
        started._wait_until_listening()
        return started

    def _wait_until_listening(self) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"smtp-sink exited: {self._output.read_text(errors='replace')}")
            with contextlib.suppress(OSError), socket.create_connection((self.host, self.port), 1):
                return
            time.sleep(0.02)
        raise RuntimeError("smtp-sink did not start listening within 10 s")

    def count(self) -> int:
        """Messages the sink has taken so far (its own counter)."""
        found = _COUNTER.findall(self._output.read_bytes())
        return int(found[-1]) if found else 0

    def wait_for(self, expected: int, timeout: float = 10.0) -> int:
        """The count once it reaches ``expected`` (or whatever it is after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while (seen := self.count()) < expected and time.monotonic() < deadline:
            time.sleep(0.02)
        return seen

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._output.unlink(missing_ok=True)

    def __enter__(self) -> SmtpSink:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
