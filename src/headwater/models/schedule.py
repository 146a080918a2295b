"""When the models run: cron schedules, "after new loads", and requests from people, one run at a time.

The scheduler is a thread of the warehouse process. It keeps three clocks: the incremental cron
(`models.schedule`), the full-rebuild cron (`models.full_refresh_schedule`), both read in
`models.timezone` so "03:30" stays 03:30 across daylight-saving changes, and the after-loads rule: a
load committed since the last run started makes an incremental run due once `min_interval_seconds`
have passed since that start. Missed fires (the process was down, a long run covered several) fold
into one run, never a burst. Requests from `headwater models run` queue behind the run in progress
and go before anything scheduled; a full rebuild due at the same moment as an incremental run
replaces it.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from cronsim import CronSim, CronSimError

from headwater.logs import get_logger
from headwater.models.history import RunHistory, RunRecord
from headwater.models.runner import ModelRunner, RunRequest
from headwater.models.settings import ModelsSettings

__all__ = ["ModelScheduler", "check_cron", "next_fire"]

log = get_logger("headwater.models.schedule")

_ALIASES = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
_SCHEDULED = ("schedule", "after_loads")
_LONGEST_NAP = 30.0
_KEEP_FINISHED = 50


def _expand(expression: str) -> str:
    text = expression.strip()
    return _ALIASES.get(text.lower(), text)


def check_cron(expression: str) -> str | None:
    """None when the expression is usable (empty means "no schedule"), else what is wrong with it."""
    if not expression.strip():
        return None
    try:
        CronSim(_expand(expression), datetime(2026, 1, 1))
    except CronSimError as error:
        return f"not a cron expression ({error}): {expression!r}"
    return None


def next_fire(expression: str, after: float, zone: ZoneInfo) -> float | None:
    """The first time strictly after `after` (Unix seconds) that the expression names, in `zone`."""
    if not expression.strip():
        return None
    start = datetime.fromtimestamp(after, zone)
    return next(CronSim(_expand(expression), start)).timestamp()


class ModelScheduler:
    """Decides what runs next and runs it on its own thread; other threads ask and request."""

    def __init__(
        self,
        settings: ModelsSettings,
        runner: ModelRunner,
        history: RunHistory,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.runner = runner
        self.history = history
        self._clock = clock
        self._cond = threading.Condition()
        self._queue: deque[RunRequest] = deque()
        self._finished: OrderedDict[str, RunRecord] = OrderedDict()
        self._loads_pending = False
        self._last_started: float | None = None
        self._history_error: str | None = None
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._next_incremental: float | None = None
        self._next_full: float | None = None
        self._aim(clock())

    # --- what other threads call ---------------------------------------------------------------

    def request(self, request: RunRequest) -> dict[str, Any]:
        """Queue a run; it starts when the run in progress (if any) ends."""
        with self._cond:
            self._queue.append(request)
            position = len(self._queue) + (1 if self.runner.current is not None else 0)
            self._cond.notify_all()
        return {"run_id": request.run_id, "status": "queued", "ahead": position - 1}

    def notify_loads(self) -> None:
        """The loader committed new rows: an after-loads run becomes due (subject to the interval)."""
        with self._cond:
            self._loads_pending = True
            self._cond.notify_all()

    def lookup(self, run_id: str) -> dict[str, Any] | None:
        """A run's state: queued, running, or its finished record (from memory, else the history)."""
        with self._cond:
            for position, queued in enumerate(self._queue):
                if queued.run_id == run_id:
                    return {"run_id": run_id, "status": "queued", "ahead": position, **queued.as_json()}
            current = self.runner.current
            if current is not None and current.run_id == run_id:
                return current.as_dict()
            if run_id in self._finished:
                return self._finished[run_id].as_dict()
        found = self.history.get(run_id)
        return found.as_dict() if found is not None else None

    def status(self) -> dict[str, Any]:
        """What `headwater status`, `headwater models status` and the analytics health report show."""
        with self._cond:
            current = self.runner.current
            recent = sorted(self._finished.values(), key=lambda r: r.started_at, reverse=True)
            last_success = next((r for r in recent if r.refreshes_all), None)
            after_loads_at = None
            if self.settings.enabled and self.settings.run_after_loads and self._loads_pending:
                after_loads_at = (self._last_started or 0.0) + self.settings.min_interval_seconds
            return {
                **self.settings.describe(),
                "scheduler": "running" if self._thread is not None and self._thread.is_alive() else "stopped",
                "running": current.as_dict() if current is not None else None,
                "queued": [{"run_id": q.run_id, **q.as_json()} for q in self._queue],
                "next_incremental_at": self._next_incremental if self.settings.enabled else None,
                "next_full_refresh_at": self._next_full if self.settings.enabled else None,
                "loads_pending": self._loads_pending,
                "after_loads_run_at": after_loads_at,
                "last_run": recent[0].as_dict() if recent else None,
                "last_success": last_success.as_dict() if last_success is not None else None,
                "recent": [record.as_dict() for record in recent[:10]],
                "history_error": self._history_error,
            }

    # --- the thread ----------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="models-scheduler", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        """Stop taking runs; a run in progress is waited for `timeout` seconds (then left to the exit)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    def stopping(self, seconds: float) -> bool:
        """Sleep up to `seconds`; True if the scheduler is stopping (the runner's retry pause)."""
        with self._cond:
            if not self._stopping:
                self._cond.wait_for(lambda: self._stopping, timeout=seconds)
            return self._stopping

    def _loop(self) -> None:
        self.prime()
        while True:
            try:
                with self._cond:
                    if self._stopping:
                        return
                    now = self._clock()
                    request = self.due(now)
                    if request is None:
                        self._cond.wait(self._nap(now))
                        continue
                self.execute(request)
            except Exception:  # a scheduler that dies silently leaves the tables stale: keep going
                log.exception("models scheduler error")
                with self._cond:
                    self._cond.wait(_LONGEST_NAP)

    def prime(self) -> None:
        """Read what the warehouse knows: runs left "running" by a killed process, the last run, new loads."""
        try:
            interrupted = self.history.fail_interrupted()
            if interrupted:
                log.warning("marked interrupted model runs as failed", extra={"runs": interrupted})
            recent = self.history.recent(_KEEP_FINISHED)
            last_load = self.history.last_load_committed()
        except Exception as error:  # the warehouse may be down at start: run once it answers
            log.warning("cannot read the model run history", extra={"error": str(error)})
            with self._cond:
                self._history_error = str(error)
                self._loads_pending = True
            return
        with self._cond:
            self._history_error = None
            for record in reversed(recent):
                self._finished[record.run_id] = record
            if recent:
                self._last_started = max(record.started_at for record in recent)
            if last_load is not None and (self._last_started is None or last_load > self._last_started):
                self._loads_pending = True

    def execute(self, request: RunRequest) -> RunRecord:
        """Run one request now (on the calling thread) and remember its record."""
        retries = self.settings.retries if request.trigger in _SCHEDULED else 0
        try:
            record = self.runner.run(request, retries=retries)
        except Exception as error:  # the history could not be written: keep the failure in memory
            log.exception("models run could not be recorded")
            record = RunRecord(
                run_id=request.run_id,
                kind=request.kind,
                trigger=request.trigger,
                started_at=self._last_started or self._clock(),
                status="failed",
                error=f"{type(error).__name__}: {error}",
                finished_at=self._clock(),
            )
        with self._cond:
            self._finished[record.run_id] = record
            while len(self._finished) > _KEEP_FINISHED:
                self._finished.popitem(last=False)
        return record

    # --- deciding ------------------------------------------------------------------------------

    def due(self, now: float) -> RunRequest | None:
        """The request to start at `now`, if any, bookkept as started; the caller holds no lock."""
        with self._cond:
            request = self._pick(now)
            if request is not None:
                self._last_started = now
                self._loads_pending = False
            return request

    def _pick(self, now: float) -> RunRequest | None:
        if self._queue:
            return self._queue.popleft()
        if not self.settings.enabled:
            return None
        full_due = self._next_full is not None and now >= self._next_full
        incremental_due = self._next_incremental is not None and now >= self._next_incremental
        if full_due or incremental_due:
            self._aim(now)
            return RunRequest(kind="full_refresh" if full_due else "incremental", trigger="schedule")
        interval_over = (
            self._last_started is None or now - self._last_started >= self.settings.min_interval_seconds
        )
        if self.settings.run_after_loads and self._loads_pending and interval_over:
            return RunRequest(kind="incremental", trigger="after_loads")
        return None

    def _aim(self, now: float) -> None:
        """Point both cron clocks at their next fire after `now`."""
        zone = self.settings.zone
        self._next_incremental = next_fire(self.settings.schedule, now, zone)
        self._next_full = next_fire(self.settings.full_refresh_schedule, now, zone)

    def _nap(self, now: float) -> float:
        """How long nothing can become due on its own (requests and loads wake the thread early)."""
        moments = [self._next_incremental, self._next_full] if self.settings.enabled else []
        if self.settings.enabled and self.settings.run_after_loads and self._loads_pending:
            moments.append((self._last_started or 0.0) + self.settings.min_interval_seconds)
        waits = [moment - now for moment in moments if moment is not None]
        return max(0.01, min([_LONGEST_NAP, *waits]))
