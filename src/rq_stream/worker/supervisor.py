"""Run N worker processes and keep them running: ``rq-stream worker APP --processes N``.

Each child is an ordinary single-process worker (``python -m rq_stream worker ...``) in its own
session, so a Ctrl-C in the terminal reaches only the supervisor, which forwards exactly one
SIGTERM to each child (a second signal forwards another: the children stop at once).

- A child that dies is restarted after an exponential backoff (reset once a child has lived
  ``stable_after_s``); the log says how it died (exit code or signal).
- A child that exits with :data:`EXIT_CANNOT_START` could not even start (import error, missing
  attribute, bad configuration): restarting cannot help, so the supervisor reports the child's
  error once, stops the others and exits with that code.
- In burst mode a child that exits 0 is done and is not restarted.

Children receive in their environment ``RQ_STREAM_WORKER_INDEX`` (0..N-1),
``RQ_STREAM_SUPERVISOR_PID`` (a child stops by itself if the supervisor disappears) and
``RQ_STREAM_STATUS_FD`` (a pipe on which a child that cannot start writes why).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field

import anyio
import anyio.abc
import structlog

log = structlog.get_logger("rq_stream.supervisor")

EXIT_CANNOT_START = 78
"""A worker process exits with this code when it cannot start (``EX_CONFIG`` in sysexits.h)."""

ENV_INDEX = "RQ_STREAM_WORKER_INDEX"
ENV_SUPERVISOR_PID = "RQ_STREAM_SUPERVISOR_PID"
ENV_STATUS_FD = "RQ_STREAM_STATUS_FD"


@dataclass(frozen=True, slots=True)
class RestartBackoff:
    """Delay before restarting a child after its ``failures``-th quick death in a row."""

    base_s: float = 1.0
    cap_s: float = 60.0
    stable_after_s: float = 30.0
    """A child that lived at least this long died for a fresh reason: its backoff starts over."""

    def delay_s(self, failures: int) -> float:
        if failures <= 0:
            return 0.0
        return min(self.cap_s, self.base_s * 2.0 ** min(failures - 1, 30))


def describe_exit(returncode: int) -> dict[str, object]:
    """``{"exit_code": 3}`` or ``{"signal": "SIGKILL"}`` for a child's return code."""
    if returncode < 0:
        try:
            return {"signal": signal.Signals(-returncode).name}
        except ValueError:
            return {"signal": -returncode}
    return {"exit_code": returncode}


@dataclass
class _Child:
    index: int
    process: anyio.abc.Process
    status_fd: int
    started: float = field(default_factory=time.monotonic)

    def read_status(self) -> str:
        """What the child wrote on its status pipe (why it could not start), then close it."""
        chunks: list[bytes] = []
        try:
            os.set_blocking(self.status_fd, False)
            while chunk := os.read(self.status_fd, 65536):
                chunks.append(chunk)
        except BlockingIOError:
            pass
        finally:
            os.close(self.status_fd)
        return b"".join(chunks).decode(errors="replace").strip()


