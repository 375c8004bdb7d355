"""The ``demo`` source: the seeded simulator of the bundled fraud-scoring system.

The simulated world ends at the end of the requested span, rounded up to the hour, so an hourly
detection run and the RCA run of an incident it opened read the same world.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd

from rcaflows.config.models import SourceConfig, SystemConfig
from rcaflows.data import MonitoringData
from rcaflows.errors import ConfigError, DataError
from rcaflows.sources.base import register


@dataclass
class DemoSource:
    """Serve a slice of one simulated scenario world."""

    name: str
    scenario: str
    seed: int
    history: timedelta = timedelta(days=2)
    remediations: Path | None = None  # `rcaflows demo --remediate`: the faults its actions ended, and when

    def load(self, start: datetime, end: datetime) -> MonitoringData:
        """Return the simulated frames for ``[start, end)``."""
        from rcaflows.demo import simulate
        from rcaflows.demo.simulator import DEMO_END, simulate_remediated

        world_end = pd.Timestamp(end).ceil("h").to_pydatetime()
        history = max(self.history, world_end - start)
        if self.remediations is None:
            world = simulate(self.scenario, seed=self.seed, end=world_end, history=history)
        else:
            world = simulate_remediated(self.scenario, self._fixes(), self.seed, world_end, history, DEMO_END)
        return world.data.slice(start, end)

    def _fixes(self) -> tuple[tuple[str, datetime], ...]:
        """Return (fault, fixed at) for every fault a remediation ended (none before the file exists)."""
        if self.remediations is None or not self.remediations.exists():
            return ()
        try:
            done = json.loads(self.remediations.read_text(encoding="utf-8"))
            return tuple((str(f), datetime.fromisoformat(d["at"])) for d in done for f in d["fixes"])
        except (ValueError, KeyError, TypeError) as exc:
            raise DataError(f"{self.name}: remediations file {self.remediations}: {exc}") from None


@register("demo")
def _demo(spec: SourceConfig, config: SystemConfig) -> DemoSource:
    opts = dict(spec.options)
    unknown = set(opts) - {"scenario", "seed", "remediations"}
    if unknown:
        raise ConfigError(
            f"sources[{spec.name}].options: unknown option(s) {sorted(unknown)}; expected scenario, seed, remediations"
        )
    rem = opts.get("remediations")
    return DemoSource(
        name=spec.name,
        scenario=str(opts.get("scenario", "no_fault")),
        seed=int(opts.get("seed", 7)),
        remediations=Path(str(rem)) if rem else None,
    )
