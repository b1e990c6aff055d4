"""Which version answers a request: asked for, canary, or production; and the shadow.

- A request may ask for a version (``?version=N`` or the ``X-Model-Version`` header) or an
  alias (``?alias=candidate`` or ``X-Model-Alias``); the answer names the version (and
  alias) that answered.
- Otherwise production answers, except the canary's share: with ``SERVING_CANARY_PERCENT``
  above 0 and a ``candidate`` alias, that share of the traffic goes to the candidate, by
  scope (``SERVING_CANARY_BY=scope``, the default: a scope always gets the same version,
  and a request's scopes follow its first one) or by request (``request``: at random).
- With ``SERVING_SHADOW=1`` (and a candidate), every request production answers is also
  computed by the candidate in the background, after the answer: compared, counted in the
  metrics and logged (a sample), never returned. A worker computes at most
  ``SHADOW_PENDING`` of them at a time and skips (and counts) the rest, so the shadow
  never slows production down.
"""

from __future__ import annotations

import logging
import math
import os
import random
import threading
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

log = logging.getLogger("serving.shadow")

PRODUCTION, CANDIDATE = "production", "candidate"
CANARY_BY = ("scope", "request")
SHADOW_PENDING = 64
SHADOW_LOG_FIRST, SHADOW_LOG_EVERY = 10, 1000  # disagreements logged: the first, then 1 in N


@dataclass(frozen=True)
class Routing:
    canary_percent: float = 0.0
    canary_by: str = "scope"
    shadow: bool = False

    def __post_init__(self):
        if not 0 <= self.canary_percent <= 100:
            raise ValueError(
                f"SERVING_CANARY_PERCENT={self.canary_percent:g}: give a share from 0 to 100"
            )
        if self.canary_by not in CANARY_BY:
            raise ValueError(
                f"SERVING_CANARY_BY={self.canary_by!r}: give one of {', '.join(CANARY_BY)}"
            )

    @classmethod
    def from_env(cls, env=os.environ) -> Routing:
        raw = env.get("SERVING_CANARY_PERCENT", "").strip() or "0"
        try:
            percent = float(raw)
        except ValueError:
            raise ValueError(f"SERVING_CANARY_PERCENT={raw!r} is not a number") from None
        return cls(
            canary_percent=percent,
            canary_by=env.get("SERVING_CANARY_BY", "").strip() or "scope",
            shadow=env.get("SERVING_SHADOW", "").strip().lower() in ("1", "true", "yes"),
        )

    def to_candidate(self, scope: str) -> bool:
        """Whether the canary takes this request (its first scope)."""
        if self.canary_percent <= 0:
            return False
        if self.canary_by == "request":
            return random.random() * 100 < self.canary_percent
        return zlib.crc32(scope.encode()) % 10000 < self.canary_percent * 100


def disagreement(production: list, shadow: list) -> tuple[int, float, int]:
    """(numbers compared, their summed absolute difference, other answers that differ)."""
    numbers, diff, mismatches = 0, 0.0, 0
    for a, b in zip(production, shadow, strict=True):
        if (
            isinstance(a, int | float)
            and isinstance(b, int | float)
            and not (isinstance(a, bool) or isinstance(b, bool))
        ):
            if math.isfinite(a) and math.isfinite(b):
                numbers += 1
                diff += abs(float(a) - float(b))
                continue
        mismatches += a != b
    return numbers, diff, mismatches


class Shadow:
    """A worker's background computations of the candidate (one thread)."""

    def __init__(self):
        self._pool: ThreadPoolExecutor | None = None
        self._pid: int | None = None
        self._pending = 0
        self._lock = threading.Lock()
        self._logged = 0

    def submit(self, job: Callable[[], None]) -> bool:
        """Run ``job`` in the background; False (skipped) when too many are pending."""
        with self._lock:
            if self._pool is None or self._pid != os.getpid():  # none yet, or forked
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="shadow")
                self._pid, self._pending = os.getpid(), 0
            if self._pending >= SHADOW_PENDING:
                return False
            self._pending += 1
        self._pool.submit(self._run, job)
        return True

    def _run(self, job: Callable[[], None]) -> None:
        try:
            job()
        except Exception:
            log.exception("shadow computation failed")
        finally:
            with self._lock:
                self._pending -= 1

    def should_log(self) -> bool:
        with self._lock:
            self._logged += 1
            n = self._logged
        return n <= SHADOW_LOG_FIRST or n % SHADOW_LOG_EVERY == 0
