"""Fault injection for tests and demos: latency, 429 (with Retry-After), 500 and dropped connections.

Decisions come from one ``random.Random(seed)`` drawn once per eligible request, so a given seed and request
order always give the same faults. ``/healthz`` and ``/sandbox-admin`` are never affected; ``paths`` (a
regular expression searched in the request path) restricts faults further.
"""

from __future__ import annotations

import random
import re
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

EXEMPT_PREFIXES = ("/healthz", "/sandbox-admin")


@dataclass(slots=True)
class FaultConfig:
    latency_ms: float = 0.0
    rate_429: float = 0.0
    rate_500: float = 0.0
    rate_drop: float = 0.0
    retry_after: int = 1
    seed: int = 0
    paths: str | None = None

    def validate(self) -> None:
        for name in ("rate_429", "rate_500", "rate_drop"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1 (a fraction of requests), not {v}.")
        if self.rate_429 + self.rate_500 + self.rate_drop > 1.0:
            raise ValueError("rate_429 + rate_500 + rate_drop must not exceed 1.")
        if self.latency_ms < 0 or self.latency_ms > 60_000:
            raise ValueError("latency_ms must be between 0 and 60000.")
        if self.retry_after < 0:
            raise ValueError("retry_after must be >= 0 seconds.")
        if self.paths:
            try:
                re.compile(self.paths)
            except re.error as exc:
                raise ValueError(f"paths is not a valid regular expression: {exc}") from None

    def active(self) -> bool:
        return bool(self.latency_ms or self.rate_429 or self.rate_500 or self.rate_drop)


@dataclass(slots=True)
class Decision:
    latency_s: float = 0.0
    kind: str | None = None  # "429" | "500" | "drop" | None
    retry_after: int = 1


@dataclass
class Faults:
    config: FaultConfig = field(default_factory=FaultConfig)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(self.config.seed)
        self._paths = re.compile(self.config.paths) if self.config.paths else None

    def set(self, **values: Any) -> FaultConfig:
        """Replace the configuration (unknown names raise ValueError); restarts the seeded sequence."""
        known = set(FaultConfig.__dataclass_fields__)
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"Unknown fault setting(s): {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}.")
        try:
            cfg = FaultConfig(
                latency_ms=float(values.get("latency_ms") or 0),
                rate_429=float(values.get("rate_429") or 0),
                rate_500=float(values.get("rate_500") or 0),
                rate_drop=float(values.get("rate_drop") or 0),
                retry_after=int(values.get("retry_after") if values.get("retry_after") is not None else 1),
                seed=int(values.get("seed") or 0),
                paths=values.get("paths") or None,
            )
        except (TypeError, ValueError) as exc:
            raise ValueError(f"Invalid fault setting: {exc}") from None
        cfg.validate()
        with self._lock:
            self.config = cfg
            self._rng = random.Random(cfg.seed)
            self._paths = re.compile(cfg.paths) if cfg.paths else None
        return cfg

    def as_dict(self) -> dict[str, Any]:
        return asdict(self.config)

    def decide(self, path: str) -> Decision | None:
        cfg = self.config
        if not cfg.active() or path.startswith(EXEMPT_PREFIXES):
            return None
        if self._paths is not None and not self._paths.search(path):
            return None
        with self._lock:
            r = self._rng.random()
        d = Decision(latency_s=cfg.latency_ms / 1000.0, retry_after=cfg.retry_after)
        if r < cfg.rate_429:
            d.kind = "429"
        elif r < cfg.rate_429 + cfg.rate_500:
            d.kind = "500"
        elif r < cfg.rate_429 + cfg.rate_500 + cfg.rate_drop:
            d.kind = "drop"
        return d
