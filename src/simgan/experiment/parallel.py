"""Run an experiment's independent jobs in several processes, each after the jobs it depends on.

An experiment (``experiment gap``) is many trainings that read each other's outputs only through files:
a repeat's refiner reads its synthetic set, a row's model reads its training set. :func:`run_jobs` runs
such a plan on ``workers`` spawned processes, each with its share of the CPU threads, starting a job as
soon as the jobs it names are done. On a small CPU this beats one process: the experiment's networks are
too small to keep several threads busy (two one-thread trainings on 2 cores ran 1.6x one two-thread
training; docs/benchmarks.md), and a workstation's cores are no longer idle.

Jobs must write disjoint folders (each job's outputs are its own) and be resumable: a job that fails stops
the plan, and the rerun finds what the finished jobs wrote.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from tqdm import tqdm

__all__ = ["Job", "WorkerLost", "cpu_threads", "resolve_workers", "run_jobs"]


@dataclass(frozen=True)
class Job:
    """One unit of work: ``fn(*args)`` in a worker process, after every job named in ``after``.

    ``fn`` must be a module-level function and ``args`` picklable (they travel to a spawned process).
    """

    name: str
    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()
    after: tuple[str, ...] = ()


def cpu_threads() -> int:
    """CPU threads this process may use (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def resolve_workers(workers: int | str) -> int:
    """``--jobs`` to a process count: a positive integer as given, ``auto`` one per CPU thread (at most 8)."""
    if workers == "auto":
        return min(8, cpu_threads())
    n = int(workers)
    if n < 1:
        raise ValueError(f"--jobs must be >= 1 or auto, got {workers}")
    return n


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    # tqdm's default lock is a multiprocessing semaphore, which a killed worker would leave to the
    # resource tracker (a warning at exit); a worker's bars need only a thread lock.
    tqdm.set_lock(threading.RLock())
    # Ctrl-C reaches every process of the terminal's group. The parent reports it in one line and every
    # job resumes on the rerun, so a worker leaves at once, without a traceback of its own.
    signal.signal(signal.SIGINT, lambda *_: os._exit(130))


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """Stop the pool's workers now (a job killed mid-way resumes on the rerun)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(10)
    pool.shutdown(wait=True, cancel_futures=True)


@contextlib.contextmanager
def _workers_start_deaf() -> Iterator[None]:
    """Workers spawned in this block start with SIGINT ignored, so a Ctrl-C while they import torch
    prints no traceback from them (the parent stops them); :func:`_init_worker` then takes SIGINT.
    Signal handlers belong to the main thread: from another thread this changes nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


class WorkerLost(Exception):
    """A worker process ended in the middle of a job: killed by a signal, or by the OS for memory."""


def run_jobs(jobs: Sequence[Job], workers: int, log: Callable[[str], Any] = print) -> None:
    """Run ``jobs`` on ``workers`` processes, each job after those it names in ``after``.

    Jobs start in the order given as soon as they are ready. Each worker uses ``cpu_threads() // workers``
    threads (at least one). A job's exception is raised here at once: the other workers are stopped (their
    jobs resume on the rerun), as they are on Ctrl-C.

    Raises:
        ValueError: a job names a job that is not in the plan, or two jobs share a name.
        Exception: the first exception a job raised.
    """
    names = [j.name for j in jobs]
    if len(set(names)) != len(names):
        raise ValueError("two jobs share a name")
    unknown = {a for j in jobs for a in j.after} - set(names)
    if unknown:
        raise ValueError(f"jobs wait for unknown jobs: {sorted(unknown)}")
    threads = max(1, cpu_threads() // workers)
    pending, done = list(jobs), set[str]()
    running: dict[Future[Any], Job] = {}
    spawn = multiprocessing.get_context("spawn")  # no fork of a process that holds torch's threads
    pool = ProcessPoolExecutor(workers, mp_context=spawn, initializer=_init_worker, initargs=(threads,))
    with pool:
        try:
            while pending or running:
                for job in [j for j in pending if set(j.after) <= done][: workers - len(running)]:
                    pending.remove(job)
                    with _workers_start_deaf():
                        running[pool.submit(job.fn, *job.args)] = job
                if not running:
                    raise ValueError(f"jobs wait for each other: {[j.name for j in pending]}")
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    job = running.pop(future)
                    try:
                        future.result()  # a job's error stops the plan here
                    except BrokenProcessPool:  # every running job fails with it: name them all
                        names = ", ".join([job.name, *(j.name for j in running.values())])
                        raise WorkerLost(
                            f"a worker process ended abruptly (killed by a signal or for memory) while "
                            f"running {names}; rerun the same command to resume"
                        ) from None
                    done.add(job.name)
                    log(f"[jobs] done {job.name} ({len(done)}/{len(jobs)})")
        except BaseException:
            pending.clear()
            for future in running:
                future.cancel()
            _stop_workers(pool)  # report now; the jobs cut short resume on the rerun
            raise
