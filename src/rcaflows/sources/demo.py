"""The ``demo`` source: the seeded simulator of the bundled fraud-scoring system.

The simulated world ends at the end of the requested span, rounded up to the hour, so an hourly
detection run and the RCA run of an incident it opened read the same world.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd

from rcaflows.config.models import SourceConfig, SystemConfig
from rcaflows.data import MonitoringData
from rcaflows.errors import ConfigError
from rcaflows.sources.base import register


@dataclass
class DemoSource:
    """Serve a slice of one simulated scenario world."""

    name: str
    scenario: str
    seed: int
    history: timedelta = timedelta(days=2)

    def load(self, start: datetime, end: datetime) -> MonitoringData:
        """Return the simulated frames for ``[start, end)``."""
        from rcaflows.demo import simulate

        world_end = pd.Timestamp(end).ceil("h").to_pydatetime()
        history = max(self.history, world_end - start)
        world = simulate(self.scenario, seed=self.seed, end=world_end, history=history)
        return world.data.slice(start, end)


@register("demo")
def _demo(spec: SourceConfig, config: SystemConfig) -> DemoSource:
    opts = dict(spec.options)
    unknown = set(opts) - {"scenario", "seed"}
    if unknown:
        raise ConfigError(f"sources[{spec.name}].options: unknown option(s) {sorted(unknown)}; expected scenario, seed")
    return DemoSource(name=spec.name, scenario=str(opts.get("scenario", "no_fault")), seed=int(opts.get("seed", 7)))
