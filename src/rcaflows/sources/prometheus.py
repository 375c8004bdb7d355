"""The ``prometheus`` source: metrics read over the Prometheus HTTP API (``/api/v1/query_range``).

Config (``sources[].options``)::

    url: http://prometheus:9090          # base URL (a path prefix is kept)
    step: 60s                            # resolution of every query
    timeout: 30s                         # per HTTP request
    max_points: 10000                    # points per series per request (Prometheus refuses > 11,000)
    backoff: 0.5                         # seconds; doubled after each retry of a 5xx / timeout
    auth:                                # optional; names of environment variables, never values
      basic: {username_env: PROM_USER, password_env: PROM_PASSWORD}
      # or bearer_env: PROM_TOKEN
    queries:
      - query: 'histogram_quantile(0.95, sum by (service, le) (rate(http_seconds_bucket[5m]))) * 1000'
        metric: latency_p95_ms           # fixed metric name, or metric_label: __name__
        component_label: service         # label holding the component, or component: gateway
        kind: latency                    # optional, documents the metric kind

Each query's series become rows ``timestamp, component, metric, value`` (the engine's long format).
Retries (``sources[].retries``) cover connection failures, timeouts, 429 and 5xx; a 4xx answer,
an error payload, warnings (partial data) or a series without the component label raise
:class:`DataError` naming the query.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
import numpy as np
import pandas as pd

from rcaflows.config.models import MetricKind, SourceConfig, SystemConfig
from rcaflows.data import MonitoringData, empty_metrics
from rcaflows.errors import ConfigError, DataError
from rcaflows.sources.base import register
from rcaflows.timeutil import parse_duration

#: Prometheus refuses a range query that would return more points per series than this.
PROMETHEUS_MAX_POINTS = 11_000
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class PromQuery:
    """One PromQL expression and how its series map to components and a metric name."""

    query: str
    metric: str | None = None
    metric_label: str | None = None
    component: str | None = None
    component_label: str | None = None
    kind: MetricKind | None = None

    def label(self) -> str:
        """Return a short name of the query for messages."""
        return self.metric or f"{{{self.metric_label}}}"


@dataclass(frozen=True)
class PromAuth:
    """Where the credentials live: names of environment variables."""

    username_env: str | None = None
    password_env: str | None = None
    bearer_env: str | None = None

    def resolve(self, where: str) -> tuple[httpx.Auth | None, dict[str, str]]:
        """Read the credentials from the environment; a variable that is unset is a config error."""

        def env(name: str) -> str:
            value = os.environ.get(name)
            if value is None:
                raise ConfigError(f"{where}: environment variable {name} is not set")
            return value

        if self.bearer_env:
            return None, {"Authorization": f"Bearer {env(self.bearer_env)}"}
        if self.username_env and self.password_env:
            return httpx.BasicAuth(env(self.username_env), env(self.password_env)), {}
        return None, {}


@dataclass
class PrometheusSource:
    """Read metrics with range queries, split in chunks, retried on transient failures."""

    name: str
    url: str
    queries: list[PromQuery]
    step: timedelta = timedelta(minutes=1)
    timeout: timedelta = timedelta(seconds=30)
    max_points: int = 10_000
    retries: int = 2
    backoff: float = 0.5
    auth: PromAuth = field(default_factory=PromAuth)
    #: HTTP requests sent by the last :meth:`load` (retries included); for logs and tests
    requests_sent: int = 0

    def chunks(self, start: datetime, end: datetime) -> list[tuple[float, float]]:
        """Return the ``(first, last)`` evaluation times (unix s) of each request for ``[start, end)``."""
        step = self.step.total_seconds()
        t0 = np.ceil(pd.Timestamp(start).timestamp() / step) * step
        t_end = pd.Timestamp(end).timestamp()
        n = int(np.ceil((t_end - t0) / step))  # evaluation times t0 + k*step < end
        if n <= 0:
            return []
        firsts = np.arange(0, n, self.max_points)
        lasts = np.minimum(firsts + self.max_points, n) - 1
        return [(float(t0 + a * step), float(t0 + b * step)) for a, b in zip(firsts, lasts, strict=True)]

    def load(self, start: datetime, end: datetime) -> MonitoringData:
        """Run every query over ``[start, end)`` and return the samples in long format."""
        auth, headers = self.auth.resolve(f"sources[{self.name}].options.auth")
        self.requests_sent = 0
        frames = []
        with httpx.Client(
            base_url=self.url.rstrip("/"),
            auth=auth,
            headers=headers,
            timeout=self.timeout.total_seconds(),
        ) as client:
            for q in self.queries:
                for first, last in self.chunks(start, end):
                    frames.append(self._frame(q, self._get(client, q, first, last)))
        metrics = pd.concat(frames, ignore_index=True) if frames else empty_metrics()
        metrics = metrics.sort_values(["timestamp", "component", "metric"], kind="stable", ignore_index=True)
        return MonitoringData(start=start, end=end, metrics=metrics).slice(start, end)

    def _get(self, client: httpx.Client, q: PromQuery, first: float, last: float) -> list[dict[str, Any]]:
        """Send one range query, retrying connection failures, timeouts, 429 and 5xx."""
        where = f"{self.name}: query {q.label()!r} ({q.query})"
        params = {
            "query": q.query,
            "start": f"{first:.3f}",
            "end": f"{last:.3f}",
            "step": f"{self.step.total_seconds():g}s",
        }
        for attempt in range(self.retries + 1):
            last_try = attempt == self.retries
            self.requests_sent += 1
            try:
                resp = client.get("/api/v1/query_range", params=params)
            except httpx.TimeoutException:
                if last_try:
                    raise DataError(
                        f"{where}: Prometheus at {self.url} did not answer within "
                        f"{self.timeout.total_seconds():g} s ({self.retries + 1} attempt(s)); raise options.timeout "
                        "or shorten the window"
                    ) from None
            except httpx.TransportError as exc:
                if last_try:
                    raise DataError(
                        f"{where}: cannot reach Prometheus at {self.url} ({self.retries + 1} attempt(s)): {exc}"
                    ) from None
            else:
                if resp.status_code in _RETRY_STATUS and not last_try:
                    pass
                else:
                    return self._result(resp, where)
            time.sleep(self.backoff * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def _result(self, resp: httpx.Response, where: str) -> list[dict[str, Any]]:
        """Check one answer and return its series; anything but a clean matrix is a DataError."""
        if resp.status_code in (401, 403):
            raise DataError(
                f"{where}: Prometheus refused the credentials (HTTP {resp.status_code}); "
                "check options.auth and its environment variables"
            )
        try:
            body = resp.json()
        except ValueError:
            raise DataError(f"{where}: HTTP {resp.status_code}, answer is not JSON: {resp.text[:200]!r}") from None
        if not isinstance(body, dict) or body.get("status") != "success":
            detail = body.get("error", body) if isinstance(body, dict) else body
            kind = body.get("errorType", "error") if isinstance(body, dict) else "error"
            raise DataError(f"{where}: Prometheus answered HTTP {resp.status_code} {kind}: {detail}")
        if body.get("warnings"):
            raise DataError(f"{where}: partial data, Prometheus warned: {'; '.join(map(str, body['warnings']))}")
        data = body.get("data") or {}
        if data.get("resultType") != "matrix" or not isinstance(data.get("result"), list):
            raise DataError(f"{where}: expected a matrix result, got {data.get('resultType')!r}")
        return list(data["result"])

    def _frame(self, q: PromQuery, result: list[dict[str, Any]]) -> pd.DataFrame:
        """Turn one matrix result into long-format rows."""
        if not result:
            return empty_metrics()
        where = f"{self.name}: query {q.label()!r} ({q.query})"
        parts = []
        for series in result:
            labels = series.get("metric", {})
            if q.component is not None:
                component = q.component
            elif q.component_label in labels:
                component = labels[q.component_label]
            else:
                raise DataError(
                    f"{where}: a series has no label {q.component_label!r} (labels {labels}); "
                    "aggregate by it or set a fixed 'component'"
                )
            metric = q.metric if q.metric is not None else labels.get(str(q.metric_label))
            if metric is None:
                raise DataError(f"{where}: a series has no label {q.metric_label!r} (labels {labels})")
            values = np.asarray(series.get("values", []), dtype=object).reshape(-1, 2)
            parts.append((component, metric, values))
        ts = np.concatenate([v[:, 0].astype(float) for _, _, v in parts])
        vals = np.concatenate([v[:, 1].astype(float) for _, _, v in parts])
        counts = [len(v) for _, _, v in parts]
        return pd.DataFrame(
            {
                "timestamp": pd.to_datetime(np.round(ts * 1000).astype("int64"), unit="ms", utc=True).astype(
                    "datetime64[ns, UTC]"
                ),
                "component": np.repeat(np.array([c for c, _, _ in parts], dtype=object), counts),
                "metric": np.repeat(np.array([m for _, m, _ in parts], dtype=object), counts),
                "value": vals,
            }
        )


def _duration(value: object, where: str) -> timedelta:
    if isinstance(value, int | float):
        return timedelta(seconds=float(value))
    try:
        return parse_duration(str(value))
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _query(i: int, raw: object, where: str) -> PromQuery:
    at = f"{where}.queries[{i}]"
    if not isinstance(raw, dict):
        raise ConfigError(f"{at}: expected a mapping with 'query' and 'metric', got {raw!r}")
    allowed = {"query", "metric", "metric_label", "component", "component_label", "kind"}
    unknown = set(raw) - allowed
    if unknown:
        raise ConfigError(f"{at}: unknown option(s) {sorted(unknown)}; expected {sorted(allowed)}")
    if not raw.get("query"):
        raise ConfigError(f"{at}.query: required (a PromQL expression)")
    if (raw.get("metric") is None) == (raw.get("metric_label") is None):
        raise ConfigError(f"{at}: give exactly one of 'metric' (a name) or 'metric_label' (a label holding it)")
    if (raw.get("component") is None) == (raw.get("component_label") is None):
        raise ConfigError(f"{at}: give exactly one of 'component' (fixed) or 'component_label'")
    kind = None
    if raw.get("kind") is not None:
        try:
            kind = MetricKind(raw["kind"])
        except ValueError:
            raise ConfigError(f"{at}.kind: {raw['kind']!r} is not one of {[k.value for k in MetricKind]}") from None
    return PromQuery(
        query=str(raw["query"]),
        metric=raw.get("metric"),
        metric_label=raw.get("metric_label"),
        component=raw.get("component"),
        component_label=raw.get("component_label"),
        kind=kind,
    )


def _auth(raw: object, where: str) -> PromAuth:
    if raw is None:
        return PromAuth()
    if not isinstance(raw, dict) or set(raw) - {"basic", "bearer_env"} or len(raw) != 1:
        raise ConfigError(f"{where}: expected {{basic: {{username_env, password_env}}}} or {{bearer_env: NAME}}")
    if "bearer_env" in raw:
        return PromAuth(bearer_env=str(raw["bearer_env"]))
    basic = raw["basic"]
    if not isinstance(basic, dict) or set(basic) != {"username_env", "password_env"}:
        raise ConfigError(f"{where}.basic: expected username_env and password_env (names of environment variables)")
    return PromAuth(username_env=str(basic["username_env"]), password_env=str(basic["password_env"]))


@register("prometheus")
def _prometheus(spec: SourceConfig, config: SystemConfig) -> PrometheusSource:
    where = f"sources[{spec.name}].options"
    opts = dict(spec.options)
    allowed = {"url", "queries", "step", "timeout", "max_points", "backoff", "auth"}
    unknown = set(opts) - allowed
    if unknown:
        raise ConfigError(f"{where}: unknown option(s) {sorted(unknown)}; expected {sorted(allowed)}")
    if not opts.get("url"):
        raise ConfigError(f"{where}.url: required (base URL of the Prometheus server)")
    queries = opts.get("queries")
    if not isinstance(queries, list) or not queries:
        raise ConfigError(f"{where}.queries: required, a non-empty list of {{query, metric, component_label}}")
    max_points = int(opts.get("max_points", 10_000))
    if not 1 <= max_points <= PROMETHEUS_MAX_POINTS:
        raise ConfigError(f"{where}.max_points: must be within 1..{PROMETHEUS_MAX_POINTS}, got {max_points}")
    step = _duration(opts.get("step", "60s"), f"{where}.step")
    if step.total_seconds() <= 0:
        raise ConfigError(f"{where}.step: must be positive")
    return PrometheusSource(
        name=spec.name,
        url=str(opts["url"]),
        queries=[_query(i, q, where) for i, q in enumerate(queries)],
        step=step,
        timeout=_duration(opts.get("timeout", "30s"), f"{where}.timeout"),
        max_points=max_points,
        retries=spec.retries,
        backoff=float(opts.get("backoff", 0.5)),
        auth=_auth(opts.get("auth"), f"{where}.auth"),
    )
