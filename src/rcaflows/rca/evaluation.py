"""Seeded RCA evaluation cases with a known root cause, the field's accuracy metrics and calibration.

It lives in the package (not only under ``bench/``) because three users share it: the recorded
cases under ``tests/rca/cases/`` are written and read with it, ``bench/rca_eval.py`` generates the
big suite with it, and the calibration fitted on its seeded suite ships in ``rules.yaml``.

A case is a random microservice DAG (10-50 services, edge ``u -> v`` when u calls v) with 3-10
metrics per service, one injected fault (cpu, memory, latency, errors, bad_data, drift, deploy) at
a root service that propagates to its callers (lagged and attenuated per hop), noise, a shared
load cycle (seasonality), gaps, a sampling interval between 1 s and 5 min, and sometimes a loud
unrelated distractor (a transient spike, a late shift, or a heavy-tailed metric) or a fault that
is already active when the data starts (then a known-normal baseline from an earlier period comes
with the case).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import yaml

from rcaflows.errors import DataError

FAULTS = ("cpu", "memory", "latency", "errors", "bad_data", "drift", "deploy")
#: metric every service has, plus optional ones (data metrics included)
BASE_METRICS = ("cpu", "latency", "error_rate")
EXTRA_METRICS = ("memory", "throughput", "null_rate", "drift_score", "row_count", "disk_io", "gc_time")
#: the metric that carries each fault at the root
FAULT_METRIC = {
    "cpu": "cpu",
    "memory": "memory",
    "latency": "latency",
    "errors": "error_rate",
    "bad_data": "null_rate",
    "drift": "drift_score",
    "deploy": "deploys",
}
STEPS_S = (1, 5, 15, 30, 60, 300)
START = pd.Timestamp("2026-05-04T00:00:00Z")


@dataclass
class Case:
    """One evaluation case: inputs and the known root cause."""

    name: str
    fault: str
    root: str
    root_metric: str
    metrics: pd.DataFrame
    incident_time: pd.Timestamp
    topology: nx.DiGraph
    baseline: pd.DataFrame | None = None
    distractor: str | None = None
    tags: list[str] = field(default_factory=list)

    @property
    def components(self) -> list[str]:
        """Return every component in the case."""
        return sorted(set(self.metrics["component"].unique()) | set(self.topology.nodes))


def _dag(rng: np.random.Generator, n: int) -> nx.DiGraph:
    """Return a random call DAG over ``n`` services; service 0 is the entry point."""
    g = nx.DiGraph()
    names = [f"svc{i:02d}" for i in range(n)]
    g.add_nodes_from(names)
    for j in range(1, n):
        k = int(rng.integers(1, min(j, 3) + 1))
        lo = max(0, j - 8)  # callers come from a recent layer: depth grows with the size
        for i in rng.choice(np.arange(lo, j), size=min(k, j - lo), replace=False):
            g.add_edge(names[int(i)], names[j])
    return g


def _noise(rng: np.random.Generator, kind: str, t: int) -> tuple[np.ndarray, float]:
    """Return a normal series of ``t`` samples for a metric kind and its typical scale."""
    if kind == "cpu":
        level, sd = rng.uniform(10, 60), rng.uniform(1, 4)
        return level + sd * rng.normal(size=t), sd
    if kind == "memory":
        level, sd = rng.uniform(200, 900), rng.uniform(2, 10)
        return level + np.cumsum(rng.normal(scale=sd / 8, size=t)) + sd * rng.normal(size=t), sd
    if kind == "latency":
        level = rng.uniform(5, 200)
        sd = level * rng.uniform(0.03, 0.15)
        return level + sd * (rng.standard_t(df=4, size=t) * 0.7), sd
    if kind == "error_rate":
        level = rng.uniform(0.001, 0.02)
        return rng.poisson(level * 1000, size=t) / 1000.0, float(np.sqrt(level * 1000) / 1000)
    if kind == "throughput":
        level = rng.uniform(50, 2000)
        sd = level * 0.05
        return level + sd * rng.normal(size=t), sd
    if kind == "null_rate":
        level = rng.uniform(0.002, 0.03)
        return np.clip(level + level * 0.2 * rng.normal(size=t), 0, 1), level * 0.2
    if kind == "drift_score":
        level = rng.uniform(0.02, 0.08)
        return np.abs(level + 0.01 * rng.normal(size=t)), 0.01
    if kind == "row_count":
        level = rng.uniform(1e3, 1e5)
        return np.round(level + level * 0.03 * rng.normal(size=t)), level * 0.03
    if kind == "deploys":
        return np.zeros(t), 1.0
    level = rng.uniform(1, 50)
    sd = level * 0.1
    return level + sd * rng.normal(size=t), sd


def _ramp(t: int, start: int, width: int) -> np.ndarray:
    """Return 0 before ``start``, rising linearly to 1 over ``width`` samples."""
    idx = np.arange(t, dtype=float)
    return np.clip((idx - start + 1) / max(width, 1), 0.0, 1.0)


def make_case(seed: int, fault: str | None = None, *, small: bool = False) -> Case:
    """Return one seeded evaluation case (``small`` keeps it to 10-12 services and ~150 points)."""
    rng = np.random.default_rng(seed)
    fault = fault or FAULTS[int(rng.integers(len(FAULTS)))]
    if fault not in FAULTS:
        raise DataError(f"make_case: unknown fault {fault!r}; expected one of {', '.join(FAULTS)}")
    n_svc = int(rng.integers(10, 13)) if small else int(rng.integers(10, 51))
    t = int(rng.integers(120, 180)) if small else int(rng.integers(240, 720))
    step_s = int(rng.choice(STEPS_S))
    g = _dag(rng, n_svc)
    names = list(g.nodes)
    # the root: anything but the entry point, preferring services that have callers
    root = names[int(rng.integers(1, n_svc))]
    metrics: dict[str, list[str]] = {}
    for s in names:
        k = int(rng.integers(0, 8))
        extra = list(rng.choice(EXTRA_METRICS, size=min(k, len(EXTRA_METRICS)), replace=False))
        metrics[s] = list(BASE_METRICS) + [str(m) for m in extra]
    fm = FAULT_METRIC[fault]
    if fm not in metrics[root]:
        metrics[root].append(fm)
    if fault == "deploy":
        for s in rng.choice(names, size=max(1, n_svc // 4), replace=False):
            if "deploys" not in metrics[str(s)]:
                metrics[str(s)].append("deploys")
    active_at_start = bool(rng.random() < 0.12)
    onset = 0 if active_at_start else int(rng.integers(int(0.55 * t), int(0.75 * t)))
    detect_lag = int(rng.integers(1, 4))
    tags: list[str] = [f"step={step_s}s"]
    if active_at_start:
        tags.append("active_at_start")
    # normal data for every series, with a shared load cycle (seasonality) on load-driven metrics
    total = t * (2 if active_at_start else 1)  # the earlier half is the baseline period
    period = total / rng.uniform(1.0, 3.0)
    load = 1.0 + rng.uniform(0.0, 0.08) * np.sin(2 * np.pi * (np.arange(total) / period + rng.random()))
    cols: dict[tuple[str, str], np.ndarray] = {}
    scale: dict[tuple[str, str], float] = {}
    for s in names:
        for m in metrics[s]:
            v, sd = _noise(rng, m, total)
            if m in ("cpu", "latency", "throughput"):
                v = v * load
            cols[(s, m)], scale[(s, m)] = v, sd
    off = total - t  # first row of the case's own window
    size = float(rng.uniform(4.0, 14.0))  # fault size in robust sigmas of the root metric
    lag_rows = max(0, round(float(rng.uniform(5, 90)) / step_s))

    def shift(key: tuple[str, str], at: int, amount: float, width: int = 1) -> None:
        if key in cols:
            cols[key] = cols[key] + amount * _ramp(total, off + at, width)

    root_sd = scale[(root, fm)]
    if fault == "cpu":
        shift((root, "cpu"), onset, size * root_sd)
        shift((root, "latency"), onset + 1, 0.5 * size * scale[(root, "latency")])
    elif fault == "memory":
        shift((root, "memory"), onset, 3 * size * root_sd, width=int(rng.integers(3, 12)))
        shift((root, "latency"), onset + 4, 0.3 * size * scale[(root, "latency")])
    elif fault == "latency":
        shift((root, "latency"), onset, size * root_sd)
    elif fault == "errors":
        shift((root, "error_rate"), onset, size * max(root_sd, 0.002))
    elif fault == "bad_data":
        lvl = float(np.median(cols[(root, "null_rate")]))
        shift((root, "null_rate"), onset, max(size * root_sd, 2.0 * lvl))
        shift((root, "error_rate"), onset + 1, 0.3 * size * scale[(root, "error_rate")])
    elif fault == "drift":
        shift((root, "drift_score"), onset, size * root_sd, width=int(rng.integers(2, 10)))
    else:  # deploy: a change event, then errors and latency rise
        cols[(root, "deploys")][off + onset] = 1.0
        shift((root, "error_rate"), onset + 1, 0.6 * size * scale[(root, "error_rate")])
        shift((root, "latency"), onset + 1, 0.6 * size * scale[(root, "latency")])
    # propagation to callers: lagged, attenuated per hop, latency and errors (and throughput drop)
    up = nx.single_source_shortest_path_length(g.reverse(copy=False), root)
    att = float(rng.uniform(0.5, 0.9))
    carried = "error_rate" if fault in ("errors", "bad_data", "drift", "deploy") else "latency"
    for caller, hops in up.items():
        if hops == 0:
            continue
        f = att**hops * size * float(rng.uniform(0.6, 1.6))
        at = onset + hops * max(1, lag_rows) + 1
        if at >= t:
            continue
        shift((caller, carried), at, f * scale[(caller, carried)])
        if fault in ("latency", "cpu", "memory"):
            shift((caller, "throughput"), at, -0.5 * f * scale.get((caller, "throughput"), 0.0))
    # a loud unrelated distractor in about a third of the cases
    distractor = None
    if rng.random() < 0.35:
        far = [s for s in names if s != root and s not in up and root not in nx.descendants(g, s)]
        pool = far or [s for s in names if s != root]
        d = str(rng.choice(pool))
        kind = str(rng.choice(["spike", "late_shift", "heavy_tail"]))
        m = str(rng.choice(metrics[d]))
        if m == "deploys":
            m = "cpu"
        sd = scale[(d, m)]
        if kind == "spike":  # one loud transient sample in the anomalous period
            at = int(rng.integers(max(onset, 1), t))
            cols[(d, m)][off + at] += float(rng.uniform(15, 40)) * sd
        elif kind == "late_shift":  # a big sustained shift that starts after the fault
            at = min(t - 3, max(onset, 1) + int(rng.integers(3, 12)) + lag_rows)
            shift((d, m), at, float(rng.uniform(1.2, 2.0)) * size * sd)
        else:  # a heavy-tailed, bursty series throughout
            bursts = rng.random(total) < 0.05
            cols[(d, m)] = cols[(d, m)] + bursts * rng.uniform(8, 25, size=total) * sd
        distractor = f"{kind}:{d}/{m}"
        tags.append(f"distractor={kind}")
    # assemble long frames (vectorized), dropping ~3 % random samples and sometimes a block gap
    keys = list(cols)
    mat = np.column_stack([cols[k] for k in keys])
    times = START + pd.to_timedelta(np.arange(total) * step_s, unit="s")
    keep = rng.random(mat.shape) > 0.03
    if rng.random() < 0.3:
        g0 = int(rng.integers(off, total - 5))
        keep[g0 : g0 + int(rng.integers(2, 6))] = False
        tags.append("gap")
    long = _long(times, keys, mat, keep)
    cur = long[long["timestamp"] >= times[off]].reset_index(drop=True)
    base = long[long["timestamp"] < times[off]].reset_index(drop=True) if active_at_start else None
    incident = times[min(off + onset + detect_lag, total - 1)]
    return Case(
        name=f"case{seed:05d}-{fault}",
        fault=fault,
        root=root,
        root_metric=fm,
        metrics=cur,
        incident_time=pd.Timestamp(incident),
        topology=g,
        baseline=base,
        distractor=distractor,
        tags=tags,
    )


def _long(times: pd.DatetimeIndex, keys: list[tuple[str, str]], mat: np.ndarray, keep: np.ndarray) -> pd.DataFrame:
    """Return the long frame of a ``T x N`` matrix, keeping the cells where ``keep`` is true."""
    rows, cols = np.nonzero(keep)
    comps = np.array([k[0] for k in keys], dtype=object)
    mets = np.array([k[1] for k in keys], dtype=object)
    return pd.DataFrame(
        {
            "timestamp": times[rows],
            "component": comps[cols],
            "metric": mets[cols],
            "value": mat[rows, cols],
        }
    )


def make_suite(n: int, seed: int = 0, *, small: bool = False) -> list[Case]:
    """Return ``n`` cases cycling through every fault type (case ``i`` uses seed ``seed + i``)."""
    return [make_case(seed + i, FAULTS[i % len(FAULTS)], small=small) for i in range(n)]


def to_wide(metrics: pd.DataFrame) -> pd.DataFrame:
    """Return long metrics as RCAEval's wide layout: ``time`` (unix seconds) and ``<component>_<metric>``."""
    wide = metrics.pivot_table(index="timestamp", columns=["component", "metric"], values="value", aggfunc="mean")
    wide.columns = [f"{c}_{m}" for c, m in wide.columns]
    ts = pd.DatetimeIndex(wide.index)
    wide.insert(0, "time", (ts - pd.Timestamp("1970-01-01", tz="UTC")) // pd.Timedelta(seconds=1))
    return wide.reset_index(drop=True)


def from_wide(df: pd.DataFrame, time_column: str = "time") -> pd.DataFrame:
    """Return a wide frame (``time`` + ``<component>_<metric>`` columns, as in RCAEval's RE1/RE2) as long metrics.

    ``time`` may hold unix seconds (or milliseconds) or datetime strings; a column name is split at
    its first ``_`` into component and metric (``ts-order-service_cpu`` -> ``ts-order-service``,
    ``cpu``); a name without ``_`` is a metric of component ``system``.  Non-numeric columns are
    skipped.

    Raises:
        DataError: no time column, or times that cannot be read.
    """
    if time_column not in df.columns:
        raise DataError(
            f"from_wide: missing column {time_column!r}; expected a time column and <component>_<metric> columns"
        )
    raw = df[time_column]
    try:
        if pd.api.types.is_numeric_dtype(raw.dtype):
            unit = "ms" if raw.abs().max() > 1e11 else "s"
            ts = pd.to_datetime(raw.astype(float), unit=unit, utc=True)
        else:
            ts = pd.to_datetime(raw, utc=True)
    except (ValueError, TypeError) as exc:
        raise DataError(f"from_wide: field {time_column!r}: cannot read times ({exc})") from None
    cols = [c for c in df.columns if c != time_column and pd.api.types.is_numeric_dtype(df[c].dtype)]
    if not cols:
        return pd.DataFrame(
            {"timestamp": pd.Series([], dtype="datetime64[ns, UTC]"), "component": [], "metric": [], "value": []}
        )
    values = df[cols].to_numpy(dtype=float)
    parts = [str(c).split("_", 1) if "_" in str(c) else ["system", str(c)] for c in cols]
    comp = pd.Categorical(np.array([p[0] for p in parts], dtype=object)[np.tile(np.arange(len(cols)), len(df))])
    met = pd.Categorical(np.array([p[1] for p in parts], dtype=object)[np.tile(np.arange(len(cols)), len(df))])
    return pd.DataFrame(
        {
            "timestamp": np.repeat(ts.to_numpy(), len(cols)),
            "component": comp,
            "metric": met,
            "value": values.reshape(-1),
        }
    ).assign(timestamp=lambda f: pd.to_datetime(f["timestamp"], utc=True))


# --- recorded cases on disk -------------------------------------------------------------------


def save_case(case: Case, folder: Path) -> Path:
    """Write a case as a folder: ``metrics.csv.gz``, ``topology.csv``, optional ``baseline.csv.gz``, ``case.yaml``."""
    out = Path(folder) / case.name
    out.mkdir(parents=True, exist_ok=True)
    fmt = {"float_format": "%.6g", "index": False, "date_format": "%Y-%m-%dT%H:%M:%SZ"}
    case.metrics.to_csv(out / "metrics.csv.gz", **fmt)
    if case.baseline is not None:
        case.baseline.to_csv(out / "baseline.csv.gz", **fmt)
    pd.DataFrame(list(case.topology.edges), columns=["source", "target"]).to_csv(out / "topology.csv", index=False)
    meta = {
        "name": case.name,
        "fault": case.fault,
        "root_cause": {"component": case.root, "metric": case.root_metric},
        "incident_time": case.incident_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "baseline": "baseline.csv.gz" if case.baseline is not None else None,
        "distractor": case.distractor,
        "tags": case.tags,
    }
    (out / "case.yaml").write_text(yaml.safe_dump(meta, sort_keys=False), encoding="utf-8")
    return out


def load_case(folder: Path) -> Case:
    """Read a case folder written by :func:`save_case`."""
    folder = Path(folder)
    meta = yaml.safe_load((folder / "case.yaml").read_text(encoding="utf-8"))

    def read(name: str) -> pd.DataFrame:
        df = pd.read_csv(folder / name)
        df["timestamp"] = pd.to_datetime(df["timestamp"], utc=True)
        return df

    edges = pd.read_csv(folder / "topology.csv")
    topo = nx.DiGraph()
    topo.add_edges_from(zip(edges["source"].astype(str), edges["target"].astype(str), strict=True))
    return Case(
        name=meta["name"],
        fault=meta["fault"],
        root=meta["root_cause"]["component"],
        root_metric=meta["root_cause"]["metric"],
        metrics=read("metrics.csv.gz"),
        incident_time=pd.Timestamp(meta["incident_time"]),
        topology=topo,
        baseline=read(meta["baseline"]) if meta.get("baseline") else None,
        distractor=meta.get("distractor"),
        tags=list(meta.get("tags") or []),
    )


# --- scoring ----------------------------------------------------------------------------------


def rank_of(ranking: Sequence[str], truth: str) -> int | None:
    """Return the 1-based rank of ``truth`` in ``ranking`` (None when absent)."""
    for i, c in enumerate(ranking):
        if c == truth:
            return i + 1
    return None


def accuracy(ranks: Sequence[int | None]) -> dict[str, float]:
    """Return AC@1, AC@3 and Avg@5 (the mean of AC@1..AC@5) over cases' ranks of the true cause."""
    r = np.array([np.inf if x is None else x for x in ranks], dtype=float)
    if len(r) == 0:
        return {"AC@1": float("nan"), "AC@3": float("nan"), "Avg@5": float("nan")}
    ac = {k: float(np.mean(r <= k)) for k in range(1, 6)}
    return {"AC@1": ac[1], "AC@3": ac[3], "Avg@5": float(np.mean([ac[k] for k in range(1, 6)]))}


def reliability(conf: Sequence[float], correct: Sequence[bool], bins: int = 5) -> tuple[pd.DataFrame, float]:
    """Return a reliability table (per confidence bin: count, mean confidence, accuracy) and the ECE."""
    c = np.clip(np.asarray(conf, dtype=float), 0.0, 1.0)
    y = np.asarray(correct, dtype=float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.clip(np.searchsorted(edges, c, side="right") - 1, 0, bins - 1)
    n = np.bincount(idx, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mc = np.bincount(idx, weights=c, minlength=bins) / n
        acc = np.bincount(idx, weights=y, minlength=bins) / n
    table = pd.DataFrame(
        {
            "bin": [f"{edges[i]:.1f}-{edges[i + 1]:.1f}" for i in range(bins)],
            "n": n,
            "mean_confidence": mc,
            "accuracy": acc,
        }
    )
    ece = float(np.nansum(n / max(len(c), 1) * np.abs(mc - acc)))
    return table, ece


def isotonic(x: Sequence[float], y: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Return knots ``(xs, ys)`` of the non-decreasing least-squares fit of ``y`` on ``x`` (pool adjacent violators)."""
    order = np.argsort(np.asarray(x, dtype=float), kind="stable")
    xs = np.asarray(x, dtype=float)[order]
    ys = np.asarray(y, dtype=float)[order]
    blocks: list[list[float]] = []  # [sum_y, count, min_x, max_x]
    for xi, yi in zip(xs, ys, strict=True):
        blocks.append([yi, 1.0, xi, xi])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] >= blocks[-1][0] / blocks[-1][1]:
            s, n, _, hi = blocks.pop()
            blocks[-1][0] += s
            blocks[-1][1] += n
            blocks[-1][3] = hi
    kx = np.array([(b[2] + b[3]) / 2 for b in blocks])
    ky = np.array([b[0] / b[1] for b in blocks])
    return kx, ky
