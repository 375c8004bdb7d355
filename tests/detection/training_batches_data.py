"""The poisoned-training example's generator and config, pointed at a test directory.

The batches, the scoring log and the deploy are written by ``examples/poisoned_training/generate.py``
(one implementation for the example and the tests); this module re-exports its builders and
returns the example's config with its paths and store moved under the test's directory.
"""

from __future__ import annotations

from pathlib import Path

from tests.examples import EXAMPLES, example_generator

from rcaflows.config import load_config
from rcaflows.config.models import SourceConfig, StoreConfig, SystemConfig

EXAMPLE = EXAMPLES / "poisoned_training"


_gen = example_generator("poisoned_training")
FEATURES: list[str] = _gen.FEATURES
START = _gen.START
POISONED: str = _gen.POISONED
DEPLOY = _gen.DEPLOY
clean_batch = _gen.clean_batch
flipped_copies = _gen.flipped_copies
near_conflicts = _gen.near_conflicts
poisoned_batch = _gen.poisoned_batch
training_frames = _gen.training_frames
write_batches = _gen.write_batches


def write_system(root: Path, seed: int = 0) -> SystemConfig:
    """Write the example's data under ``root`` and return its config reading from there (store in ``root``)."""
    _gen.write(root / "data", seed)
    cfg = load_config(EXAMPLE / "system.yaml")
    model = cfg.models[0]
    assert model is not None and model.training is not None
    training = model.training.model_copy(update={"path": f"{(root / 'data' / 'training').as_posix()}/*.csv"})
    return cfg.model_copy(
        update={
            "sources": [SourceConfig(name="scoring_log", kind="files", options={"directory": str(root / "data")})],
            "store": StoreConfig(url=f"sqlite:///{root / 'incidents.db'}"),
            "models": [model.model_copy(update={"training": training})],
        }
    )
