"""Signals and child processes -> clean interruption: no traceback, no debris, no process left behind.

- `raise_on_signals()`: on the first SIGINT or SIGTERM the run stops at once, from the signal handler
  itself, instead of unwinding through whatever library code it was in (an exception raised there,
  e.g. inside a multiprocessing pool being started, can leave locks held and the run hanging): the
  forked workers are killed, the cleanups registered with `on_interrupt` run (newest first: the
  work folder, the lock), one line is printed, and the process exits 130 / 143. Later signals are
  ignored while it cleans up.
- `die_with_parent(sig)`: Linux `prctl(PR_SET_PDEATHSIG)`; the calling process gets `sig` when the
  thread that forked it dies, whatever killed it (SIGKILL included). `worker_setup()` is what every
  worker a run forks calls (registered by `forked_workers_follow_parent` with `os.register_at_fork`,
  so the FHIR stage's `multiprocessing` fork workers and any later pool get it without knowing): it
  dies with its parent, ignores SIGINT (Ctrl-C reaches the whole terminal group; the parent decides)
  and takes SIGTERM's default action (the pool's terminate() stops it at once).
- `supervise(work, cleanup)`: the command runs `work` in a forked child and waits. The parent forwards
  SIGINT/SIGTERM to the child; the child has PDEATHSIG=SIGTERM, so killing the parent outright
  (SIGKILL) still makes the child clean up and exit; if the child itself is killed outright, the
  parent runs `cleanup` (remove what the child left) once the child's own workers, which it adopts as
  a subreaper, are gone too (`reap_descendants`: they hold the `--out` lock the child took). Only a
  SIGKILL of both at once leaves a work folder, which the next run into the same `--out` removes
  (`converters/outdir.py`).
- `release_free_memory()`: hands the C heap's free pages back to the system (glibc `malloc_trim`), so a
  process about to fork workers neither counts them nor lets its workers copy them on write.
- `checkpoint(name)`: a test hook. When the environment variable TRIALBRIDGE_PAUSE_AT names this
  checkpoint, the process prints `trialbridge: paused at NAME (pid N)` on stderr and waits for a
  signal, so tests interrupt a run at a known point without any timing assumption.
"""
from __future__ import annotations

import ctypes
import multiprocessing.process
import os
import signal
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
PAUSE_VARIABLE = "TRIALBRIDGE_PAUSE_AT"
SIGNAL_EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143}


_CLEANUPS: list[Callable[[], None]] = []
_MESSAGE: list[str] = []


@contextmanager
def on_interrupt(cleanup: Callable[[], None]) -> Iterator[None]:
    """Within the block, an interruption runs `cleanup` before the process exits."""
    _CLEANUPS.append(cleanup)
    try:
        yield
    finally:
        if cleanup in _CLEANUPS:
            _CLEANUPS.remove(cleanup)


def interrupt_message(text: str) -> None:
    """What the one line printed on interruption adds after `stopped by SIGTERM` (e.g. `nothing written to out`)."""
    _MESSAGE[:] = [text]


def _kill_workers() -> None:
    children = getattr(multiprocessing.process, "_children", set())
    for child in list(children):
        pid = getattr(child, "pid", None)
        if pid:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def stop_now(signum: int, _frame: object = None) -> None:
    """The signal handler: kill workers, clean up, one line, exit 128 + signal (see the module docstring)."""
    for sig in SIGNAL_EXIT:           # the first signal stops the run; cleanup must not be interrupted
        signal.signal(sig, signal.SIG_IGN)
    _kill_workers()
    for cleanup in reversed(_CLEANUPS):
        try:
            cleanup()
        except Exception:             # one cleanup failing must not keep the others from running
            pass
    line = f"trialbridge: stopped by {signal.Signals(signum).name}" + (f"; {_MESSAGE[0]}" if _MESSAGE else "")
    try:
        os.write(2, (line + "\n").encode("utf-8", "replace"))
    finally:
        os._exit(128 + signum)


def raise_on_signals() -> None:
    """SIGINT and SIGTERM stop the run cleanly (`stop_now`)."""
    for sig in SIGNAL_EXIT:
        signal.signal(sig, stop_now)


