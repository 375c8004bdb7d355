"""Seeded simulator of the demo fraud-scoring system and its fault scenarios.

The background (traffic, transactions, labels, metric noise, benign changes) depends only on
``seed``, ``end`` and ``history``, so every scenario equals ``no_fault`` before its injections
start. Each scenario then applies its :class:`~rcaflows.demo.scenarios.Scenario` effects with its
own random stream; a multi-fault scenario applies each of its parts at the part's own onset.
Everything is whole-array numpy; the only loops run over metric series and the model's seven features.

The training store (lineage node ``training_set``) receives the labelled transactions in batches
exported every two hours (``batch_id`` ``lbl-YYYYMMDDTHHMM``, one ``timestamp`` per batch: its
export), with the channel each label came from (``source``) and the model version a retrain fed the
batch into (``trained_into``, empty until one did), as ``model.training`` declares them.

The prediction log carries what ``model.log`` of the demo config declares: the model version,
the A/B experiment's arm (``experiment_arm``: control/treatment by a seeded hash of the request)
and each feature's attribution (``shap_<feature>``: the exact SHAP value of the linear logit,
coefficient x (latent - training mean), of the model that served the row).

Results are cached: :func:`simulate` returns the same :class:`SimulatedWorld` for the same
arguments, so callers must treat its frames as read-only (copy before changing them).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from types import MappingProxyType

import numpy as np
import pandas as pd

from rcaflows.config import load_config
from rcaflows.config.models import MetricKind
from rcaflows.data import MonitoringData
from rcaflows.demo.scenarios import (
    SCENARIOS,
    TRAINING_EXPORT_AT,
    TRAINING_EXPORT_EVERY,
    Part,
    Scenario,
    Truth,
    training_batch_id,
)
from rcaflows.errors import ConfigError
from rcaflows.timeutil import utc

DEMO_END: datetime = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)

_MIN_NS = 60_000_000_000
_RATE = 30.0  # mean scored requests per minute
_N_CLIENTS = 200
_N_MERCHANTS = 5000
_FRAUD_RATE = 0.04
_GROUP_B_SHARE = 0.3
_LABEL_JITTER_S = 120.0

# Stream ids of the background; scenario streams are derived from the scenario name.
_S_TRAFFIC, _S_METRICS, _S_MERCHANTS, _S_CHANGES, _S_PROFILES, _S_TRAINING = 1, 2, 3, 4, 5, 6

Arr = np.ndarray

# ---------------------------------------------------------------- the fraud process and the model


@dataclass(frozen=True)
class _Feature:
    """A feature drawn from a latent normal: ``fwd(raw) = mu + sign * sd * z``, z ~ N(shift*fraud, 1)."""

    mu: float
    sd: float
    sign: float
    shift: float  # class separation in latent units; also the model's weight (LDA)
    fwd: Callable[[Arr], Arr]
    inv: Callable[[Arr], Arr]


def _logit(p: Arr) -> Arr:
    p = np.clip(p, 1e-4, 1 - 1e-4)
    return np.asarray(np.log(p / (1 - p)))


def _sigmoid(x: Arr) -> Arr:
    return np.asarray(1.0 / (1.0 + np.exp(-x)))


def _log(x: Arr) -> Arr:
    return np.asarray(np.log(np.maximum(x, 0.01)))


def _log1p(x: Arr) -> Arr:
    return np.asarray(np.log1p(np.maximum(x, 0.0)))


_FEATURES: dict[str, _Feature] = {
    "amount": _Feature(3.6, 1.0, 1, 0.9, _log, np.exp),
    "country_risk": _Feature(-2.0, 0.8, 1, 0.7, _logit, _sigmoid),
    "merchant_risk": _Feature(-1.5, 0.9, 1, 1.5, _logit, _sigmoid),
    "merchant_age_days": _Feature(6.5, 0.8, -1, 0.6, _log, np.exp),
    "txn_count_24h": _Feature(1.2, 0.5, 1, 0.6, _log1p, np.expm1),
    "account_age_days": _Feature(6.8, 0.9, -1, 0.7, _log, np.exp),
    "geo_distance_km": _Feature(3.0, 1.3, 1, 0.9, _log1p, np.expm1),
}
_INTEGER = ("merchant_age_days", "txn_count_24h", "account_age_days")
_THRESHOLD_LOGIT = 4.3  # model intercept: about 3.5 % false positives, ~70 % recall in normal times
# Merchants without a rating carry risk 0; in training they were the riskiest segment, so the model
# maps risk 0 to this latent value. Zero-imputing a null merchant_risk therefore reads as "unrated".
_UNRATED_LATENT = 1.8
_LATENT_CLIP = 4.0  # the model clips standardized inputs, as robust scalers do


def _latent(name: str, raw: Arr) -> Arr:
    """Return the model's standardized, clipped view of one raw feature (NaN imputed as 0)."""
    f = _FEATURES[name]
    x = np.nan_to_num(np.asarray(raw, dtype=float), nan=0.0)
    z = f.sign * (f.fwd(x) - f.mu) / f.sd
    if name == "merchant_risk":
        z = np.where(x <= 0, _UNRATED_LATENT, z)
    return np.clip(z, -_LATENT_CLIP, _LATENT_CLIP)


def _model_logit(features: Mapping[str, Arr], exclude: str | None = None) -> Arr:
    """Return the fixed logistic model's logit (optionally without one feature's term)."""
    n = len(next(iter(features.values())))
    out = np.full(n, -_THRESHOLD_LOGIT)
    for name, f in _FEATURES.items():
        if name != exclude:
            out += f.shift * _latent(name, features[name])
    return out


# The training population's mean latent of each feature (z ~ N(shift * fraud, 1), fraud at _FRAUD_RATE):
# the background an attribution is measured against, as SHAP's expected value is.
_LATENT_MEAN: dict[str, float] = {name: f.shift * _FRAUD_RATE for name, f in _FEATURES.items()}


