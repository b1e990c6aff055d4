"""Where the fitted objects of the scopes live while a back-end serves them.

Two tiers, both bounded:

- ``ScopeCache``, in each Gunicorn worker's memory: the recently used scopes, least
  recently used out first, within ``SERVING_CACHE_MB`` per worker. An entry's cost is the
  object's pickled size with its arrays counted in place (``object_size``: what its
  arrays and Python objects take, give or take the interpreter's overhead).
- ``DiskCache``, a host directory every back-end of the host mounts (``SERVING_CACHE_DIR``):
  the stored bytes of every scope a worker loaded, within ``SERVING_DISK_CACHE_MB``. A
  worker that misses in memory reads here before it asks the store, so a scope is fetched
  from the store about once per host; and the directory outlives a back-end, so a
  restarted back-end (or any worker, while the store is down) still answers every scope
  the host had loaded. The versions being served are recorded there too
  (``versions.json``), so a back-end that starts while the store is down serves them.

Files are written to a temporary name and renamed, so a reader never sees half a file,
and workers of several containers may share the directory.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Collection
from pathlib import Path
from typing import Any

VERSIONS_FILE = "versions.json"


def object_size(obj: Any) -> int:
    """Bytes an object holds, estimated by pickling it with its buffers (numpy arrays)
    counted where they are, not copied."""
    extra = 0

    def count(buffer: pickle.PickleBuffer) -> bool:
        nonlocal extra
        extra += buffer.raw().nbytes
        return False  # out of band: not copied into the pickle

    return len(pickle.dumps(obj, protocol=5, buffer_callback=count)) + extra


class ScopeCache:
    """An LRU of fitted objects keyed by (model, version, scope), within a byte budget."""

    def __init__(self, budget_bytes: int):
        self.budget = int(budget_bytes)
        self._entries: OrderedDict[tuple[str, int, str], tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()
        self.bytes = 0
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, model: str, version: int, scope: str) -> Any | None:
        key = (model, version, scope)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, model: str, version: int, scope: str, obj: Any, size: int) -> int:
        """Keep ``obj``; evict the least recently used until within the budget. An object
        larger than the whole budget is not kept (it is still answered). Returns the
        number of entries evicted."""
        key = (model, version, scope)
        evicted = 0
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.bytes -= old[1]
            if size > self.budget:
                return 0
            self._entries[key] = (obj, size)
            self.bytes += size
            while self.bytes > self.budget and self._entries:
                _, (_, freed) = self._entries.popitem(last=False)
                self.bytes -= freed
                evicted += 1
            self.evictions += evicted
        return evicted

    def hot(self, model: str, version: int, limit: int) -> list[str]:
        """The most recently used scopes of a version, newest first (for warming the
        next version)."""
        with self._lock:
            keys = list(reversed(self._entries))
        return [s for (m, v, s) in keys if m == model and v == version][:limit]

    def drop_version(self, model: str, keep: Collection[int]) -> None:
        """Forget every entry of ``model`` but those of the versions ``keep``."""
        with self._lock:
            for key in [k for k in self._entries if k[0] == model and k[1] not in keep]:
                self.bytes -= self._entries.pop(key)[1]


class DiskCache:
    """Stored bytes of scopes in a host directory, within a byte budget (oldest files out
    first). Every method is best effort: a full or read-only disk is logged by the
    caller, never a failed request."""

    PRUNE_EVERY = 64  # writes between two checks of the directory's size

    def __init__(self, root: str | os.PathLike, budget_bytes: int):
        self.root = Path(root)
        self.budget = int(budget_bytes)
        self._writes = 0
        self._lock = threading.Lock()

    def _path(self, model: str, version: int, scope: str) -> Path:
        digest = hashlib.sha256(scope.encode()).hexdigest()[:40]
        return self.root / model / str(version) / digest[:2] / digest

    def read(self, model: str, version: int, scope: str) -> bytes | None:
        path = self._path(model, version, scope)
        try:
            data = path.read_bytes()
        except OSError:
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used: pruned last
        return data

    def write(self, model: str, version: int, scope: str, data: bytes) -> None:
        path = self._path(model, version, scope)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        with self._lock:
            self._writes += 1
            due = self._writes % self.PRUNE_EVERY == 0
        if due:
            self.prune()

    def prune(self, keep_versions: dict[str, int] | None = None) -> int:
        """Remove the oldest files until the directory holds at most 90 % of the budget,
        and every version of a model other than ``keep_versions[model]``. Returns the
        number of files removed."""
        files = []
        removed = 0
        model_dirs = [p for p in self.root.iterdir() if p.is_dir()] if self.root.exists() else []
        for model_dir in model_dirs:
            for version_dir in model_dir.iterdir():
                stale = (
                    keep_versions is not None
                    and model_dir.name in keep_versions
                    and version_dir.name != str(keep_versions[model_dir.name])
                )
                for path in version_dir.rglob("*"):
                    if not path.is_file():
                        continue
                    if stale:
                        with contextlib.suppress(OSError):
                            path.unlink()
                            removed += 1
                        continue
                    with contextlib.suppress(OSError):
                        st = path.stat()
                        files.append((st.st_mtime, st.st_size, path))
        total = sum(size for _, size, _ in files)
        target = self.budget * 9 // 10
        if total > self.budget:
            for _, size, path in sorted(files, key=lambda f: f[0]):
                if total <= target:
                    break
                with contextlib.suppress(OSError):
                    path.unlink()
                    total -= size
                    removed += 1
        return removed

    def save_versions(self, versions: dict[str, dict]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".tmp-")
        with os.fdopen(fd, "w") as out:
            json.dump(versions, out, default=str)
        os.replace(tmp, self.root / VERSIONS_FILE)

    def load_versions(self) -> dict[str, dict]:
        try:
            return json.loads((self.root / VERSIONS_FILE).read_text())
        except (OSError, ValueError):
            return {}
