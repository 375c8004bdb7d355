"""Slice search finds an injected slice among noise slices and nothing else at the configured FDR."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rcaflows.model.slices import bh_adjust, search


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "region": rng.choice(["eu", "us", "apac"], n),
            "device": rng.choice(["ios", "android", "web"], n),
            "tier": rng.choice(["gold", "silver"], n),
            "version": rng.choice(["v5", "v6-canary"], n, p=[0.7, 0.3]),
            "const": "x",
        }
    )


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_finds_the_injected_slice_and_no_noise_slice(seed: int) -> None:
    df = _frame(40_000, seed)
    rng = np.random.default_rng(100 + seed)
    bad = (df["version"] == "v6-canary") & (df["region"] == "eu")
    err = rng.random(len(df)) < np.where(bad, 0.25, 0.08)
    res = search(df, err.astype(float), ["region", "device", "tier", "version", "const", "absent"], fdr=0.01)
    assert [s.label for s in res.found] == ["region=eu,version=v6-canary"]
    assert res.skipped_columns == {"const": "one value (x)", "absent": "missing from the prediction log"}
    # region x device x tier x version: 3+3+2+2 one-way, 9+6+6+6+6+4 two-way, 18+18+12+12 three-way
    assert res.tried == 10 + 37 + 60


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4, 5, 6, 7])
def test_pure_noise_gives_no_slice(seed: int) -> None:
    df = _frame(40_000, seed)
    err = np.random.default_rng(200 + seed).random(len(df)) < 0.08
    assert search(df, err.astype(float), ["region", "device", "tier", "version"], fdr=0.01).found == []


def test_a_one_column_slice_is_named_without_its_refinements() -> None:
    df = _frame(40_000, 9)
    err = np.random.default_rng(9).random(len(df)) < np.where(df["device"] == "web", 0.2, 0.08)
    res = search(df, err.astype(float), ["region", "device", "tier", "version"])
    assert [s.label for s in res.found] == ["device=web"]


def test_small_slices_are_counted_not_tested() -> None:
    df = _frame(600, 3)
    err = (df["region"] == "eu").to_numpy(float)
    res = search(df, err, ["region", "device", "tier"], min_rows=100)
    assert res.too_small > 0
    assert all(s.n >= 100 for s in res.found)
    assert [s.label for s in res.found] == ["region=eu"]


def test_regression_loss_with_relative_lift() -> None:
    df = _frame(20_000, 4)
    rng = np.random.default_rng(4)
    abs_err = np.abs(rng.normal(0, np.where(df["tier"] == "gold", 14.0, 10.0)))
    res = search(df, abs_err, ["region", "tier"], relative=True, min_lift=0.1)
    assert [s.label for s in res.found] == ["tier=gold"]


def test_bh_matches_the_step_up_definition() -> None:
    p = np.array([0.01, 0.04, 0.03, 0.5, 0.001])
    m = len(p)
    expected = [min(1.0, min(p[np.argsort(p)][k:] * m / np.arange(k + 1, m + 1))) for k in range(m)]
    assert np.allclose(np.sort(bh_adjust(p)), expected)
