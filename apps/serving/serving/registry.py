"""The models being served: versions from the model store, scopes loaded on demand.

Every installed model has at most one current, immutable ``LoadedVersion`` (what its
``production`` alias points at; its newest version while it has none): the version's
metadata (id, metrics, scope count), not its fitted objects. Its other aliases
(``candidate``, pins) are known too, and any published version can be asked for by id
(``resolve``); all share the scope cache, keyed by version. A request reads the version
once and asks ``fitted`` for the objects of its scopes, all of that version: from this
worker's memory (``ScopeCache``), else from the host's disk cache (``DiskCache``), else
from the store in one query. So a back-end's memory is bounded by its cache budget
whatever the number of scopes, and a request never mixes versions.

A refresh asks the store for each model's newest version in one query. For a model whose
version changed it first warms the new version with the scopes that were hot in the old
one (one query), then swaps: requests keep the old version until the new one is warm, so
a new version brings no burst of cold misses. A model that fails to load keeps its current
version and never holds the others back.

The store down: every scope in memory or on the host's disk keeps answering; one never
loaded raises ``ScopesUnavailable`` (a JSON 503 with Retry-After). A back-end that starts
while the store is down serves the versions recorded on the disk cache.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import modelstore

from .cache import DiskCache, ScopeCache, object_size

log = logging.getLogger("serving.registry")

DEFAULT_CACHE_BYTES = 256 * 1024 * 1024
DEFAULT_WARM_SCOPES = 1000  # hot scopes of the old version loaded before a swap, at most
RETRY_AFTER_SECONDS = 5
ASKED_VERSIONS = 16  # versions asked for by id whose metadata a worker keeps


@dataclass(frozen=True)
class LoadedVersion:
    id: int
    model: str
    created: datetime | None
    params: dict
    metrics: dict
    scope_count: int
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def record(self) -> dict:
        """What the disk cache keeps of it (versions.json)."""
        created = self.created.isoformat() if self.created else None
        return dict(id=self.id, created=created, params=self.params, metrics=self.metrics,
                    scope_count=self.scope_count)  # fmt: skip

    @classmethod
    def from_record(cls, model: str, record: Mapping[str, Any]) -> LoadedVersion:
        created = record.get("created")
        return cls(
            id=int(record["id"]), model=model,
            created=datetime.fromisoformat(created) if created else None,
            params=record.get("params") or {}, metrics=record.get("metrics") or {},
            scope_count=int(record.get("scope_count") or 0),
        )  # fmt: skip


class ScopeNotFound(LookupError):
    """Scopes the version does not have."""

    def __init__(self, scopes: list[str]):
        self.scopes = scopes
        super().__init__(", ".join(scopes))


class VersionNotServed(LookupError):
    """An alias or version a request asked for that this model does not have."""


class ScopesUnavailable(RuntimeError):
    """Scopes that cannot be loaded now (the store is down); ask again after a while."""

    def __init__(self, message: str, retry_after: int = RETRY_AFTER_SECONDS):
        self.retry_after = retry_after
        super().__init__(message)


class ModelRegistry:
    """The newest published version of every installed model; ``refresh`` polls once."""

    def __init__(
        self,
        dsn: str | None,
        reload_seconds: float = 10.0,
        models=("default",),
        on_refresh=None,
        *,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        disk: DiskCache | None = None,
        warm_scopes: int = DEFAULT_WARM_SCOPES,
        on_scopes=None,
    ):
        self.dsn = dsn or None
        self.cache = ScopeCache(cache_bytes)
        self.disk = disk
        self.warm_scopes = int(warm_scopes)
        # called with (model, where, count) as scopes are found: memory, disk, store,
        # missing (not in the version), unavailable (store down); and (model, "evicted", n)
        self.on_scopes = on_scopes
        self._local = threading.local()  # one store connection per request thread
        # called with the registry after every refresh, whatever it found (the metrics)
        self.on_refresh = on_refresh
        self.reload_seconds = float(reload_seconds)
        self.names = tuple(models)
        self._versions: dict[str, LoadedVersion] = {}
        self._not_installed: tuple[str, ...] = ()
        self._published: dict[str, int] = {}  # the version to serve (production), per model
        self._aliases: dict[str, dict[str, LoadedVersion]] = {}  # other aliases, per model
        self._asked: OrderedDict[tuple[str, int], LoadedVersion] = OrderedDict()  # by id
        self._asked_lock = threading.Lock()
        self._store_ok = False
        self._reason = "model store not checked yet"
        self._last_check: float | None = None  # monotonic time of the last answer
        self._refresh_lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
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

    def aliases(self, name: str) -> dict[str, LoadedVersion]:
        """The model's aliases besides production (candidate, pins), as last polled."""
        return self._aliases.get(name, {})

    def resolve(self, name: str, alias: str | None = None, version: int | None = None
                ) -> LoadedVersion | None:  # fmt: skip
        """The version a request asks for: by id, by alias, else production (None while
        none is loaded). VersionNotServed names what there is."""
        if version is not None:
            return self._by_id(name, version)
        if alias is None or alias == "production":
            return self._versions.get(name)
        found = self._aliases.get(name, {}).get(alias)
        if found is None:
            known = ", ".join(["production", *sorted(self._aliases.get(name, {}))])
            raise VersionNotServed(
                f"model {name!r} has no alias {alias!r}; its aliases: {known} "
                f"(playbooks/model.yml -e model={name} lists them)"
            )
        return found

    def _by_id(self, name: str, version: int) -> LoadedVersion:
        current = self._versions.get(name)
        if current is not None and current.id == version:
            return current
        for found in self._aliases.get(name, {}).values():
            if found.id == version:
                return found
        key = (name, version)
        found = self._asked.get(key)
        if found is None:
            try:
                info = modelstore.version_info(self.dsn, name, version)
            except (modelstore.StoreError, OSError) as exc:
                raise ScopesUnavailable(f"model store unreachable: {exc}") from None
            if info is None:
                raise VersionNotServed(
                    f"model {name!r} has no published version {version} (never published, "
                    f"or pruned); GET /models/{name} names the one served"
                )
            found = self._loaded(name, info)
            with self._asked_lock:
                self._asked[key] = found
                while len(self._asked) > ASKED_VERSIONS:
                    self._asked.popitem(last=False)
        return found

    def _in_use(self, name: str, production: int) -> set[int]:
        """Versions of the model whose scopes the cache keeps: production, the other
        aliases, and those asked for by id."""
        with self._asked_lock:
            asked = {vid for model, vid in self._asked if model == name}
        return {production} | {v.id for v in self._aliases.get(name, {}).values()} | asked

    def published(self, name: str) -> int:
        """The version the store says to serve (production, else the newest) at the last
        answer (0: none)."""
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
                served = modelstore.served_versions(self.dsn)
            except Exception as exc:
                self._mark_unreachable(exc)
                return self._from_disk()
            self._mark_reachable()
            latest = {name: a["production"] for name, a in served.items() if "production" in a}
            self._aliases = {
                name: {
                    alias: self._loaded(name, info, self._aliases.get(name, {}).get(alias))
                    for alias, info in served[name].items()
                    if alias != "production"
                }
                for name in self.names
                if name in served
            }
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
                self._save_to_disk()
            if self._versions:
                self._reason = "ok"
            elif not latest:
                self._reason = "no published model version in the store yet"
            elif not self._failed:
                self._reason = "none of the published models is installed in this back-end"
            # else: the reason _load gave for the version it could not load stays
            return changed

    @staticmethod
    def _loaded(name: str, info, known: LoadedVersion | None = None) -> LoadedVersion:
        """A version's metadata (the one already known, if it is the same version)."""
        if known is not None and known.id == info.id:
            return known
        return LoadedVersion(
            id=info.id, model=name, created=info.created, params=info.params,
            metrics=info.metrics, scope_count=info.scope_count,
        )  # fmt: skip

    def _load(self, name: str, info, current: LoadedVersion | None) -> LoadedVersion | None:
        """The new version's metadata, its cache warmed with the old version's hot scopes;
        None (keep the current one) when they cannot be loaded now."""
        new = self._loaded(name, info)
        hot = self.cache.hot(name, current.id, self.warm_scopes) if current else []
        try:
            try:
                self._fetch(new, hot, count=False)
                loaded = len(hot)
            except ScopeNotFound as exc:  # the new version lacks some of them: fine
                loaded = len(hot) - len(exc.scopes)
            if not loaded:
                # Nothing warmed: load one scope, to check the version is there and loads.
                probe = [s for s, _ in modelstore.list_scopes(self.dsn, info.id, limit=1)]
                self._fetch(new, probe, count=False)
        except (ScopesUnavailable, modelstore.VersionNotFound):
            return None  # store down or pruned meanwhile: the next poll tries again
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
            "loaded model %s version %s (%d scopes, %d hot ones warmed)%s",
            name, info.id, new.scope_count, len(hot),
            f", replacing {current.id}" if current else "",
        )  # fmt: skip
        if current is not None:
            self.cache.drop_version(name, keep=self._in_use(name, info.id))
        return new

    # -- scopes ------------------------------------------------------------------------
    def fitted(self, version: LoadedVersion, scopes: list[str]) -> dict[str, Any]:
        """{scope: fitted object} of ``version`` for every scope asked; ScopeNotFound for
        scopes it lacks, ScopesUnavailable when some cannot be loaded now."""
        out: dict[str, Any] = {}
        missing = []
        for scope in dict.fromkeys(scopes):
            obj = self.cache.get(version.model, version.id, scope)
            if obj is None:
                missing.append(scope)
            else:
                out[scope] = obj
        self._event(version.model, "memory", len(out))
        if missing:
            out.update(self._fetch(version, missing))
        return out

    def _fetch(self, version: LoadedVersion, scopes: list[str], count: bool = True) -> dict:
        """Scopes not in memory: from the disk cache, else from the store (one query)."""
        out: dict[str, Any] = {}
        wanted = []
        for scope in scopes:
            data = self.disk.read(version.model, version.id, scope) if self.disk else None
            if data is None:
                wanted.append(scope)
            else:
                out[scope] = self._keep(version, scope, data, to_disk=False)
        if count:
            self._event(version.model, "disk", len(out))
        if not wanted:
            return out
        try:
            rows = modelstore.load_scopes(None, version.id, wanted, conn=self._conn())
        except modelstore.VersionNotFound:
            if self._asked.pop((version.model, version.id), None) is not None:
                raise VersionNotServed(
                    f"model {version.model!r} has no published version {version.id} any more "
                    "(pruned)"
                ) from None
            self._versions_stale()
            raise ScopesUnavailable(
                f"version {version.id} of model {version.model!r} was just replaced; "
                "this back-end moves to the newest", retry_after=1,
            ) from None  # fmt: skip
        except (modelstore.StoreError, OSError) as exc:
            self._drop_conn()
            if count:
                self._event(version.model, "unavailable", len(wanted))
            raise ScopesUnavailable(
                f"model store unreachable and scope(s) {', '.join(wanted[:5])} of model "
                f"{version.model!r} not cached on this host: {exc}"
            ) from None
        for scope, data in rows.items():
            out[scope] = self._keep(version, scope, data, to_disk=True)
        if count:
            self._event(version.model, "store", len(rows))
        absent = [s for s in wanted if s not in rows]
        if absent:
            if count:
                self._event(version.model, "missing", len(absent))
            raise ScopeNotFound(absent)
        return out

    def _keep(self, version: LoadedVersion, scope: str, data: bytes, to_disk: bool) -> Any:
        obj = modelstore.loads_model(data)
        evicted = self.cache.put(version.model, version.id, scope, obj, object_size(obj))
        if evicted:
            self._event(version.model, "evicted", evicted)
        if to_disk and self.disk is not None:
            try:
                self.disk.write(version.model, version.id, scope, data)
            except OSError as exc:  # a full or read-only disk: memory and store still serve
                log.warning(
                    "disk cache: cannot write scope %s of %s: %s", scope, version.model, exc
                )
        return obj

    def scope_page(self, version: LoadedVersion, after: str | None, limit: int):
        """One page of the version's scopes with their metrics (from the store)."""
        try:
            return modelstore.list_scopes(self.dsn, version.id, after=after, limit=limit)
        except modelstore.VersionNotFound:
            self._versions_stale()
            raise ScopesUnavailable(f"version {version.id} was just replaced", 1) from None
        except (modelstore.StoreError, OSError) as exc:
            raise ScopesUnavailable(f"model store unreachable: {exc}") from None

    def _conn(self):
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.broken:
            conn = modelstore.connect(self.dsn)
            conn.autocommit = True
            self._local.conn = conn
        return conn

    def _drop_conn(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                log.debug("closing a broken store connection failed", exc_info=True)

    def _event(self, model: str, where: str, count: int) -> None:
        if count and self.on_scopes is not None:
            self.on_scopes(model, where, count)

    def _versions_stale(self) -> None:
        """The served version was pruned: poll at once (in the background)."""
        self._wake.set()

    # -- the disk's record of the versions ----------------------------------------------
    def _save_to_disk(self) -> None:
        if self.disk is None:
            return
        try:
            self.disk.save_versions({n: v.record() for n, v in self._versions.items()})
        except OSError as exc:
            log.warning("disk cache: cannot record the versions: %s", exc)

    def _from_disk(self) -> bool:
        """Store down and nothing loaded yet: serve the versions the disk recorded."""
        if self._versions or self.disk is None:
            return False
        found = {
            name: LoadedVersion.from_record(name, record)
            for name, record in self.disk.load_versions().items()
            if name in self.names
        }
        if found:
            self._versions = found
            log.warning(
                "model store unreachable: serving the versions of the disk cache (%s)",
                ", ".join(f"{n} {v.id}" for n, v in sorted(found.items())),
            )
        return bool(found)

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
        self._wake.set()
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
            self._wake.wait(delay)
            self._wake.clear()
