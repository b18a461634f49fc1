"""One job engine for every command that writes a dataset (``synth``, ``annotate``, ``animate --as-dataset``).

A run is a list of :class:`JobItem` (a stable id and a picklable payload) and one picklable ``work`` callable
that turns a payload into files on disk (a clip folder, a log entry) and returns a small picklable value. The
engine skips items that a ``done`` check finds finished (resume = re-run the same command), runs the rest on
local processes or on Ray, records a :class:`Reject` for each item whose work raised an expected error
(:class:`~interanimate.errors.UserError` by default) and lets every other exception, a bug, end the run with its
traceback. Each item writes only its own outputs, atomically, and the producer derives the manifest from what is on
disk, so the dataset does not depend on the engine, the number of workers or the order in which items finish.

```python
report = run_jobs([JobItem(spec.clip_id, spec) for spec in specs], functools.partial(render_and_write, root),
                  done=lambda item: (root / "clips" / item.id).is_dir(), engine="ray", workers=8)
print(report.table())
```

``work`` is installed once per worker process (or Ray actor), so a callable object may cache expensive state
(a loaded model) across the items that worker runs.
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from interanimate.errors import UserError

ENGINES = ("local", "ray")


class JobError(UserError, ValueError):
    """Bad engine settings (unknown engine, no workers, an address without Ray, Ray not installed)."""


@dataclass(frozen=True)
class JobItem:
    """One unit of work.

    Args:
        id: stable id (a clip id, an input's content key): the same command lists the same ids, which is what
            resume and the reject records refer to.
        payload: the picklable argument of the work callable.
    """

    id: str
    payload: Any


@dataclass(frozen=True)
class Reject:
    """An item whose work raised an expected error; the run went on without it (it is retried on the next run)."""

    id: str
    reason: str  # the error's class name, or ``duplicate_id``
    message: str


@dataclass
class JobReport:
    """What a run did: values of the items done now, ids skipped as already done, rejects, time."""

    engine: str
    workers: int
    total: int
    results: dict[str, Any] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    seconds: float = 0.0

    def counts(self) -> dict[str, int]:
        return {"items": self.total, "done": len(self.results), "resumed": len(self.skipped),
                "rejected": len(self.rejects)}

    def table(self) -> str:
        """One line of totals and throughput, then one line per reject."""
        c = self.counts()
        rate = f", {c['done'] / self.seconds:.2f} items/s" if self.seconds > 0 and c["done"] else ""
        lines = [f"{c['items']} items: {c['done']} done, {c['resumed']} already done, {c['rejected']} rejected "
                 f"in {self.seconds:.1f} s{rate} (engine {self.engine}, {self.workers} worker"
                 f"{'s' if self.workers != 1 else ''})"]
        if self.rejects:
            width = max(len(r.id) for r in self.rejects)
            lines += [f"  rejected {r.id:<{width}}  {r.reason}: {r.message}" for r in self.rejects]
        return "\n".join(lines)

    def write(self, path: Path) -> Path:
        """Write the counts and the rejects as JSON (atomically); returns ``path``."""
        from interanimate.data.io import atomic_write_json

        atomic_write_json(Path(path), {"counts": self.counts(), "seconds": round(self.seconds, 3),
                                       "engine": self.engine, "workers": self.workers,
                                       "rejects": [asdict(r) for r in self.rejects]})
        return Path(path)


def add_engine_arguments(parser: argparse.ArgumentParser, noun: str = "items") -> None:
    """The flags every dataset-writing command shares: ``--engine``, ``--workers``, ``--address``."""
    parser.add_argument("--engine", choices=ENGINES, default="local",
                        help="local processes (default) or Ray Data (a local Ray, or a cluster with --address)")
    parser.add_argument("--workers", type=int, default=1,
                        help=f"{noun} processed at once: local processes or Ray actors (default 1)")
    parser.add_argument("--address",
                        help="Ray cluster to join: auto, HOST:PORT or ray://HOST:10001 (default: start a local Ray)")


def check_engine(engine: str, workers: int, address: str | None = None) -> None:
    """Raise :class:`JobError` for settings no engine can run."""
    if engine not in ENGINES:
        raise JobError(f"unknown engine {engine!r}; choose {' or '.join(ENGINES)}")
    if workers < 1:
        raise JobError(f"--workers must be at least 1, got {workers}")
    if address and engine != "ray":
        raise JobError("--address is only used with --engine ray")


def run_jobs(items: Iterable[JobItem], work: Callable[[Any], Any], *, done: Callable[[JobItem], bool] | None = None,
             engine: str = "local", workers: int = 1, address: str | None = None,
             expected: tuple[type[BaseException], ...] = (UserError,), num_gpus: float | str = 0,
             progress: bool = True, desc: str = "jobs", unit: str = "item") -> JobReport:
    """Run ``work(item.payload)`` for every item not ``done``; see the module docstring.

    Args:
        items: the work items; their ids must be unique (a repeated id is rejected as ``duplicate_id``).
        work: picklable callable (a module-level function, a ``functools.partial`` of one, or an object).
        done: ``True`` for an item already finished on disk (skipped, counted as resumed).
        engine: ``"local"`` (in this process for one worker, else spawned processes) or ``"ray"`` (Ray Data).
        workers: items in progress at once.
        address: Ray cluster address (``auto``, ``HOST:PORT``, ``ray://...``); ``None`` starts a local Ray.
        expected: exception types recorded as rejects; anything else propagates.
        num_gpus: GPUs per Ray worker; ``"auto"``: one when the cluster has any.
        progress: show a progress bar with an ETA.
    """
    check_engine(engine, workers, address)
    items = list(items)
    report = JobReport(engine, workers, len(items))
    todo, seen = [], set()
    for item in items:
        if item.id in seen:
            report.rejects.append(Reject(item.id, "duplicate_id", "another item of this run has the same id"))
        elif done is not None and done(item):
            report.skipped.append(item.id)
        else:
            todo.append(item)
        seen.add(item.id)
    from tqdm import tqdm

    bar = tqdm(total=len(items), initial=len(items) - len(todo), desc=desc, unit=unit, disable=not progress,
               dynamic_ncols=True, file=sys.stderr)

    def collect(outcome: tuple[str, str, Any]) -> None:
        status, item_id, value = outcome
        if status == "done":
            report.results[item_id] = value
        else:
            report.rejects.append(value)
        bar.update(1)

    start = time.perf_counter()
    try:
        if engine == "ray" and todo:
            _run_ray(todo, work, workers, address, expected, num_gpus, collect)
        else:
            _run_local(todo, work, workers, expected, collect)
    finally:
        bar.close()
        report.seconds = time.perf_counter() - start
    order = {item.id: i for i, item in enumerate(items)}
    report.rejects.sort(key=lambda r: (order[r.id], r.reason))
    return report


# ---- worker side ---------------------------------------------------------------------------------

_INSTALLED: Callable[[Any], Any] | None = None  # the work callable of this worker process


def _attempt(work: Callable[[Any], Any], item: JobItem, expected: tuple) -> tuple[str, str, Any]:
    """``("done", id, value)``, or ``("rejected", id, Reject)`` for an expected error; anything else raises."""
    try:
        return "done", item.id, work(item.payload)
    except expected as err:
        return "rejected", item.id, Reject(item.id, type(err).__name__, str(err))


def _attempt_installed(item: JobItem, expected: tuple) -> tuple[str, str, Any]:
    return _attempt(_INSTALLED, item, expected)


def _install(work: Callable[[Any], Any], parent: int) -> None:
    global _INSTALLED
    _die_with_parent(parent)
    # One thread per worker process: workers are the unit of parallelism.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:  # pragma: no cover - OpenCV is a dependency; threads are only a hint
        pass
    _INSTALLED = work


def _die_with_parent(parent: int) -> None:
    """End this worker when the process that started it dies, even by ``kill -9`` (Linux ``prctl``): a killed
    run must not leave workers behind that go on writing clips while a resumed run writes them too."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):  # pragma: no cover - every Linux libc has prctl
            pass
    if os.getppid() != parent:  # the parent died before the request above took effect
        os._exit(1)


def _run_local(todo: list[JobItem], work, workers: int, expected: tuple, collect) -> None:
    if workers <= 1 or len(todo) <= 1:
        for item in todo:
            collect(_attempt(work, item, expected))
        return
    import multiprocessing

    # Spawned, not forked: a fork taken while OpenCV/x264/MediaPipe helper threads hold locks can deadlock.
    context = multiprocessing.get_context("spawn")
    queue = list(reversed(todo))
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_install,
                             initargs=(work, os.getpid())) as pool:
        pending: set = set()
        try:
            while queue or pending:
                # A short queue: a killed run loses only the items in progress, not a long submitted backlog.
                while queue and len(pending) < 2 * workers:
                    pending.add(pool.submit(_attempt_installed, queue.pop(), expected))
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    collect(future.result())  # a bug in a worker re-raises here, with the worker's traceback
        except BaseException:
            for future in pending:
                future.cancel()
            raise


class _RayWorker:
    """A Ray Data actor: ``work`` is deserialised once per actor and runs one pickled item per row."""

    def __init__(self, work, expected: tuple):
        self.work, self.expected = work, expected

    def __call__(self, row: dict) -> dict:
        item = pickle.loads(row["item"])
        return {"outcome": pickle.dumps(_attempt(self.work, item, self.expected))}


def _run_ray(todo: list[JobItem], work, workers: int, address: str | None, expected: tuple, num_gpus,
             collect) -> None:
    try:
        import ray
        import ray.data
    except ImportError:
        raise JobError("--engine ray needs Ray: pip install 'interanimate[ray]' (or \"ray[data]\")") from None
    started_here = not ray.is_initialized()
    if started_here:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    try:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # the engine's own bar counts items, resumed ones included
        if num_gpus == "auto":
            num_gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
        # Payloads travel pickled: Arrow would otherwise convert dataclasses and arrays column by column.
        rows = [{"item": pickle.dumps(item)} for item in todo]
        dataset = ray.data.from_items(rows, override_num_blocks=len(rows))  # one item per block: even spread
        mapped = dataset.map(_RayWorker, fn_constructor_args=(work, expected), concurrency=workers, num_cpus=1,
                             num_gpus=num_gpus or None)
        for row in mapped.iter_rows():
            collect(pickle.loads(row["outcome"]))
    finally:
        if started_here:
            ray.shutdown()


__all__ = ["ENGINES", "JobError", "JobItem", "JobReport", "Reject", "add_engine_arguments", "check_engine",
           "run_jobs"]
