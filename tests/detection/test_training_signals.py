"""Label-noise and poisoning signals on training batches: each one fires on its fault and stays quiet on clean data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from training_batches_data import FEATURES, clean_batch, flipped_copies, near_conflicts

from rcaflows.config.models import TrainingSignals
from rcaflows.detection.poisoning import (
    CONFLICTING_LABELS,
    FLIPPED_DUPLICATES,
    SOURCE_BURST,
    Signal,
    batch_signals,
    rise_p_value,
)


def _history(n: int = 4) -> list[pd.DataFrame]:
    return [clean_batch(k, start_id=k * 10_000) for k in range(n)]


def _judge(frames: list[pd.DataFrame], settings: TrainingSignals | None = None, **kw: object) -> dict[str, Signal]:
    """Return the signals of the last batch, by name."""
    ids = [f"b{k}" for k in range(len(frames))]
    args: dict[str, object] = {
        "features": FEATURES,
        "label": "label",
        "regression": False,
        "settings": settings or TrainingSignals(),
        "source_column": "source",
        "id_column": "row_id",
    }
    args.update(kw)
    out = batch_signals(frames, ids, [ids[-1]], **args)  # type: ignore[arg-type]
    return {s.name: s for s in out[ids[-1]]}


def test_clean_batches_raise_no_signal() -> None:
    frames = _history(6)
    ids = [f"b{k}" for k in range(6)]
    out = batch_signals(
        frames,
        ids,
        ids,
        features=FEATURES,
        label="label",
        regression=False,
        settings=TrainingSignals(),
        source_column="source",
        id_column="row_id",
    )
    assert not [s.message for sigs in out.values() for s in sigs if s.failed]
    # the clean batches hold re-sent duplicates (same input, same label): not flipped ones
    assert all(s.count == 0 for sigs in out.values() for s in sigs if s.name == FLIPPED_DUPLICATES)
    # the first batch has nothing to be sudden against
    assert {s.skipped for s in out["b0"]} == {"no earlier batch"}


def test_conflicting_labels_on_near_identical_inputs() -> None:
    frames = _history()
    batch = clean_batch(4, start_id=40_000)
    noisy = near_conflicts(batch, 150, seed=5)  # the amount moved by a cent, the other label
    sig = _judge([*frames, pd.concat([batch, noisy], ignore_index=True)])
    conflict = sig[CONFLICTING_LABELS]
    assert conflict.failed, conflict.message
    assert conflict.count >= 2 * 140  # each planted row and the row it copies
    assert conflict.p_value is not None and conflict.p_value < 1e-10
    assert conflict.baseline is not None and conflict.baseline < 0.01
    assert set(conflict.examples) & set(noisy["row_id"]) or set(conflict.examples) & set(batch["row_id"])
    # near, not exact: no flipped duplicate
    assert not sig[FLIPPED_DUPLICATES].failed and sig[FLIPPED_DUPLICATES].count == 0
    # control: the same batch without the planted rows
    assert not _judge([*frames, batch])[CONFLICTING_LABELS].failed


def test_conflicts_use_the_hash_column_when_declared() -> None:
    frames = _history()
    batch = clean_batch(4, start_id=40_000)
    for f in [*frames, batch]:
        f["input_hash"] = f["row_id"]  # every row its own input: no conflict possible
    noisy = near_conflicts(batch, 150, seed=5)
    noisy["input_hash"] = "same-user"  # one hashed input, two labels
    settings = TrainingSignals(hash_column="input_hash")
    sig = _judge([*frames, pd.concat([batch, noisy], ignore_index=True)], settings)
    assert sig[CONFLICTING_LABELS].failed and sig[CONFLICTING_LABELS].count == 150
    assert not _judge([*frames, batch], settings)[CONFLICTING_LABELS].failed


def test_regression_labels_conflict_beyond_the_label_tolerance() -> None:
    rng = np.random.default_rng(3)

    def batch(k: int, jitter: float) -> pd.DataFrame:
        x = rng.normal(size=(1000, 2))
        y = x[:, 0] * 10 + rng.normal(0, 0.1, 1000)
        df = pd.DataFrame(
            {"a": x[:, 0], "b": x[:, 1], "y": y, "source": "s", "row_id": [f"{k}-{i}" for i in range(1000)]}
        )
        copies = df.iloc[:200].assign(y=df["y"].iloc[:200] + jitter, row_id=[f"{k}-c{i}" for i in range(200)])
        return pd.concat([df, copies], ignore_index=True)

    history = [batch(k, 0.05) for k in range(3)]  # repeated measurements within the tolerance
    settings = TrainingSignals(label_tolerance=0.5, tolerance=0.0)
    kw = {"features": ["a", "b"], "label": "y", "regression": True}
    assert not _judge([*history, batch(3, 0.05)], settings, **kw)[FLIPPED_DUPLICATES].failed
    bad = _judge([*history, batch(3, 5.0)], settings, **kw)  # the same inputs, labels 5 apart
    assert bad[FLIPPED_DUPLICATES].failed and bad[FLIPPED_DUPLICATES].count == 400
    assert bad[CONFLICTING_LABELS].failed


def test_flipped_duplicates_of_earlier_records() -> None:
    frames = _history()
    earlier = pd.concat(frames, ignore_index=True)
    batch = clean_batch(4, start_id=40_000)
    bad = flipped_copies(earlier, 120, seed=9, source="web")  # a source the batches always had
    bad["row_id"] = [f"p{i}" for i in range(len(bad))]
    sig = _judge([*frames, pd.concat([batch, bad], ignore_index=True)])
    flips = sig[FLIPPED_DUPLICATES]
    assert flips.failed, flips.message
    assert flips.count == 120
    assert flips.examples and all(e.startswith("p") for e in flips.examples)
    assert "120 of" in flips.message and "p0" in flips.message
    assert not sig[SOURCE_BURST].failed  # web sent its usual share
    # control: as many exact duplicates of earlier records, labels kept
    same = bad.assign(label=1 - bad["label"])
    assert not _judge([*frames, pd.concat([batch, same], ignore_index=True)])[FLIPPED_DUPLICATES].failed


def test_source_burst_against_earlier_batches() -> None:
    frames = _history()
    batch = clean_batch(4, start_id=40_000)
    extra = clean_batch(9, n=900, start_id=90_000).assign(source="partner")  # new records, a normal labelling
    burst = pd.concat([batch, extra], ignore_index=True)
    sig = _judge([*frames, burst])[SOURCE_BURST]
    assert sig.failed, sig.message
    assert sig.details["source"] == "partner"
    assert sig.baseline is not None and 0.07 < sig.baseline < 0.13 and sig.share > 0.3
    assert sig.p_value is not None and sig.p_value < 1e-10
    assert all(e in set(burst.loc[burst["source"] == "partner", "row_id"]) for e in sig.examples)
    # controls: the usual mix, and a significant but small rise (under min_source_increase)
    assert not _judge([*frames, batch])[SOURCE_BURST].failed
    small = pd.concat([batch, clean_batch(8, n=150, start_id=80_000).assign(source="partner")], ignore_index=True)
    quiet = _judge([*frames, small], TrainingSignals(min_source_ratio=1.1))[SOURCE_BURST]
    assert not quiet.failed and quiet.details["source"] == "partner" and quiet.details["rise"] < 0.1


def test_too_small_a_batch_is_not_judged() -> None:
    frames = _history()
    tiny = clean_batch(4, n=30, start_id=40_000)
    sig = _judge([*frames, tiny])
    assert {s.skipped for s in sig.values()} == {"too few rows"}
    assert not any(s.failed for s in sig.values())


@pytest.mark.parametrize(
    ("k_ref", "n_ref", "k_cur", "n_cur", "low"), [(10, 1000, 40, 1000, True), (40, 1000, 10, 1000, False)]
)
def test_rise_p_value_is_one_sided(k_ref: int, n_ref: int, k_cur: int, n_cur: int, low: bool) -> None:
    p = rise_p_value(k_ref, n_ref, k_cur, n_cur)
    assert (p < 1e-4) is low and (p > 0.99) is not low