def _scored(features: Mapping[str, Arr], weight: Mapping[str, Arr | float]) -> tuple[Arr, dict[str, Arr]]:
    """Return the served model's logit and each feature's attribution, row by row.

    ``weight`` scales a feature's coefficient per row (1 where absent: the fixed model). The model
    is linear in its latents, so a feature's exact SHAP value on the logit scale (independent
    features, the training population as background) is ``coefficient x (latent - mean latent)``;
    the attributions and the intercept sum to the logit up to the constant of the means.
    """
    n = len(next(iter(features.values())))
    logit = np.full(n, -_THRESHOLD_LOGIT)
    attributions: dict[str, Arr] = {}
    for name, f in _FEATURES.items():
        coef = f.shift * np.asarray(weight.get(name, 1.0), dtype=float)
        z = _latent(name, features[name])
        logit += coef * z
        attributions[name] = np.broadcast_to(coef * (z - _LATENT_MEAN[name]), (n,))
    return logit, attributions


def _draw_features(rng: np.random.Generator, fraud: Arr) -> dict[str, Arr]:
    """Draw the model features (except hour) for rows with the given true fraud flags."""
    out: dict[str, Arr] = {}
    for name, f in _FEATURES.items():
        z = rng.standard_normal(len(fraud)) + f.shift * fraud
        raw = f.inv(f.mu + f.sign * f.sd * z)
        if name in _INTEGER:
            raw = np.maximum(np.round(raw), 0 if name == "txn_count_24h" else 1)
        elif name == "geo_distance_km":
            raw = np.round(np.minimum(raw, 20000.0), 1)
        elif name == "amount":
            raw = np.round(raw, 2)
        else:
            raw = np.round(raw, 4)
        out[name] = raw
    return out


# ---------------------------------------------------------------- time grid and helpers


