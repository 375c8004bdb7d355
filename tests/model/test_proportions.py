"""The pooled two-proportion z-test shared by the quality detector, the poisoning signals and the RCA."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import chi2_contingency

from rcaflows.detection.detectors.quality import two_proportion_drop
from rcaflows.model.proportions import two_proportion_z


@pytest.mark.parametrize(("k_ref", "n_ref", "k_cur", "n_cur"), [(90, 100, 70, 100), (5, 400, 30, 250), (1, 31, 0, 30)])
def test_z_squared_is_the_uncorrected_chi_square_of_the_two_by_two_table(
    k_ref: int, n_ref: int, k_cur: int, n_cur: int
) -> None:
    z = two_proportion_z(float(k_ref), float(n_ref), float(k_cur), float(n_cur))
    table = [[k_ref, n_ref - k_ref], [k_cur, n_cur - k_cur]]
    chi2 = chi2_contingency(table, correction=False)[0]
    assert z**2 == pytest.approx(chi2, rel=1e-9)
    assert math.copysign(1, z) == math.copysign(1, k_cur / n_cur - k_ref / n_ref)


def test_equal_shares_of_zero_or_one_give_zero_not_nan() -> None:
    assert two_proportion_z(0.0, 50.0, 0.0, 80.0) == 0.0
    assert two_proportion_z(50.0, 50.0, 80.0, 80.0) == 0.0


def test_it_works_elementwise_on_arrays() -> None:
    k_ref, n_ref = np.array([90.0, 5.0, 0.0]), np.array([100.0, 400.0, 50.0])
    k_cur, n_cur = np.array([70.0, 30.0, 0.0]), np.array([100.0, 250.0, 80.0])
    z = two_proportion_z(k_ref, n_ref, k_cur, n_cur)
    expected = [two_proportion_z(*map(float, row)) for row in zip(k_ref, n_ref, k_cur, n_cur, strict=True)]
    assert z.tolist() == expected


def test_the_quality_detectors_drop_test_is_its_mirror() -> None:
    z, p = two_proportion_drop(90, 100, 70, 100)
    assert z == -two_proportion_z(90.0, 100.0, 70.0, 100.0) and z > 0
    assert p == pytest.approx(0.5 * math.erfc(z / math.sqrt(2)))
