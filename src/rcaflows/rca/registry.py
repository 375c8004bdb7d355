"""The RCA phase contract and the registry that finds phases by name.

A phase is any object with a ``name`` (a lowercase identifier, the key of its results in stored
JSON and of its settings in the config) and a ``run(ctx)`` method returning a
:class:`~rcaflows.rca.models.PhaseResult`; :func:`register_phase` adds one to :data:`PHASES`.
Adding a phase is one module against :class:`Phase` plus a registry entry (the built-in ones
are listed in :mod:`rcaflows.rca.phases`, in the order reports show them). One optional class
attribute completes the contract:

* ``settings_model``: a subclass of :class:`PhaseSettings` holding the phase's own settings, read
  from ``config.rca.phases[<name>]`` (see :func:`phase_settings`); without it the phase takes
  :class:`PhaseSettings` (``enabled`` and ``weight`` only).

Every phase may be switched off (``rca.phases.<name>.enabled: false``) and re-weighted in the
synthesis (``rca.phases.<name>.weight``, else ``phase_weights`` of ``rules.yaml``, else 1). A
config entry naming no registered phase is a :class:`~rcaflows.errors.ConfigError` naming the
field and the registered phases: a typo never silently keeps the default.

This module imports neither the phases nor the synthesis, so both can import it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from rcaflows.config.models import SystemConfig
from rcaflows.config.plugin_settings import validate_plugin_settings
from rcaflows.errors import ConfigError
from rcaflows.rca.context import RcaContext
from rcaflows.rca.models import PhaseResult

#: What a phase name may look like: it is a config key, a JSON value and part of a task-run name.
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")


class PhaseSettings(BaseModel):
    """Settings every phase has; a phase's ``settings_model`` subclasses this to add its own."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(True, description="Run this phase (the flow and run_rca skip a disabled one).")
    weight: float | None = Field(
        None,
        ge=0,
        description="Weight of the phase's evidence in the synthesis; unset = phase_weights of rules.yaml, else 1.",
    )


@runtime_checkable
class Phase(Protocol):
    """One RCA phase: a name and a pure function of the context (``run`` never mutates ``ctx``)."""

    @property
    def name(self) -> str:
        """The phase's registry key (a plain class attribute satisfies it)."""
        ...

    def run(self, ctx: RcaContext) -> PhaseResult:
        """Return the phase's findings for ``ctx``."""
        ...


#: Registered phases, keyed by name, in registration order (the order results and reports list them).
PHASES: dict[str, Phase] = {}

T = TypeVar("T")


def register_phase(cls: T) -> T:
    """Register a phase class (instantiated with no arguments) or instance under its name.

    Usable as a class decorator. Returns its argument.

    Raises:
        TypeError: when the object is not a phase, its name is not a lowercase identifier, its
            ``settings_model`` is not a :class:`PhaseSettings` subclass, or another phase class
            is registered under the same name.
    """
    obj: Any = cls() if isinstance(cls, type) else cls
    if not isinstance(obj, Phase):
        raise TypeError(f"{cls!r} does not implement the Phase protocol (name, run)")
    name = obj.name
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise TypeError(f"phase {cls!r}: name {name!r} must match {NAME_PATTERN.pattern}")
    model = getattr(obj, "settings_model", PhaseSettings)
    if not (isinstance(model, type) and issubclass(model, PhaseSettings)):
        raise TypeError(f"phase {name!r}: settings_model must subclass PhaseSettings, got {model!r}")
    old = PHASES.get(name)
    # Re-registering the same class (a module reload builds a new class object) is fine.
    if old is not None and _qualname(type(old)) != _qualname(type(obj)):
        raise TypeError(f"phase name {name!r} is already registered by {type(old).__qualname__}")
    PHASES[str(name)] = obj
    return cls


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def unknown_phase(name: str) -> str:
    """Return the message for a phase name nothing is registered under, listing the registered ones."""
    return f"no RCA phase is registered as {name!r}; registered phases: {', '.join(sorted(PHASES)) or 'none'}"


def get_phase(name: str) -> Phase:
    """Return the registered phase ``name``.

    Raises:
        KeyError: naming the unknown phase and the registered ones.
    """
    try:
        return PHASES[str(name)]
    except KeyError:
        raise KeyError(unknown_phase(str(name))) from None


def check_phase_config(config: SystemConfig) -> None:
    """Check that every ``rca.phases`` entry names a registered phase and validates against its settings model.

    Raises:
        ConfigError: naming the field (``rca.phases.<name>[.<setting>]``) and what was expected.
    """
    for name in config.rca.phases:
        if name not in PHASES:
            raise ConfigError(f"rca.phases.{name}: {unknown_phase(name)}")
        phase_settings(config, PHASES[name])


def phase_settings(config: SystemConfig, phase: Phase | str) -> PhaseSettings:
    """Return a phase's settings: its ``settings_model`` validated from ``config.rca.phases[<name>]``.

    Raises:
        ConfigError: when the settings do not validate, naming the field and the model.
        KeyError: when ``phase`` is a name no phase is registered under.
    """
    impl = get_phase(phase) if isinstance(phase, str) else phase
    model: type[PhaseSettings] = getattr(impl, "settings_model", PhaseSettings)
    raw = config.rca.phases.get(impl.name, {})
    return validate_plugin_settings(model, raw, f"rca.phases.{impl.name}", f"RCA phase {str(impl.name)!r}")


def enabled_phases(config: SystemConfig) -> dict[str, Phase]:
    """Return the registered phases the config leaves enabled, in registry order.

    Raises:
        ConfigError: when ``rca.phases`` names an unknown phase or holds invalid settings.
    """
    check_phase_config(config)
    return {name: p for name, p in PHASES.items() if phase_settings(config, p).enabled}


def phase_weights(config: SystemConfig, defaults: Mapping[str, Any]) -> dict[str, float]:
    """Return the synthesis weight of every registered phase.

    Args:
        config: the monitored system; ``rca.phases.<name>.weight`` overrides the default.
        defaults: ``phase_weights`` of ``rules.yaml``; a phase missing there weighs 1.

    Raises:
        ConfigError: when ``defaults`` or ``rca.phases`` names a phase that is not registered.
    """
    for name in defaults:
        if name not in PHASES:
            raise ConfigError(f"rules.yaml phase_weights.{name}: {unknown_phase(name)}")
    check_phase_config(config)
    out = {}
    for name, p in PHASES.items():
        weight = phase_settings(config, p).weight
        out[name] = float(weight if weight is not None else defaults.get(name, 1.0))
    return out
