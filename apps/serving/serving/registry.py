"""The models being served: loaded from the model store, refreshed in the background.

Every installed model has at most one loaded, immutable ``LoadedVersion``. A refresh asks
the store for each model's newest version in one query and loads only the models whose
version changed, each on its own: a model that fails to load keeps its current version
and never holds the others back. The registry swaps a whole new mapping, so a request
(which reads it once) always sees complete versions.
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
    model: str
    created: datetime
    params: dict
    metrics: dict
    models: Mapping[str, Any]  # scope -> fitted object
    scope_metrics: Mapping[str, dict]
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))


class ModelRegistry:
    """The newest published version of every installed model; ``refresh`` polls once."""

    def __init__(
        self, dsn: str | None, reload_seconds: float = 10.0, models=("default",), on_refresh=None
    ):
        self.dsn = dsn or None
        # called with the registry after every refresh, whatever it found (the metrics)
        self.on_refresh = on_refresh
        self.reload_seconds = float(reload_seconds)
        self.names = tuple(models)
        self._versions: dict[str, LoadedVersion] = {}
        self._not_installed: tuple[str, ...] = ()
        self._published: dict[str, int] = {}  # newest version id in the store, per model
        self._store_ok = False
        self._reason = "model store not checked yet"
        self._last_check: float | None = None  # monotonic time of the last answer
        self._refresh_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._failed: dict[str, int] = {}

    # -- reading -----------------------------------------------------------------------
    def version(self, name: str) -> LoadedVersion | None:
        return self._versions.get(name)

    @property
    def versions(self) -> dict[str, LoadedVersion]:
        return self._versions

    @property
    def not_installed(self) -> tuple[str, ...]:
        """Models the store has versions of but this back-end's image does not carry."""
        return self._not_installed

    def published(self, name: str) -> int:
        """The newest version id of the model in the store at the last answer (0: none)."""
        return self._published.get(name, 0)

    @property
    def store_ok(self) -> bool:
        return self._store_ok

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and self._pid == os.getpid()

    def health(self) -> tuple[bool, str]:
        """(healthy, reason): a version of some model is loaded and the store answered
        last time."""
        if not self.dsn:
            return False, "MODEL_STORE_DSN is not set"
        if not self._store_ok:
            return False, self._reason
        if not self._versions:
            return False, self._reason or "no model version loaded yet"
        if self.running and self._last_check is not None:
            age = time.monotonic() - self._last_check
            limit = max(3 * self.reload_seconds, 30.0)
            if age > limit:
                return False, f"model store not checked for {age:.0f}s (reloader stuck?)"
        return True, "ok"

    # -- refreshing --------------------------------------------------------------------
    def refresh(self) -> bool:
        """Check the store once; load each model whose newest version differs. Never
        raises. Returns True when a new version of some model was loaded."""
        try:
            return self._refresh()
        finally:
            if self.on_refresh is not None:
                try:
                    self.on_refresh(self)
                except Exception:
                    log.exception("on_refresh failed")

    def _refresh(self) -> bool:
        if not self.dsn:
            self._store_ok, self._reason = False, "MODEL_STORE_DSN is not set"
            return False
        with self._refresh_lock:
            try:
                latest = modelstore.latest_versions(self.dsn)
            except Exception as exc:
                self._mark_unreachable(exc)
                return False
            self._mark_reachable()
            self._not_installed = tuple(sorted(set(latest) - set(self.names)))
            self._published = {name: latest[name].id for name in self.names if name in latest}
            loaded = dict(self._versions)
            changed = False
            for name in self.names:
                info = latest.get(name)
                current = loaded.get(name)
                if info is None or (current is not None and current.id == info.id):
                    continue
                new = self._load(name, info, current)
                if new is not None:
                    loaded[name] = new
                    changed = True
            if changed:
                self._versions = loaded
            if self._versions:
                self._reason = "ok"
            elif not latest:
                self._reason = "no published model version in the store yet"
            elif not self._failed:
                self._reason = "none of the published models is installed in this back-end"
            # else: the reason _load gave for the version it could not load stays
            return changed

    def _load(self, name: str, info, current: LoadedVersion | None) -> LoadedVersion | None:
        try:
            rows = modelstore.load_version_rows(self.dsn, info.id)
        except modelstore.VersionNotFound:
            return None  # pruned between the two queries; the next poll sees the newer
        except Exception as exc:
            self._mark_unreachable(exc)
            return None
        try:
            fitted = {scope: modelstore.loads_model(data) for scope, (data, _) in rows.items()}
        except Exception:
            if self._failed.get(name) != info.id:
                log.exception(
                    "cannot load version %s of model %s; keeping the current one", info.id, name
                )
                self._failed[name] = info.id
            if not self._versions:
                self._reason = f"version {info.id} of model {name} could not be loaded (see logs)"
            return None
        log.info(
            "loaded model %s version %s (%d scopes)%s",
            name,
            info.id,
            len(fitted),
            f", replacing {current.id}" if current else "",
        )
        return LoadedVersion(
            id=info.id,
            model=name,
            created=info.created,
            params=info.params,
            metrics=info.metrics,
            models=fitted,
            scope_metrics={scope: metrics for scope, (_, metrics) in rows.items()},
        )

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
            delay = self.reload_seconds if self._versions else min(self.reload_seconds, 2.0)
            self._stop.wait(delay)
