"""The models being served: loaded from the model store, refreshed in the background.

The loaded version is one immutable ``LoadedVersion``; a refresh builds a complete new one
and swaps the reference, so a request (which reads the reference once) always sees one
whole version and never a half-loaded one.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import modelstore

log = logging.getLogger("serving.registry")


@dataclass(frozen=True)
class LoadedVersion:
    id: int
    created: datetime
    params: dict
    metrics: dict
    models: Mapping[str, Any]
    scope_metrics: Mapping[str, dict]
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))


class ModelRegistry:
    """Holds the newest published version; ``refresh`` polls the store once."""

    def __init__(self, dsn: str | None, reload_seconds: float = 10.0):
        self.dsn = dsn or None
        self.reload_seconds = float(reload_seconds)
        self._current: LoadedVersion | None = None
        self._store_ok = False
        self._reason = "model store not checked yet"
        self._last_check: float | None = None  # monotonic time of the last answer
        self._refresh_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._failed_version: int | None = None

    # -- reading -----------------------------------------------------------------------
    @property
    def current(self) -> LoadedVersion | None:
        return self._current

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and self._pid == os.getpid()

    def health(self) -> tuple[bool, str]:
        """(healthy, reason): a version is loaded and the store answered last time."""
        if not self.dsn:
            return False, "MODEL_STORE_DSN is not set"
        if not self._store_ok:
            return False, self._reason
        if self._current is None:
            return False, self._reason or "no model version loaded yet"
        if self.running and self._last_check is not None:
            age = time.monotonic() - self._last_check
            limit = max(3 * self.reload_seconds, 30.0)
            if age > limit:
                return False, f"model store not checked for {age:.0f}s (reloader stuck?)"
        return True, "ok"

    # -- refreshing --------------------------------------------------------------------
    def refresh(self) -> bool:
        """Check the store once; load the newest version if it differs. Never raises.

        Returns True when a new version was loaded.
        """
        if not self.dsn:
            self._store_ok, self._reason = False, "MODEL_STORE_DSN is not set"
            return False
        with self._refresh_lock:
            try:
                info = modelstore.latest_version(self.dsn)
            except Exception as exc:
                self._mark_unreachable(exc)
                return False
            self._mark_reachable()
            if info is None:
                if self._current is None:
                    self._reason = "no published model version in the store yet"
                return False
            current = self._current
            if current is not None and current.id == info.id:
                return False
            try:
                rows = modelstore.load_version_rows(self.dsn, info.id)
            except modelstore.VersionNotFound:
                return False  # pruned between the two queries; next poll sees the newer
            except Exception as exc:
                self._mark_unreachable(exc)
                return False
            try:
                models = {scope: modelstore.loads_model(data) for scope, (data, _) in rows.items()}
            except Exception:
                if self._failed_version != info.id:
                    log.exception("cannot load model version %s; keeping the current one", info.id)
                    self._failed_version = info.id
                if current is None:
                    self._reason = f"model version {info.id} could not be loaded (see logs)"
                return False
            self._current = LoadedVersion(
                id=info.id,
                created=info.created,
                params=info.params,
                metrics=info.metrics,
                models=models,
                scope_metrics={scope: metrics for scope, (_, metrics) in rows.items()},
            )
            self._reason = "ok"
            log.info(
                "loaded model version %s (%d scopes)%s",
                info.id,
                len(models),
                f", replacing {current.id}" if current else "",
            )
            return True

    def _mark_unreachable(self, exc: Exception) -> None:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if self._store_ok or self._last_check is None:
            log.warning("model store unreachable: %s", text)
        self._store_ok = False
        self._reason = f"model store unreachable: {text}"

    def _mark_reachable(self) -> None:
        if not self._store_ok and self._last_check is not None:
            log.info("model store reachable again")
        self._store_ok = True
        self._last_check = time.monotonic()

    # -- background thread -------------------------------------------------------------
    def start(self) -> None:
        """Poll in a daemon thread: at once, then every reload_seconds (faster while
        nothing is loaded). Restarts itself in a forked child."""
        if self.running:
            return
        self._stop.clear()
        self._pid = os.getpid()
        self._thread = threading.Thread(target=self._loop, name="model-reloader", daemon=True)
        self._thread.start()

    def ensure_running(self) -> None:
        if self._thread is not None and not self.running and not self._stop.is_set():
            self.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.refresh()
            except Exception:  # refresh does not raise; belt and braces for the thread
                log.exception("model refresh failed")
            delay = self.reload_seconds if self._current else min(self.reload_seconds, 2.0)
            self._stop.wait(delay)