def _prctl(option: int, value: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(option, value, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _own_children() -> list[int]:
    """The live children of this process (Linux /proc), orphans it adopted as subreaper included."""
    found: list[int] = []
    for task in Path("/proc/self/task").glob("*/children"):
        try:
            found += [int(pid) for pid in task.read_text().split()]
        except (OSError, ValueError):
            continue
    return found


def reap_descendants() -> None:
    """Kill and reap every process left under this one: the workers of a child that died before them.

    With this process a subreaper (`supervise`), the workers a killed child forked are adopted here; they
    hold the child's open files (the `--out` lock among them) until they are gone, so they must be gone
    before the cleanup. They die anyway (parent-death signal); this makes the wait for it exact.
    """
    while True:
        for pid in _own_children():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return
        except InterruptedError:
            continue


def die_with_parent(sig: int = signal.SIGKILL) -> bool:
    """Ask Linux to send `sig` to this process when its parent dies; False where that is unavailable."""
    return _prctl(PR_SET_PDEATHSIG, int(sig))


def worker_setup() -> None:
    """Run in every forked worker: die with the parent, leave SIGINT to it, default SIGTERM."""
    parent = os.getppid()
    die_with_parent(signal.SIGKILL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if os.getppid() != parent:        # the parent died before prctl took effect
        os._exit(128 + signal.SIGKILL)
    checkpoint("worker")


def forked_workers_follow_parent() -> None:
    """From now on every process forked by this one (from Python) runs `worker_setup` first."""
    os.register_at_fork(after_in_child=worker_setup)


def release_free_memory() -> bool:
    """Return the free pages of the C heap to the system (glibc's `malloc_trim(0)`); False where there is none.

    After the SDTM mapping the heap keeps the pages its intermediate columns freed (about 0.65 GB at
    10,000 subjects): resident, inherited by every forked worker, and copied by the first worker that
    allocates into them. Trimmed before forking, they are neither counted nor copied.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        return bool(ctypes.CDLL(None).malloc_trim(0))
    except (OSError, AttributeError):  # a C library without malloc_trim (musl)
        return False


def checkpoint(name: str) -> None:
    """Test hook (see the module docstring): pause here when TRIALBRIDGE_PAUSE_AT names `name`.

    The wait is a read of a pipe that the signal machinery writes to (`signal.set_wakeup_fd`) whichever
    thread the kernel delivers the signal to; the handler then runs in this thread. A signal that arrives
    between the printed line and the wait is therefore never lost: with `signal.pause()`, a signal arriving
    just before the pause, or delivered to another thread of the process, left the run paused for good.
    """
    if os.environ.get(PAUSE_VARIABLE) != name:
        return
    wake, woken = os.pipe()
    os.set_blocking(woken, False)
    signal.set_wakeup_fd(woken)
    sys.stderr.write(f"trialbridge: paused at {name} (pid {os.getpid()})\n")
    sys.stderr.flush()
    while True:
        os.read(wake, 1)  # a signal came: its handler runs before the next read (and ends the process)


def _exit_status(status: int) -> int:
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def supervise(work: Callable[[], int], cleanup: Callable[[int], None]) -> int:
    """Run `work` in a forked child (see the module docstring); its exit status, or 128 + signal.

    `cleanup(child_pid)` runs in the parent when the child was killed without cleaning up.
    """
    if not hasattr(os, "fork") or not sys.platform.startswith("linux"):
        raise_on_signals()
        return work()
    sys.stdout.flush()
    sys.stderr.flush()
    parent = os.getpid()
    _prctl(PR_SET_CHILD_SUBREAPER, 1)              # the child's workers are adopted here if it dies first
    pid = os.fork()
    if pid == 0:                                   # the child: does the work
        code = 3
        try:
            die_with_parent(signal.SIGTERM)
            raise_on_signals()
            if os.getppid() != parent:             # the parent died before prctl took effect
                stop_now(signal.SIGTERM)
            forked_workers_follow_parent()
            code = work()
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)
    for sig in SIGNAL_EXIT:                        # the parent: forwards signals, waits, cleans up
        signal.signal(sig, lambda signum, _frame: os.kill(pid, signum))
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except ChildProcessError:
            return 3
        except InterruptedError:
            continue
    for sig in SIGNAL_EXIT:
        signal.signal(sig, signal.SIG_DFL)
    reap_descendants()                             # nothing of the run outlives it, nor holds its lock
    if os.WIFSIGNALED(status):
        cleanup(pid)
    return _exit_status(status)
