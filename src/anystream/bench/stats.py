"""A latency histogram with bounded relative error, in the spirit of HdrHistogram.

Values are microseconds. Buckets grow geometrically (``precision`` relative width,
1 % by default), so percentiles are exact to within that relative error whatever
the range, and memory is a few hundred integers. Pure and sans-IO: the load generator
builds one per path and writes it to JSON (``to_dict``) with its summary.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

__all__ = ("PERCENTILES", "Histogram")

#: The percentiles every report shows.
PERCENTILES = (50.0, 90.0, 99.0, 99.9)


@dataclass
class Histogram:
    precision: float = 0.01
    counts: dict[int, int] = field(default_factory=dict)
    total: int = 0
    max_value: float = 0.0
    min_value: float = math.inf

    def _bucket(self, value: float) -> int:
        return 0 if value < 1.0 else int(math.log(value) / math.log1p(self.precision)) + 1

    def _upper(self, bucket: int) -> float:
        return 1.0 if bucket == 0 else math.exp(bucket * math.log1p(self.precision))

    def record(self, value_us: float) -> None:
        if value_us < 0 or math.isnan(value_us):
            raise ValueError(f"latency must be a non-negative number, got {value_us!r}")
        bucket = self._bucket(value_us)
        self.counts[bucket] = self.counts.get(bucket, 0) + 1
        self.total += 1
        self.max_value = max(self.max_value, value_us)
        self.min_value = min(self.min_value, value_us)

    def percentile(self, p: float) -> float:
        """The value at or below which ``p`` percent of the recorded values lie."""
        if not 0 <= p <= 100:
            raise ValueError(f"percentile must be within 0..100, got {p!r}")
        if self.total == 0:
            return math.nan
        rank = max(1, math.ceil(p / 100 * self.total))
        seen = 0
        for bucket in sorted(self.counts):
            seen += self.counts[bucket]
            if seen >= rank:
                return min(self._upper(bucket), self.max_value)
        return self.max_value

    def summary_ms(self) -> dict[str, float]:
        """p50/p90/p99/p99.9/max in milliseconds (NaN when empty)."""
        out = {f"p{p:g}": round(self.percentile(p) / 1000, 3) for p in PERCENTILES}
        out["max"] = round(self.max_value / 1000, 3) if self.total else math.nan
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "precision": self.precision,
            "counts": {str(k): v for k, v in self.counts.items()},
            "total": self.total,
            "max": self.max_value,
            "min": self.min_value if self.total else None,
        }
