"""The notifier contract, the registry of notifiers by name, and secret lookup.

A notifier implements :class:`Notifier` (one file each under ``channels/``) and registers under a
name with :func:`register`; a channel's ``kind`` names it, and :func:`notifier_for` builds one from
the channel's config. A notifier with settings of its own declares ``settings_model`` (a pydantic
model): the channel's ``settings`` mapping is validated against it (:func:`channel_settings`), the
way ``detectors.extra`` is validated by each detector's model; the built-in kinds keep their
settings as typed fields of :class:`~rcaflows.config.models.ChannelConfig`. The config layer cannot
see this registry, so :func:`channel_problems` checks the kinds and settings for ``rcaflows validate``
and :func:`notifier_for` checks them again at delivery.

Secrets never live in the config: it names an environment variable (``url_env``, ``token_env``,
``password_env``, or a ``*_env`` setting) or a Prefect Secret block.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel

from rcaflows.config.models import ChannelConfig, SystemConfig
from rcaflows.config.plugin_settings import plugin_settings_problems
from rcaflows.notify.models import Delivered, DeliveryError, Message, NotifyError, Previous


@runtime_checkable
class Notifier(Protocol):
    """Deliver an incident's message: post the first one, then edit or thread the updates.

    Optional class attribute: ``settings_model``, a pydantic model of the channel's ``settings``.
    """

    kind: ClassVar[str]

    def send(self, message: Message, previous: Previous | None) -> Delivered:
        """Deliver ``message``; ``previous`` is None for the incident's first message on this channel.

        Raises:
            DeliveryError: If the receiver refused it or could not be reached.
        """
        ...


NotifierFactory = Callable[[ChannelConfig], Notifier]
_REGISTRY: dict[str, NotifierFactory] = {}


def _qualname(obj: Any) -> str:
    return f"{obj.__module__}.{obj.__qualname__}"


def register(kind: str) -> Callable[[NotifierFactory], NotifierFactory]:
    """Register a notifier class (built with the channel's config) under the name ``kind``.

    Raises:
        TypeError: If the class has no ``send``, its ``settings_model`` is not a pydantic model, its
            own ``kind`` differs from ``kind``, or another class is registered under ``kind`` already.
    """
    if not kind or kind != kind.strip():
        raise TypeError(f"notifier name {kind!r} must be a non-empty name without surrounding spaces")

    def deco(factory: NotifierFactory) -> NotifierFactory:
        if not callable(getattr(factory, "send", None)):
            raise TypeError(f"notifier {kind!r}: {factory!r} does not implement Notifier (no send method)")
        model = getattr(factory, "settings_model", None)
        if model is not None and not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise TypeError(f"notifier {kind!r}: settings_model must be a pydantic model class, got {model!r}")
        old = _REGISTRY.get(kind)
        if old is not None and _qualname(old) != _qualname(factory):  # a module reload re-registers the same class
            raise TypeError(f"notifier name {kind!r} is already registered by {_qualname(old)}")
        declared = getattr(factory, "kind", None)
        if declared is not None and str(declared) != kind:
            raise TypeError(f"notifier {kind!r}: {_qualname(factory)} declares kind {declared!r}; register it as that")
        _REGISTRY[kind] = factory
        return factory

    return deco


def registered() -> dict[str, NotifierFactory]:
    """Return the registered notifiers by name (the built-in ones are registered on first use)."""
    import rcaflows.notify.channels  # noqa: F401  (registers the built-in transports)

    return dict(_REGISTRY)


def settings_model_of(kind: str) -> type[BaseModel] | None:
    """Return the settings model of the notifier registered as ``kind`` (None: it has none, or is unknown)."""
    model = getattr(registered().get(kind), "settings_model", None)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _kind_problem(channel: ChannelConfig, where: str) -> str | None:
    known = registered()
    if channel.kind in known:
        return None
    return (
        f"{where}.kind: unknown notifier kind {str(channel.kind)!r} (channel {channel.name!r}); "
        f"known kinds: {', '.join(sorted(known))}"
    )


def _settings_problems(channel: ChannelConfig, where: str) -> Iterator[str]:
    model = settings_model_of(channel.kind)
    if model is None:
        if channel.settings:
            yield (
                f"{where}.settings: notifier {str(channel.kind)!r} takes no 'settings' (its settings are the "
                f"channel's own fields); remove {', '.join(sorted(channel.settings))}"
            )
        return
    yield from plugin_settings_problems(model, channel.settings, f"{where}.settings", f"notifier {str(channel.kind)!r}")


def channel_settings(channel: ChannelConfig, model: type[BaseModel]) -> Any:
    """Return the channel's ``settings`` validated by ``model`` (the notifier's ``settings_model``).

    Raises:
        NotifyError: Naming ``notifications[<channel>].settings.<field>`` and what is wrong.
    """
    problems = list(_settings_problems(channel, f"notifications[{channel.name}]"))
    if problems:
        raise NotifyError("; ".join(problems))
    return model.model_validate(channel.settings)


def channel_problems(config: SystemConfig) -> list[tuple[tuple[str | int, ...], str]]:
    """Return ``(field path, problem)`` for each channel whose kind is not registered or whose settings are invalid.

    Run by ``rcaflows validate``: the config loader sits below the notifiers and cannot check these.
    """
    out: list[tuple[tuple[str | int, ...], str]] = []
    for i, ch in enumerate(config.notifications):
        where = f"notifications[{i}]"
        kind_problem = _kind_problem(ch, where)
        if kind_problem is not None:
            out.append((("notifications", i, "kind"), kind_problem.split(": ", 1)[1]))
            continue
        for problem in _settings_problems(ch, where):
            path, msg = problem.split(": ", 1)
            fields = path.removeprefix(f"{where}.").split(".")
            out.append((("notifications", i, *fields), msg))
    return out


def notifier_for(channel: ChannelConfig) -> Notifier:
    """Return the notifier of ``channel``.

    Raises:
        NotifyError: If no notifier is registered under the channel's kind (naming the known kinds),
            or the channel's ``settings`` do not validate against the notifier's settings model.
    """
    where = f"notifications[{channel.name}]"
    problem = _kind_problem(channel, where)
    if problem is not None:
        raise NotifyError(problem)
    model = settings_model_of(channel.kind)
    if model is not None or channel.settings:
        problems = list(_settings_problems(channel, where))
        if problems:
            raise NotifyError("; ".join(problems))
    return registered()[channel.kind](channel)


def secret_values(channel: ChannelConfig) -> list[str]:
    """Return the secrets a channel's environment variables hold, and the path and query of secret URLs."""
    out: list[str] = []
    named = [v for k, v in channel.settings.items() if k.endswith("_env") and isinstance(v, str)]
    for env in (channel.url_env, channel.token_env, channel.password_env, *named):
        value = os.environ.get(env, "") if env else ""
        if not value:
            continue
        out.append(value)
        if "://" in value:  # a webhook URL's path and query are its secret part
            rest = value.split("://", 1)[1]
            path = rest[rest.find("/") :] if "/" in rest else ""
            out += [p for p in (path, path.split("?", 1)[0]) if len(p) > 1]
    return sorted(set(out), key=len, reverse=True)


