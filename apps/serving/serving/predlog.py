"""The prediction log: a sample of requests and their answers, written to the model store
(``prediction_log``) for a training run or a notebook to read back
(``modelstore.read_prediction_log``). Off by default.

``SERVING_PREDICTION_LOG_RATE`` (0: off; 0.01: one request in a hundred, at random) picks
the requests; each of their instances is one row: model, version, alias, scope, input,
output, back-end, time. A worker keeps the rows in memory (at most ``QUEUE_MAX``; more
are dropped and counted) and a background thread writes them every ``FLUSH_SECONDS`` in
one call of the store's ``log_predictions`` function, which keeps the log within
``SERVING_PREDICTION_LOG_ROWS``. The request never waits for the log, and a store that is
down or refuses only costs log rows (counted: ``serving_prediction_log_rows_total``).
"""

from __future__ import annotations

import logging
import os
import random
import threading
from collections import deque

import modelstore

log = logging.getLogger("serving.predlog")

QUEUE_MAX = 10_000
FLUSH_SECONDS = 2.0
BATCH = 1000  # rows a call (the store's function takes at most 1,000)
INSTANCES_PER_REQUEST = 100  # rows of one sampled batch request, at most


class PredictionLog:
    def __init__(self, dsn: str | None, rate: float, keep_rows: int, backend: str,
                 on_rows=None):  # fmt: skip
        if not 0 <= rate <= 1:
            raise ValueError(f"SERVING_PREDICTION_LOG_RATE={rate:g}: give a share from 0 to 1")
        if keep_rows < 1000:
            raise ValueError(f"SERVING_PREDICTION_LOG_ROWS={keep_rows}: give 1000 or more")
        self.dsn, self.rate, self.keep_rows, self.backend = dsn, rate, keep_rows, backend
        self.on_rows = on_rows  # called with (outcome, count): logged, dropped, failed
        self._rows: deque[dict] = deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._pid: int | None = None
        self._warned = False

    @property
    def enabled(self) -> bool:
        return self.rate > 0 and bool(self.dsn)

    def sampled(self) -> bool:
        return self.enabled and (self.rate >= 1 or random.random() < self.rate)

    def add(self, model: str, version: int, alias: str, parsed, outputs: list) -> None:
        """Queue the rows of one answered request (call only when ``sampled()``)."""
        rows = [
            {"model": model, "version": version, "alias": alias or None, "scope": scope,
             "input": row, "output": out, "backend": self.backend}
            for (scope, row), out in zip(parsed[:INSTANCES_PER_REQUEST], outputs, strict=False)
        ]  # fmt: skip
        with self._lock:
            self._ensure_thread()
            room = QUEUE_MAX - len(self._rows)
            self._rows.extend(rows[: max(room, 0)])
        if len(rows) > room:
            self._count("dropped", len(rows) - max(room, 0))
        if len(self._rows) >= BATCH:
            self._wake.set()

    def _ensure_thread(self) -> None:
        if self._pid != os.getpid():  # none yet, or a forked worker
            self._pid = os.getpid()
            self._rows.clear()
            threading.Thread(target=self._loop, name="prediction-log", daemon=True).start()

    def _loop(self) -> None:
        conn = None
        while True:
            self._wake.wait(FLUSH_SECONDS)
            self._wake.clear()
            while True:
                with self._lock:
                    batch = [self._rows.popleft() for _ in range(min(BATCH, len(self._rows)))]
                if not batch:
                    break
                try:
                    if conn is None or conn.closed:
                        conn = modelstore.connect(self.dsn)
                        conn.autocommit = True
                    self._count("logged", modelstore.log_predictions(conn, batch, self.keep_rows))
                    self._warned = False
                except Exception as exc:  # the store down or refusing: lose these rows
                    self._count("failed", len(batch))
                    if not self._warned:
                        first = (str(exc).strip() or type(exc).__name__).splitlines()[0]
                        log.warning("prediction log: cannot write to the store: %s", first)
                        self._warned = True
                    if conn is not None:
                        try:
                            conn.close()
                        except Exception:
                            log.debug("closing the log's connection failed", exc_info=True)
                    conn = None
                    break

    def _count(self, outcome: str, n: int) -> None:
        if n and self.on_rows is not None:
            self.on_rows(outcome, n)