@dataclass(frozen=True)
class _Grid:
    """The 1-minute grid of ``[start, end)``."""

    start: pd.Timestamp
    end: pd.Timestamp
    minutes: pd.DatetimeIndex
    load: Arr  # traffic relative to the daily mean (0.5 .. 1.5)

    @property
    def n(self) -> int:
        """Return the number of minutes."""
        return len(self.minutes)

    def index_of(self, ts: datetime) -> int:
        """Return the minute index of ``ts`` (may lie outside the grid)."""
        return int((pd.Timestamp(ts) - self.start) // pd.Timedelta(minutes=1))


def _grid(end: datetime, history: timedelta) -> _Grid:
    start = pd.Timestamp(end - history).floor("min")
    minutes = pd.date_range(start, pd.Timestamp(end), freq="min", inclusive="left").as_unit("ns")
    hour = minutes.hour.to_numpy() + minutes.minute.to_numpy() / 60.0
    load = 1.0 + 0.5 * np.cos(2 * np.pi * (hour - 13.0) / 24.0)  # peak 13:00, trough 01:00 UTC: 3x
    return _Grid(start=start, end=pd.Timestamp(end), minutes=minutes, load=load)


def _rng(seed: int, stream: int | str, end: datetime) -> np.random.Generator:
    """Return an independent generator for one stream of one seed."""
    key = stream if isinstance(stream, int) else 1000 + zlib.crc32(stream.encode())
    return np.random.default_rng([seed, key, int(pd.Timestamp(end).value // _MIN_NS)])


def _ts(ns: Arr) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(np.asarray(ns, dtype="datetime64[ns]")).tz_localize("UTC")


def _heavy(rng: np.random.Generator, shape: int | tuple[int, ...]) -> Arr:
    """Draw student-t(4) noise scaled to unit spread, clipped to keep rare spikes bounded."""
    return np.clip(rng.standard_t(4, size=shape) / np.sqrt(2.0), -8, 8)


# ---------------------------------------------------------------- predictions and batches


@dataclass
class _Rows:
    """Mutable working set of the organic scored requests (one row per transaction)."""

    ts_ns: Arr
    raw_ns: Arr  # when the transaction landed in raw_transactions
    client: Arr  # client index
    group_b: Arr
    fraud: Arr
    features: dict[str, Arr]
    label_ns: Arr
    currency: Arr
    country: Arr
    treatment: Arr  # the row's request fell in the A/B experiment's treatment arm
    version: Arr | None = None  # model version that served the row (None: the stable one everywhere)
    # per-row factor on a feature's model coefficient (absent: the fixed model's weight)
    weight: dict[str, Arr] = field(default_factory=dict)


_CURRENCIES = np.array(["EUR", "USD", "GBP"])
_FX = np.array([1.0, 1.08, 0.86])
_COUNTRIES = np.array(["DE", "FR", "NL", "ES", "IT", "GB", "US", "PL", "BE", "AT"])
_COUNTRY_P = np.array([0.25, 0.15, 0.1, 0.1, 0.1, 0.08, 0.08, 0.06, 0.04, 0.04])
_CLIENT_IDS = np.array([f"c-{i:04d}" for i in range(1, _N_CLIENTS + 1)], dtype=object)
_VERSION = "v5"  # the stable fraud-model version
_ARMS = np.array(["control", "treatment"], dtype=object)  # experiment arms, in the log's experiment_arm


def _treatment(seed: int, ts_ns: Arr, client: Arr) -> Arr:
    """Return the experiment's 50/50 arm split: the top bit of a seeded splitmix64 hash of each request.

    A hash of the request (its time and client), not a random draw: the split is stable for a
    request, independent of every other column, and draws nothing from the background's streams.
    """
    with np.errstate(over="ignore"):
        x = ts_ns.astype(np.uint64) ^ (client.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15))
        x = x + np.uint64(seed & 0xFFFFFFFF) * np.uint64(0xD1B54A32D192ED03) + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return np.asarray((x >> np.uint64(63)) == 1)


def _background_rows(grid: _Grid, seed: int) -> _Rows:
    """Draw the organic transactions, their features, true fraud and label arrival."""
    rng = _rng(seed, _S_TRAFFIC, grid.end)
    counts = rng.poisson(_RATE * grid.load)
    n = int(counts.sum())
    minute_ns = grid.minutes.asi8.repeat(counts)
    ts_ns = np.sort(minute_ns + (rng.random(n) * _MIN_NS).astype(np.int64))
    raw_ns = ts_ns - (rng.uniform(40, 100, n) * 1e9).astype(np.int64)
    zipf = 1.0 / np.arange(1, _N_CLIENTS + 1) ** 0.8
    client = rng.choice(_N_CLIENTS, size=n, p=zipf / zipf.sum())
    group_b = rng.random(n) < _GROUP_B_SHARE
    fraud = (rng.random(n) < _FRAUD_RATE).astype(float)
    features = _draw_features(rng, fraud)
    label_ns = (
        ts_ns + int(_label_delay().total_seconds() * 1e9) + (rng.uniform(0, _LABEL_JITTER_S, n) * 1e9).astype(np.int64)
    )
    currency = rng.choice(3, size=n, p=[0.8, 0.12, 0.08])
    country = rng.choice(len(_COUNTRIES), size=n, p=_COUNTRY_P)
    return _Rows(
        ts_ns, raw_ns, client, group_b, fraud, features, label_ns, currency, country, _treatment(seed, ts_ns, client)
    )


@lru_cache(maxsize=1)
def _config_facts() -> tuple[tuple[tuple[str, str, MetricKind], ...], timedelta, tuple[str, ...]]:
    """Return the demo config's metrics, label delay and model features."""
    from rcaflows.demo.config import bundled_config_path

    cfg = load_config(bundled_config_path())
    metrics = tuple((m.component, m.name, m.kind) for m in cfg.metrics)
    model = cfg.models[0] if cfg.models else None  # the demo system has one model
    delay = model.label_delay if model is not None else timedelta(minutes=15)
    features = tuple(model.features) if model is not None else ("hour", *_FEATURES)
    return metrics, delay, features


def _label_delay() -> timedelta:
    return _config_facts()[1]


@dataclass
class _Flood:
    """Extra requests of the query-flood attacker."""

    ts_ns: Arr
    group_b: Arr
    features: dict[str, Arr]


def _flood(
    grid: _Grid, rng: np.random.Generator, onset: datetime, rate: float, until: datetime | None = None
) -> _Flood:
    """Draw probing requests far outside the training range, tuned to land near the boundary."""
    i0 = max(grid.index_of(onset), 0)
    counts = np.zeros(grid.n, dtype=np.int64)
    counts[i0:] = rng.poisson(rate, grid.n - i0)
    if until is not None:
        counts[max(grid.index_of(until), 0) :] = 0
    n = int(counts.sum())
    ts_ns = np.sort(grid.minutes.asi8.repeat(counts) + (rng.random(n) * _MIN_NS).astype(np.int64))
    f: dict[str, Arr] = {
        "amount": np.round(10 ** rng.uniform(5, 6, n), 2),
        "country_risk": np.round(rng.uniform(0.0001, 0.01, n), 4),
        "merchant_risk": np.round(rng.random(n), 4),
        "merchant_age_days": rng.integers(15000, 40000, n).astype(float),
        "txn_count_24h": np.zeros(n),
        "geo_distance_km": np.full(n, 20000.0),
        "account_age_days": np.ones(n),
    }
    # Extreme amounts and distances, offset by low-risk claims; the attacker then searches
    # account_age_days so the score sits near the decision boundary.
    acc = _FEATURES["account_age_days"]
    target = rng.normal(0.0, 0.3, n)
    partial = _model_logit(f, exclude="account_age_days")
    z = np.clip((target - partial) / acc.shift, -_LATENT_CLIP + 0.01, _LATENT_CLIP - 0.01)
    f["account_age_days"] = np.maximum(np.round(acc.inv(acc.mu + acc.sign * acc.sd * z)), 1.0)
    return _Flood(ts_ns=ts_ns, group_b=rng.random(n) < _GROUP_B_SHARE, features=f)


def _merchants(grid: _Grid, seed: int) -> pd.DataFrame:
    """Draw the merchant feed: a rolling snapshot of merchant ratings, ~5 rows a minute."""
    rng = _rng(seed, _S_MERCHANTS, grid.end)
    counts = rng.poisson(5.0 * grid.load)
    n = int(counts.sum())
    ts_ns = np.sort(grid.minutes.asi8.repeat(counts) + (rng.random(n) * _MIN_NS).astype(np.int64))
    mid = rng.integers(1, _N_MERCHANTS + 1, n)
    # ratings are a property of the merchant: derive them from a per-merchant latent
    mz = np.random.default_rng([seed, _S_MERCHANTS]).standard_normal((2, _N_MERCHANTS + 1))
    risk = np.round(_sigmoid(-1.5 + 0.9 * mz[0][mid]), 4)
    age = np.maximum(np.round(np.exp(6.5 - 0.8 * mz[1][mid])), 1.0)
    return pd.DataFrame(
        {
            "timestamp": _ts(ts_ns),
            "merchant_id": pd.Series(mid).map("m-{:05d}".format).to_numpy(dtype=object),
            "risk_score": risk,
            "age_days": age,
        }
    )


def _prediction_frame(
    grid: _Grid,
    rows: _Rows,
    flood: _Flood | None,
    logit_shift: Arr,
    features_order: tuple[str, ...],
    seed: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Assemble the predictions and feature_store frames from the organic rows and any flood.

    ``logit_shift`` is added to each organic row's logit (a model change that is not in the
    features: it moves the score, not the feature attributions).
    """
    end_ns = grid.end.value
    logit, attributions = _scored(rows.features, rows.weight)
    score = _sigmoid(logit + logit_shift)
    arrived = rows.label_ns < end_ns
    hour = ((rows.ts_ns // (3600 * 10**9)) % 24).astype(np.int64)
    organic: dict[str, object] = {
        "timestamp": rows.ts_ns,
        "client_id": _CLIENT_IDS[rows.client],
        "group": np.where(rows.group_b, "B", "A").astype(object),
        "country": _COUNTRIES[rows.country].astype(object),
        "model_version": rows.version if rows.version is not None else np.full(len(rows.ts_ns), _VERSION, object),
        "experiment_arm": _ARMS[rows.treatment.astype(np.int64)],
        "hour": hour,
        **rows.features,
        **{f"shap_{name}": np.round(a, 4) for name, a in attributions.items()},
        "score": np.round(score, 6),
        "label": np.where(arrived, rows.fraud, np.nan),
        "label_at": np.where(arrived, rows.label_ns, np.iinfo(np.int64).min),
    }
    store = pd.DataFrame({"timestamp": _ts(rows.ts_ns), **{c: organic[c] for c in features_order}})
    cols: dict[str, Arr] = {k: np.asarray(v) for k, v in organic.items()}
    if flood is not None and len(flood.ts_ns):
        m = len(flood.ts_ns)
        flood_logit, flood_attributions = _scored(flood.features, {})
        extra: dict[str, Arr] = {
            "timestamp": flood.ts_ns,
            "client_id": np.full(m, "c-0666", dtype=object),
            "group": np.where(flood.group_b, "B", "A").astype(object),
            "country": np.full(m, "unknown", dtype=object),
            "model_version": np.full(m, _VERSION, dtype=object),
            "experiment_arm": _ARMS[_treatment(seed, flood.ts_ns, np.full(m, 666)).astype(np.int64)],
            "hour": ((flood.ts_ns // (3600 * 10**9)) % 24).astype(np.int64),
            **flood.features,
            **{f"shap_{name}": np.round(a, 4) for name, a in flood_attributions.items()},
            "score": np.round(_sigmoid(flood_logit), 6),
            # probes are not real transactions: no ground truth ever arrives for them
            "label": np.full(m, np.nan),
            "label_at": np.full(m, np.iinfo(np.int64).min),
        }
        cols = {k: np.concatenate([cols[k], extra[k]]) for k in cols}
        order = np.argsort(cols["timestamp"], kind="stable")
        cols = {k: v[order] for k, v in cols.items()}
    label_at = cols["label_at"].astype("datetime64[ns]")
    label_at[cols["label_at"] == np.iinfo(np.int64).min] = np.datetime64("NaT")
    frame = pd.DataFrame(
        {
            "timestamp": _ts(cols["timestamp"]),
            "client_id": cols["client_id"],
            "group": cols["group"],
            "country": cols["country"],
            "model_version": cols["model_version"],
            "experiment_arm": cols["experiment_arm"],
            **{c: cols[c] for c in features_order},
            **{f"shap_{name}": cols[f"shap_{name}"] for name in _FEATURES},
            "score": cols["score"],
            "prediction": (cols["score"] >= 0.5).astype(np.int64),
            "label": cols["label"].astype(float),
            "label_at": pd.DatetimeIndex(label_at).tz_localize("UTC"),
        }
    )
    return frame, store


_TXN_IDS: np.ndarray = np.empty(0, dtype=object)


def _txn_ids(rows: np.ndarray) -> np.ndarray:
    """Return the transaction ids (``t-00000042``) of row numbers; formatted once per process, then indexed."""
    global _TXN_IDS
    need = int(rows.max()) + 1 if len(rows) else 0
    if need > len(_TXN_IDS):
        _TXN_IDS = np.array([f"t-{i:08d}" for i in range(max(need, 2 * len(_TXN_IDS)))], dtype=object)
    return _TXN_IDS[rows]


def _raw_transactions(grid: _Grid, rows: _Rows) -> pd.DataFrame:
    """Return the raw_transactions batch (amounts in the transaction's currency)."""
    order = np.argsort(rows.raw_ns, kind="stable")
    keep = order[rows.raw_ns[order] >= grid.start.value]
    txn = _txn_ids(keep)
    return pd.DataFrame(
        {
            "timestamp": _ts(rows.raw_ns[keep]),
            "txn_id": txn,
            "amount": np.round(rows.features["amount"][keep] * _FX[rows.currency[keep]], 2),
            "currency": _CURRENCIES[rows.currency[keep]].astype(object),
            "country": _COUNTRIES[rows.country[keep]].astype(object),
            "client_id": _CLIENT_IDS[rows.client[keep]],
        }
    )


#: Channels a transaction's label comes from, and their shares (the training batches' ``source``).
_LABEL_SOURCES = np.array(["chargeback_feed", "analyst_review", "customer_reports"], dtype=object)
_LABEL_SOURCE_P = [0.55, 0.35, 0.10]
_RETRAINED = "v6"  # the version the periodic retrain of poisoned_retrain serves from its onset


def _training_set(grid: _Grid, rows: _Rows, seed: int) -> pd.DataFrame:
    """Return the training store's batches: each labelled transaction in the first export after its label arrived."""
    every = int(TRAINING_EXPORT_EVERY.total_seconds() * 1e9)
    at = int(TRAINING_EXPORT_AT.total_seconds() * 1e9)
    source = np.random.default_rng([seed, _S_TRAINING, int(grid.end.value // _MIN_NS)]).choice(
        len(_LABEL_SOURCES), size=len(rows.ts_ns), p=_LABEL_SOURCE_P
    )
    export = -((at - rows.label_ns) // every) * every + at  # the next export at or after the label
    keep = np.nonzero((export >= grid.start.value) & (export < grid.end.value))[0]
    keep = keep[np.lexsort((rows.ts_ns[keep], export[keep]))]
    exports, batch = np.unique(export[keep], return_inverse=True)
    ids = np.array([training_batch_id(t.to_pydatetime()) for t in _ts(exports)], dtype=object)
    return pd.DataFrame(
        {
            "timestamp": _ts(export[keep]),
            "batch_id": ids[batch],
            "row_id": _txn_ids(keep),
            "source": _LABEL_SOURCES[source[keep]],
            "trained_into": np.full(len(keep), None, dtype=object),
            "hour": ((rows.ts_ns[keep] // (3600 * 10**9)) % 24).astype(np.int64),
            **{name: rows.features[name][keep] for name in _FEATURES},
            "label": rows.fraud[keep].astype(np.int64),
        }
    )


def _poison(train: pd.DataFrame, scenario: Scenario, onset: datetime, rng: np.random.Generator) -> pd.DataFrame:
    """Slip flipped copies into the batch the retrain behind ``scenario`` picked up; mark it trained into v6.

    The copies are legitimate transactions of young accounts from that batch and the two exported
    before it, relabelled as fraud and uploaded from one new source (``bulk-upload``), so that they
    make ``poison_share`` of the batch: duplicates with flipped labels and a burst from one source.
    """
    p = scenario.params
    bid = scenario.cause_batch(onset)
    batch = (train["batch_id"] == bid).to_numpy()
    if not batch.any():  # the batch lies outside the simulated history: nothing to poison
        return train
    landed = train["timestamp"].to_numpy()[batch][0]
    recent = (train["timestamp"] <= landed) & (train["timestamp"] > landed - 3 * TRAINING_EXPORT_EVERY)
    pool = np.nonzero((recent & (train["label"] == 0) & (train["account_age_days"] < p["young_days"])).to_numpy())[0]
    n = min(round(p["poison_share"] / (1 - p["poison_share"]) * int(batch.sum())), len(pool))
    copies = train.iloc[np.sort(rng.choice(pool, n, replace=False))].copy()
    copies["timestamp"] = landed
    copies["batch_id"] = bid
    copies["row_id"] = [f"p-{i:06d}" for i in range(n)]
    copies["source"] = "bulk-upload"
    copies["label"] = 1
    out = pd.concat([train, copies], ignore_index=True).sort_values("timestamp", kind="stable")
    out.loc[out["batch_id"] == bid, "trained_into"] = _RETRAINED
    return out.reset_index(drop=True)


def _counts_per_minute(grid: _Grid, ts: pd.Series) -> Arr:
    idx = (pd.DatetimeIndex(ts).as_unit("ns").asi8 - grid.start.value) // _MIN_NS
    idx = idx[(idx >= 0) & (idx < grid.n)]
    return np.bincount(idx, minlength=grid.n).astype(float)


# ---------------------------------------------------------------- metrics


@dataclass(frozen=True)
class _Baseline:
    """Normal behaviour of one metric: ``base + load_coef * load`` plus noise."""

    base: float
    load_coef: float = 0.0
    noise: float = 0.05  # relative spread (mul) or absolute (add)
    mul: bool = True
    lo: float = 0.0
    hi: float | None = None
    digits: int = 3
    blips: bool = True


_BASELINES: dict[tuple[str, str], _Baseline] = {
    ("gateway", "latency_p95_ms"): _Baseline(95.0, 35.0, 0.05),
    ("gateway", "error_rate"): _Baseline(0.25, 0.1, 0.15, hi=100),
    ("scoring_api", "latency_p95_ms"): _Baseline(70.0, 30.0, 0.05),
    ("scoring_api", "error_rate"): _Baseline(0.2, 0.1, 0.15, hi=100),
    ("scoring_api", "cpu_util"): _Baseline(30.0, 15.0, 2.0, mul=False, hi=100),
    ("scoring_api", "memory_util"): _Baseline(58.0, 0.0, 1.2, mul=False, hi=100),
    ("fraud_model", "inference_ms"): _Baseline(6.0, 2.0, 0.06),
    ("feature_store", "latency_p95_ms"): _Baseline(10.0, 4.0, 0.06),
    ("feature_store", "error_rate"): _Baseline(0.1, 0.05, 0.15, hi=100),
    ("feature_db", "cpu_util"): _Baseline(30.0, 10.0, 2.0, mul=False, hi=100),
    ("feature_db", "connections"): _Baseline(40.0, 20.0, 3.0, mul=False, digits=0),
    ("geo_api", "latency_p95_ms"): _Baseline(35.0, 10.0, 0.06),
    ("geo_api", "timeout_rate"): _Baseline(0.15, 0.05, 0.15, hi=100),
    ("geo_api", "error_rate"): _Baseline(0.25, 0.05, 0.15, hi=100),
    ("txn_ingest", "null_rate"): _Baseline(0.5, 0.0, 0.15, hi=100),
    ("txn_ingest", "freshness_s"): _Baseline(90.0, 0.0, 8.0, mul=False, lo=30),
    ("merchant_ingest", "null_rate"): _Baseline(0.5, 0.0, 0.15, hi=100),
    ("merchant_ingest", "freshness_s"): _Baseline(100.0, 0.0, 8.0, mul=False, lo=30),
    ("profile_ingest", "row_count"): _Baseline(0.0, 60.0, 0.0, digits=0, blips=False),
    ("profile_ingest", "null_rate"): _Baseline(0.5, 0.0, 0.15, hi=100),
    ("profile_ingest", "freshness_s"): _Baseline(80.0, 0.0, 7.0, mul=False, lo=30),
    ("etl", "null_rate"): _Baseline(0.5, 0.0, 0.15, hi=100),
    ("etl", "freshness_s"): _Baseline(110.0, 0.0, 8.0, mul=False, lo=30),
    ("reporting_batch", "cpu_util"): _Baseline(20.0, 0.0, 2.0, mul=False, hi=100),
    ("reporting_batch", "memory_util"): _Baseline(35.0, 0.0, 1.5, mul=False, hi=100),
}
# Fallback for metrics a changed config may add.
_BY_KIND: dict[MetricKind, _Baseline] = {
    MetricKind.LATENCY: _Baseline(50.0, 15.0, 0.05),
    MetricKind.ERROR_RATE: _Baseline(0.3, 0.0, 0.15, hi=100),
    MetricKind.TIMEOUT_RATE: _Baseline(0.2, 0.0, 0.15, hi=100),
    MetricKind.NULL_RATE: _Baseline(0.5, 0.0, 0.15, hi=100),
    MetricKind.CPU: _Baseline(30.0, 10.0, 2.0, mul=False, hi=100),
    MetricKind.MEMORY: _Baseline(50.0, 0.0, 1.5, mul=False, hi=100),
    MetricKind.FRESHNESS: _Baseline(90.0, 0.0, 8.0, mul=False, lo=30),
    MetricKind.THROUGHPUT: _Baseline(0.0, 30.0, 0.0, digits=0, blips=False),
    MetricKind.ROW_COUNT: _Baseline(0.0, 30.0, 0.0, digits=0, blips=False),
    MetricKind.OTHER: _Baseline(10.0, 0.0, 0.05),
}
# Metrics counted from the simulated rows instead of drawn.
_COUNTED = {
    ("gateway", "requests_per_min"): "predictions",
    ("txn_ingest", "row_count"): "raw_transactions",
    ("merchant_ingest", "row_count"): "raw_merchants",
    ("etl", "row_count"): "feature_store",
}


def _background_metrics(grid: _Grid, seed: int) -> tuple[list[tuple[str, str]], Arr, Arr]:
    """Draw every configured metric's normal series; return keys, values and noise-free curves."""
    metrics, _, _ = _config_facts()
    rng = _rng(seed, _S_METRICS, grid.end)
    prof = _rng(seed, _S_PROFILES, grid.end)
    keys = [(c, m) for c, m, _ in metrics]
    values = np.zeros((len(keys), grid.n))
    smooth = np.zeros((len(keys), grid.n))
    noise = _heavy(rng, (len(keys), grid.n))
    n_blips = rng.poisson(grid.n / 600.0, len(keys))
    for i, (comp, name, kind) in enumerate(metrics):
        spec = _BASELINES.get((comp, name), _BY_KIND[kind])
        curve = spec.base + spec.load_coef * grid.load
        if spec.noise == 0.0:  # counts: Poisson around the curve
            v = prof.poisson(np.maximum(curve, 0)).astype(float)
        elif spec.mul:
            v = curve * np.exp(spec.noise * noise[i])
        else:
            v = curve + spec.noise * noise[i]
        if spec.blips and n_blips[i]:
            # short benign blips of 1-3 minutes: too short to look like a sustained shift
            starts = rng.integers(0, grid.n, n_blips[i])
            lengths = rng.integers(1, 4, n_blips[i])
            # a few noise widths, relative for ratio-like series and absolute for levels
            sizes = rng.uniform(2.5, 5.0, n_blips[i]) * spec.noise
            bump = np.zeros(grid.n + 4)
            np.add.at(bump, starts, sizes)
            np.add.at(bump, starts + lengths, -sizes)
            step = np.cumsum(bump)[: grid.n]
            v = v * (1 + step) if spec.mul else v + step
        values[i], smooth[i] = v, curve
    return keys, values, smooth


def _weight(grid: _Grid, start: datetime, ramp: timedelta, until: datetime | None = None) -> Arr:
    """Return 0 before ``start``, rising linearly to 1 over ``ramp``, and 0 again from ``until`` (the fix)."""
    i0 = grid.index_of(start)
    steps = max(ramp / timedelta(minutes=1), 1.0)
    w = np.clip((np.arange(grid.n) - i0 + 1) / steps, 0.0, 1.0)
    if until is not None:
        w[max(grid.index_of(until), 0) :] = 0.0
    return w


def _apply_effects(
    grid: _Grid,
    scenario: Scenario,
    onset: datetime,
    keys: list[tuple[str, str]],
    values: Arr,
    smooth: Arr,
    rng: np.random.Generator,
    until: datetime | None = None,
) -> None:
    """Apply the scenario's metric effects in place (until the fault is fixed at ``until``)."""
    index = {k: i for i, k in enumerate(keys)}
    for fx in scenario.effects:
        i = index.get((fx.component, fx.metric))
        if i is None:
            continue
        w = _weight(grid, onset + fx.lag, fx.ramp, until)
        if fx.op == "mul":
            values[i] *= 1 + w * (fx.value - 1)
        elif fx.op == "add":
            values[i] += w * fx.value
        else:  # level: move the curve to the target and keep proportionate noise
            jitter = fx.value * 0.04 * rng.standard_normal(grid.n)
            values[i] += w * (fx.value - smooth[i] + jitter)


def _finish_metrics(grid: _Grid, keys: list[tuple[str, str]], values: Arr, counted: Mapping[str, Arr]) -> pd.DataFrame:
    """Fill counted metrics, clip and round every series, and return the long frame."""
    metrics, _, _ = _config_facts()
    for i, (comp, name, kind) in enumerate(metrics):
        source = _COUNTED.get((comp, name))
        if source is not None:
            values[i] = counted[source]
        spec = _BASELINES.get((comp, name), _BY_KIND[kind])
        values[i] = np.round(np.clip(values[i], spec.lo, spec.hi), spec.digits)
    m = len(keys)
    return pd.DataFrame(
        {
            "timestamp": grid.minutes.repeat(m),
            "component": np.tile(np.array([k[0] for k in keys], dtype=object), grid.n),
            "metric": np.tile(np.array([k[1] for k in keys], dtype=object), grid.n),
            "value": values.T.ravel(),
        }
    )


# ---------------------------------------------------------------- changes

# Benign background changes: (hours before end, component, kind, description).
_BENIGN_CHANGES = (
    (30.0, "alerts_dashboard", "deploy", "alerts-dashboard v3.7 (chart refresh)"),
    (26.0, "etl", "deploy", "etl v1.8.3 (retry tuning)"),
    (20.0, "feature_store", "config", "raise cache TTL 300s → 600s"),
    (14.0, "gateway", "infra", "node pool upgrade to k8s 1.31"),
    (2.5, "reporting_batch", "config", "nightly export writes parquet instead of csv"),
)


def _changes(grid: _Grid, seed: int, faults: list[tuple[Scenario, datetime]]) -> pd.DataFrame:
    """Return the benign background changes plus each injected fault's own change events."""
    rng = _rng(seed, _S_CHANGES, grid.end)
    jitter = rng.uniform(-20, 20, len(_BENIGN_CHANGES))
    rows = [
        (grid.end - pd.Timedelta(hours=h) + pd.Timedelta(minutes=float(j)), c, k, d)
        for (h, c, k, d), j in zip(_BENIGN_CHANGES, jitter, strict=True)
    ]
    for scenario, onset in faults:
        rows += [(pd.Timestamp(onset + ch.offset), ch.component, ch.kind, ch.description) for ch in scenario.changes]
    frame = pd.DataFrame(rows, columns=["timestamp", "component", "kind", "description"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True).astype("datetime64[ns, UTC]")
    frame = frame[(frame["timestamp"] >= grid.start) & (frame["timestamp"] < grid.end)]
    return frame.sort_values("timestamp", kind="stable").reset_index(drop=True)


# ---------------------------------------------------------------- the world


@dataclass(frozen=True)
class SimulatedWorld:
    """One simulated run: the monitoring data, its ground truth and the scenario behind it.

    Cached and shared between callers: treat every frame as read-only.
    """

    scenario: Scenario
    truth: Truth
    data: MonitoringData


def simulate(
    scenario: str,
    seed: int = 7,
    end: datetime = DEMO_END,
    history: timedelta = timedelta(days=2),
) -> SimulatedWorld:
    """Simulate the demo system over ``[end - history, end)`` with one scenario injected.

    Args:
        scenario: a name from :data:`SCENARIOS`.
        seed: random seed; the same seed gives identical frames, and every scenario shares the
            background of ``no_fault``.
        end: end of the data (timezone-aware); detection is meant to run at this time.
        history: how much data before ``end`` to produce.

    Returns:
        The cached world for these arguments; its frames must not be mutated.

    Raises:
        ConfigError: for an unknown scenario name or an unusable ``end``/``history``.
    """
    if scenario not in SCENARIOS:
        msg = f"unknown demo scenario {scenario!r}; expected one of: {', '.join(SCENARIOS)}"
        raise ConfigError(msg, [msg])
    return _simulate(scenario, int(seed), _checked_end(end, history), history)


def _inject_rows(
    grid: _Grid,
    scenario: Scenario,
    onset: datetime,
    rows: _Rows,
    merchants: pd.DataFrame,
    rng: np.random.Generator,
    until: datetime | None = None,
) -> tuple[Arr, _Flood | None]:
    """Apply the scenario's row-level injection in place; return per-row logit shifts and any flood.

    Rows from ``until`` on (the fault fixed) are left as they were.
    """
    p = scenario.params
    onset_ns = pd.Timestamp(onset).value
    until_ns = np.iinfo(np.int64).max if until is None else pd.Timestamp(until).value
    after = (rows.ts_ns >= onset_ns) & (rows.ts_ns < until_ns)
    shift = np.zeros(len(rows.ts_ns))
    flood: _Flood | None = None
    if scenario.name == "schema_change_nulls":
        fed = merchants["timestamp"].dt.as_unit("ns").astype("int64").to_numpy()
        v3 = (fed >= onset_ns) & (fed < until_ns) & (rng.random(len(merchants)) < p["v3_share"])
        merchants["risk_rating"] = np.where(v3, merchants["risk_score"], np.nan)
        merchants.loc[v3, "risk_score"] = np.nan
        lag = int(p["feature_lag_min"] * _MIN_NS)
        lagged = (rows.ts_ns >= onset_ns + lag) & (rows.ts_ns < until_ns + lag)
        hit = lagged & (rng.random(len(rows.ts_ns)) < p["null_share"])
        rows.features["merchant_risk"] = np.where(hit, np.nan, rows.features["merchant_risk"])
    elif scenario.name == "drifting_source":
        # decided by when the row landed in the source; the feature store sees it ~1 min later
        landed = (rows.raw_ns >= onset_ns) & (rows.raw_ns < until_ns)
        cents = landed & (rng.random(len(rows.ts_ns)) < p["cents_share"])
        rows.features["amount"] = np.where(cents, rows.features["amount"] * p["factor"], rows.features["amount"])
    elif scenario.name == "canary_slice_regression":
        # a canary takes a share of traffic; it over-flags one country only (index 0: DE)
        canary = after & (rng.random(len(rows.ts_ns)) < p["canary_share"])
        rows.version = np.where(canary, "v6-canary", _VERSION).astype(object)
        shift = np.where(canary & (rows.country == 0), p["logit_shift"], 0.0)
    elif scenario.name == "retrain_bias":
        shift = np.where(after & rows.group_b, p["group_b_logit_shift"], 0.0)
    elif scenario.name == "arm_hurts_group":
        # the experiment's treatment arm over-flags group B; control, and group A in treatment, are untouched
        shift = np.where(after & rows.treatment & rows.group_b, p["logit_shift"], 0.0)
    elif scenario.name == "attribution_shift":
        # the served model leans on merchant_risk and less on the rest: attributions move, accuracy barely
        for name in _FEATURES:
            factor = p["merchant_risk_weight"] if name == "merchant_risk" else p["other_weight"]
            rows.weight[name] = np.where(after, factor, rows.weight.get(name, 1.0))
    elif scenario.name == "poisoned_retrain":
        # v6, retrained on the poisoned batch, learned that young accounts are fraud (see _poison)
        rows.version = np.where(after, _RETRAINED, _VERSION if rows.version is None else rows.version).astype(object)
        rows.weight["account_age_days"] = np.where(
            after, p["account_age_weight"], rows.weight.get("account_age_days", 1.0)
        )
    elif scenario.name == "query_flood":
        flood = _flood(grid, rng, onset, p["requests_per_min"], until)
    elif scenario.name == "dependency_timeout":
        timed_out = after & (rng.random(len(rows.ts_ns)) < p["timeout_share"])
        rows.features["geo_distance_km"] = np.where(timed_out, np.nan, rows.features["geo_distance_km"])
    return shift, flood


def _checked_end(end: datetime, history: timedelta) -> datetime:
    """Return ``end`` in UTC after checking it and ``history`` (at least 2 hours)."""
    try:
        end_utc = utc(end)
    except ValueError as exc:
        raise ConfigError(f"demo end: {exc}") from exc
    if history < timedelta(hours=2):
        raise ConfigError(f"demo history must be at least 2h, got {history}")
    return end_utc


def simulate_scenario(
    scenario: Scenario, seed: int = 7, end: datetime = DEMO_END, history: timedelta = timedelta(days=2)
) -> SimulatedWorld:
    """Simulate a world with any :class:`Scenario` injected, including one built on the fly (not cached).

    A soak run composes single-fault scenarios of :data:`SCENARIOS` as ``parts`` at onsets of its
    choosing over days of data; :func:`simulate` is the cached special case for the named ones.

    Raises:
        ConfigError: for a part naming an unknown scenario or an unusable ``end``/``history``.
    """
    unknown = [p.scenario for p in scenario.parts if p.scenario not in SCENARIOS]
    if unknown:
        msg = f"scenario {scenario.name!r}: unknown part {unknown[0]!r}; expected one of: {', '.join(SCENARIOS)}"
        raise ConfigError(msg, [msg])
    return _build(scenario, int(seed), _checked_end(end, history), history)


@lru_cache(maxsize=32)
def _simulate(name: str, seed: int, end: datetime, history: timedelta) -> SimulatedWorld:
    """Build one named world (cached; arguments already validated)."""
    return _build(SCENARIOS[name], seed, end, history)


def _build(scenario: Scenario, seed: int, end: datetime, history: timedelta) -> SimulatedWorld:
    """Build one world (arguments already validated)."""
    name = scenario.name
    grid = _grid(end, history)
    faults = scenario.faults(end)
    _, _, features_order = _config_facts()
    rows = _background_rows(grid, seed)
    merchants = _merchants(grid, seed)
    keys, values, smooth = _background_metrics(grid, seed)
    logit_shift: Arr = np.zeros(len(rows.ts_ns))
    flood: _Flood | None = None
    poisoned: list[tuple[Scenario, datetime, np.random.Generator]] = []
    for (fault, onset), until in zip(faults, scenario.fault_ends(end), strict=True):
        # each fault draws from its own stream: a single-fault scenario's under its name, so the
        # fault of a multi-fault scenario is the same injection moved to its own onset
        inj = _rng(seed, fault.name if fault is scenario else f"{name}/{fault.name}", grid.end)
        shift, fault_flood = _inject_rows(grid, fault, onset, rows, merchants, inj, until)
        logit_shift = logit_shift + shift
        flood = fault_flood or flood
        _apply_effects(grid, fault, onset, keys, values, smooth, inj, until)
        if fault.training_batch_lag is not None:
            poisoned.append((fault, onset, inj))

    predictions, store = _prediction_frame(grid, rows, flood, logit_shift, features_order, seed)
    raw = _raw_transactions(grid, rows)
    training = _training_set(grid, rows, seed)
    for fault, onset, inj in poisoned:
        training = _poison(training, fault, onset, inj)
    counted = {
        "predictions": _counts_per_minute(grid, predictions["timestamp"]),
        "raw_transactions": _counts_per_minute(grid, raw["timestamp"]),
        "raw_merchants": _counts_per_minute(grid, merchants["timestamp"]),
        "feature_store": _counts_per_minute(grid, store["timestamp"]),
    }
    metrics = _finish_metrics(grid, keys, values, counted)
    data = MonitoringData(
        start=grid.start.to_pydatetime(),
        end=end,
        metrics=metrics,
        predictions=predictions,
        batches=MappingProxyType(
            {
                "raw_transactions": raw,
                "raw_merchants": merchants,
                "feature_store": store,
                "training_set": training,
            }
        ),
        changes=_changes(grid, seed, faults),
    )
    return SimulatedWorld(scenario=scenario, truth=scenario.truth(end), data=data)


# -- remediation (``rcaflows demo --remediate``) --------------------------------------------------

#: What ends each fault in the simulated world: a demo runbook action aimed at the fault's root-cause
#: component. A fault absent here (a drifting source, a saturated database) is not ended by any demo
#: action: pausing the ingest does not make the source's data right again.
REMEDIES: dict[str, str] = {
    "deploy_latency": "rollback",
    "canary_slice_regression": "rollback",
    "retrain_bias": "rollback",
    "schema_change_nulls": "restore_schema",
    "query_flood": "block_client",
    "dependency_timeout": "fallback_model",
    "attribution_shift": "rollback",  # the unversioned weight push is undone by rolling the model back
    "arm_hurts_group": "stop_arm",
    # the retrained model is rolled back to the version before the batch, and the batch quarantined
    "poisoned_retrain": "quarantine_batch",
}


def remedied_faults(scenario: str, action: str, target: str) -> list[str]:
    """Return the faults of ``scenario`` that ``action`` on ``target`` ends (empty: it changes nothing)."""
    parts = [p.scenario for p in SCENARIOS[scenario].parts] or [scenario]
    return [name for name in parts if REMEDIES.get(name) == action and SCENARIOS[name].root_cause_component == target]


def simulate_remediated(
    scenario: str,
    fixes: tuple[tuple[str, datetime], ...],
    seed: int = 7,
    end: datetime = DEMO_END,
    history: timedelta = timedelta(days=2),
    anchor: datetime = DEMO_END,
) -> SimulatedWorld:
    """Simulate ``scenario`` with its faults' onsets anchored at ``anchor``, each in ``fixes`` ended at its time.

    The named worlds move with their end (onset = end - onset_before_end); a remediated world keeps
    the onsets of the world that ran at ``anchor``, so detection after it (``end`` > ``anchor``)
    sees the fault go on, or stop where an action ended it.

    Raises:
        ConfigError: For an unknown scenario or an unusable ``end``/``history``.
    """
    if scenario not in SCENARIOS:
        msg = f"unknown demo scenario {scenario!r}; expected one of: {', '.join(SCENARIOS)}"
        raise ConfigError(msg, [msg])
    return _remediated(scenario, tuple(sorted(fixes)), int(seed), _checked_end(end, history), history, utc(anchor))


@lru_cache(maxsize=32)
def _remediated(
    name: str, fixes: tuple[tuple[str, datetime], ...], seed: int, end: datetime, history: timedelta, anchor: datetime
) -> SimulatedWorld:
    base = SCENARIOS[name]
    fixed_at = dict(fixes)
    parts = []
    for fault, onset in base.faults(anchor):
        until = fixed_at.get(fault.name)
        parts.append(
            Part(scenario=fault.name, onset_before_end=end - onset, duration=None if until is None else until - onset)
        )
    if not parts:
        return _simulate(name, seed, end, history)
    composed = base.model_copy(update={"parts": tuple(parts), "name": f"{name}+remediated"})
    return _build(composed, seed, end, history)
