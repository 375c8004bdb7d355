"""Read a model's training batches through their declaration (``model.training`` in the system config).

Batches come from a glob of CSV or Parquet files (``training.path``: one batch per file, or per
value of ``batch_column``) or from the rows the sources deliver for the training lineage node
(``window.batches[node]``, split by ``batch_column``). Each :class:`TrainingBatch` knows when it
landed (the latest ``time_column`` value, else its file's modification time), so the detection
run judges the batches that landed in its window against the ones before, and the lineage RCA
phase finds the batch a served model version was trained on (:func:`version_batches`).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from rcaflows.config.models import ModelConfig, TrainingConfig
from rcaflows.errors import DataError

__all__ = ["TrainingBatch", "batch_features", "batch_label", "load_training_batches", "version_batches"]

_SUFFIXES = (".csv", ".parquet")


@dataclass(frozen=True)
class TrainingBatch:
    """One training batch: its id, rows, when it landed and where it was read from."""

    id: str
    rows: pd.DataFrame
    landed_at: pd.Timestamp
    where: str


def batch_label(model: ModelConfig) -> str:
    """Return the label column of the training rows (``training.label``, else the log's label)."""
    assert model.training is not None
    return model.training.label or model.log.label


def batch_features(model: ModelConfig) -> list[str]:
    """Return the feature columns compared for near-identical inputs (``training.features``, else the model's)."""
    assert model.training is not None
    return list(model.training.features) or list(model.features)


def _read(path: Path) -> pd.DataFrame:
    """Read one CSV or Parquet batch file; a file that cannot be read raises :class:`DataError` naming it."""
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError, ImportError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"{path}: cannot read training batch: {first}") from None


def _times(df: pd.DataFrame, col: str, where: str) -> pd.Series | None:
    """Return ``df[col]`` as UTC timestamps, or None when the column is absent."""
    if col not in df.columns:
        return None
    raw = df[col]
    if isinstance(raw.dtype, pd.DatetimeTZDtype):
        return raw.dt.tz_convert("UTC")
    try:
        ts = pd.to_datetime(raw, utc=True, format="ISO8601")
    except (ValueError, TypeError) as exc:
        raise DataError(f"{where}: field '{col}' is not an ISO timestamp: {exc}") from None
    return ts


def _split(
    df: pd.DataFrame, training: TrainingConfig, where: str, fallback_id: str, mtime: pd.Timestamp | None
) -> Iterator[TrainingBatch]:
    """Yield the batches of one frame (by ``batch_column``, else the whole frame as ``fallback_id``)."""
    ts = _times(df, training.time_column, where)
    if ts is not None:
        df = df.assign(**{training.time_column: ts})
    if training.batch_column is not None:
        if training.batch_column not in df.columns:
            raise DataError(
                f"{where}: training.batch_column '{training.batch_column}' is missing "
                f"(columns: {', '.join(map(str, df.columns))})"
            )
        ids = df[training.batch_column]
        if ids.isna().any():
            row = int(ids.isna().to_numpy().nonzero()[0][0])
            raise DataError(f"{where}: field '{training.batch_column}' is empty at row {row + 1}")
        groups = [(str(k), g) for k, g in df.groupby(ids.astype(str), sort=False)]
    else:
        groups = [(fallback_id, df)]
    for bid, rows in groups:
        if ts is not None and rows[training.time_column].notna().any():
            landed = pd.Timestamp(rows[training.time_column].max())
        elif mtime is not None:
            landed = mtime
        else:
            raise DataError(f"{where}: batch {bid!r} has no '{training.time_column}' value to date it by")
        yield TrainingBatch(id=bid, rows=rows.reset_index(drop=True), landed_at=landed, where=where)


def load_training_batches(model: ModelConfig, batches: Mapping[str, pd.DataFrame] | None = None) -> list[TrainingBatch]:
    """Return the model's training batches in landing order (then by id).

    Args:
        model: the model, with a ``training`` declaration.
        batches: the loaded data's batches per lineage node; read when ``training.path`` is unset.

    Raises:
        DataError: a file that cannot be read, a batch id column that is missing or empty, or a
            batch id that occurs in two files, named with the file and field.
    """
    training = model.training
    if training is None:
        return []
    out: list[TrainingBatch] = []
    if training.path is not None:
        files = sorted(p for p in glob.glob(training.path, recursive=True) if Path(p).suffix in _SUFFIXES)
        for name in files:
            path = Path(name)
            mtime = pd.Timestamp(datetime.fromtimestamp(os.stat(path).st_mtime, tz=UTC))
            out.extend(_split(_read(path), training, str(path), path.stem, mtime))
    else:
        rows = (batches or {}).get(training.node)
        if rows is not None and not rows.empty:
            out.extend(_split(rows, training, f"batches of lineage node {training.node}", training.node, None))
    seen: dict[str, str] = {}
    for b in out:
        if b.id in seen:
            raise DataError(f"{b.where}: training batch {b.id!r} is also in {seen[b.id]}; batch ids must be unique")
        seen[b.id] = b.where
    out.sort(key=lambda b: (b.landed_at, b.id))
    return out


def version_batches(model: ModelConfig, batches: list[TrainingBatch]) -> dict[str, list[str]]:
    """Return model version -> ids of the batches it was trained on (``versions`` plus ``version_column``)."""
    training = model.training
    if training is None:
        return {}
    out: dict[str, list[str]] = {v: list(ids) for v, ids in training.versions.items()}
    col = training.version_column
    if col is not None:
        for b in batches:
            if col not in b.rows.columns:
                continue
            for v in pd.unique(b.rows[col].dropna().astype(str)):
                ids = out.setdefault(str(v), [])
                if b.id not in ids:
                    ids.append(b.id)
    return out