class Supervisor:
    """Start ``processes`` copies of ``command`` and supervise them until stopped.

    ``run()`` returns the exit code for the whole command: 0 after a requested stop (or, in burst
    mode, once every child finished), :data:`EXIT_CANNOT_START` when a child cannot start, 1 if
    children had to be killed after ``stop_timeout_s``.
    """

    def __init__(
        self,
        command: Sequence[str],
        processes: int,
        *,
        burst: bool = False,
        backoff: RestartBackoff | None = None,
        stop_timeout_s: float = 35.0,
        env: Mapping[str, str] | None = None,
        handle_signals: bool = True,
    ) -> None:
        if processes < 1:
            raise ValueError(f"processes must be >= 1, got {processes}")
        self.command = list(command)
        self.processes = processes
        self.burst = burst
        self.backoff = backoff or RestartBackoff()
        self.stop_timeout_s = stop_timeout_s
        self.env = dict(os.environ if env is None else env)
        self.handle_signals = handle_signals
        self.children: dict[int, _Child] = {}
        self.fatal: str | None = None
        self.killed = False
        self._stopping = anyio.Event()

    # ------------------------------------------------------------------ public
    def request_stop(self, reason: str = "stop requested") -> None:
        """Stop restarting children and ask each running child to drain (SIGTERM)."""
        if self._stopping.is_set():
            return
        log.info("stopping: asking worker processes to finish their jobs", reason=reason)
        self._stopping.set()
        self._signal_children(signal.SIGTERM)

    async def run(self) -> int:
        log.info("supervisor started", processes=self.processes, pid=os.getpid(), burst=self.burst)
        async with anyio.create_task_group() as outer:
            if self.handle_signals:
                outer.start_soon(self._watch_signals)
            outer.start_soon(self._escalate)
            async with anyio.create_task_group() as slots:
                for index in range(self.processes):
                    slots.start_soon(self._slot, index)
            outer.cancel_scope.cancel()
        if self.fatal is not None:
            return EXIT_CANNOT_START
        if self.killed:
            return 1
        log.info("supervisor stopped: all worker processes have exited")
        return 0

    # ------------------------------------------------------------------ one slot
    async def _slot(self, index: int) -> None:
        """Keep worker process number ``index`` running until stop (or burst completion)."""
        failures = 0
        while not self._stopping.is_set():
            child = await self._spawn(index)
            returncode = await child.process.wait()
            uptime_s = time.monotonic() - child.started
            del self.children[index]
            status = child.read_status()
            if self._stopping.is_set():
                log.info("worker process exited", index=index, pid=child.process.pid,
                         **describe_exit(returncode))  # fmt: skip
                return
            if returncode == EXIT_CANNOT_START:
                self._give_up(index, child, status)
                return
            if returncode == 0 and self.burst:
                log.info("worker process finished (burst)", index=index, pid=child.process.pid)
                return
            failures = 1 if uptime_s >= self.backoff.stable_after_s else failures + 1
            delay = self.backoff.delay_s(failures)
            log.warning(
                "worker process died; restarting it",
                index=index,
                pid=child.process.pid,
                uptime_s=round(uptime_s, 2),
                restart_in_s=round(delay, 2),
                **describe_exit(returncode),
            )
            with anyio.move_on_after(delay):
                await self._stopping.wait()

    async def _spawn(self, index: int) -> _Child:
        read_fd, write_fd = os.pipe()
        env = {
            **self.env,
            ENV_INDEX: str(index),
            ENV_SUPERVISOR_PID: str(os.getpid()),
            ENV_STATUS_FD: str(write_fd),
        }
        try:
            process = await anyio.open_process(
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=None,
                stderr=None,
                env=env,
                start_new_session=True,
                pass_fds=(write_fd,),
            )
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        child = self.children[index] = _Child(index, process, read_fd)
        log.info("worker process started", index=index, pid=process.pid)
        if self._stopping.is_set():  # a stop arrived while it was being spawned
            process.send_signal(signal.SIGTERM)
        return child

    def _give_up(self, index: int, child: _Child, status: str) -> None:
        if self.fatal is None:
            self.fatal = status or f"exit code {EXIT_CANNOT_START}"
            log.error(
                "worker process cannot start; not restarting it (its error is reported once, "
                "by the command)",
                index=index,
                pid=child.process.pid,
            )
        self.request_stop("a worker process cannot start")

    # ------------------------------------------------------------------ stopping
    def _signal_children(self, signum: signal.Signals) -> None:
        for child in list(self.children.values()):
            if child.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    child.process.send_signal(signum)

    async def _watch_signals(self) -> None:
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            received = 0
            async for signum in signals:
                received += 1
                name = signal.Signals(signum).name
                if received == 1:
                    self.request_stop(f"{name} received")
                elif received == 2:
                    log.warning("second signal: worker processes stop now", signal=name)
                    self._signal_children(signal.SIGTERM)
                else:
                    log.warning("third signal: killing worker processes", signal=name)
                    self.killed = True
                    self._signal_children(signal.SIGKILL)

    async def _escalate(self) -> None:
        """SIGKILL children still running ``stop_timeout_s`` after the stop began."""
        await self._stopping.wait()
        await anyio.sleep(self.stop_timeout_s)
        if self.children:
            log.error(
                "worker processes did not stop in time; killing them",
                pids=[c.process.pid for c in self.children.values()],
                stop_timeout_s=self.stop_timeout_s,
            )
            self.killed = True
            self._signal_children(signal.SIGKILL)


# ---------------------------------------------------------------------- the child's side
@dataclass
class SupervisorLink:
    """What a supervised worker process knows of its supervisor (read from its environment)."""

    index: int
    supervisor_pid: int
    status_fd: int | None

    @classmethod
    def from_env(cls, environ: MutableMapping[str, str] | None = None) -> SupervisorLink | None:
        """The link, or None when not supervised. Removes the pid and the pipe from the
        environment so that subprocesses started by tasks do not inherit them."""
        env = os.environ if environ is None else environ
        pid, fd = env.pop(ENV_SUPERVISOR_PID, None), env.pop(ENV_STATUS_FD, None)
        if not pid:
            return None
        status_fd = int(fd) if fd else None
        if status_fd is not None:
            os.set_inheritable(status_fd, False)
        return cls(int(env.get(ENV_INDEX, "0")), int(pid), status_fd)

    def cannot_start(self, message: str) -> None:
        """Tell the supervisor why this process cannot start (it reports it, once)."""
        if self.status_fd is not None:
            try:
                os.write(self.status_fd, message.encode())
            finally:
                self.close()

    def close(self) -> None:
        if self.status_fd is not None:
            os.close(self.status_fd)
            self.status_fd = None

    async def watch(self, on_gone: Callable[[], None], interval_s: float = 1.0) -> None:
        """Call ``on_gone`` once the supervisor has disappeared (killed with SIGKILL, say)."""
        while os.getppid() == self.supervisor_pid:
            await anyio.sleep(interval_s)
        log.warning("the supervisor process is gone; stopping", supervisor_pid=self.supervisor_pid)
        on_gone()