def redact(text: str, secrets: list[str]) -> str:
    """Return ``text`` with every secret (and its URL-encoded form) replaced by ``***``."""
    from urllib.parse import quote

    for value in secrets:
        if len(value) >= 4:  # a one-character "secret" would blank the whole message
            text = text.replace(value, "***").replace(quote(value, safe=""), "***")
    return text


def secret(channel: ChannelConfig, env: str | None, block: str | None, what: str) -> str:
    """Return a secret from the environment variable ``env``, else from the Prefect Secret block ``block``.

    Raises:
        DeliveryError: (not transient) if neither is set, naming the channel and what to set.
    """
    if env:
        value = os.environ.get(env, "")
        if value:
            return value
    if block:
        try:
            from prefect.blocks.system import Secret

            loaded: Any = Secret.load(block)  # sync outside an event loop
            value = str(loaded.get())
        except Exception as exc:
            raise DeliveryError(
                f"channel {channel.name!r}: cannot read {what} from Prefect Secret block {block!r}: {exc}",
                transient=False,
            ) from exc
        if value:
            return value
    where = " or ".join(
        x for x in (f"environment variable {env}" if env else "", f"Secret block {block}" if block else "") if x
    )
    raise DeliveryError(
        f"channel {channel.name!r}: {what} is not set; set {where or 'url_env in the config'}", transient=False
    )
