"""The notifier contract, the registry of transports, and secret lookup.

A transport implements :class:`Notifier` (one file each under ``channels/``) and registers its
:class:`~rcaflows.config.models.ChannelKind` with :func:`register`; :func:`notifier_for` builds
one from a channel's config. Secrets never live in the config: it names an environment variable
(``url_env``, ``token_env``, ``password_env``) or a Prefect Secret block.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, ClassVar, Protocol, runtime_checkable

from rcaflows.config.models import ChannelConfig, ChannelKind
from rcaflows.notify.models import Delivered, DeliveryError, Message, NotifyError, Previous


@runtime_checkable
class Notifier(Protocol):
    """Deliver an incident's message: post the first one, then edit or thread the updates."""

    kind: ClassVar[ChannelKind]

    def send(self, message: Message, previous: Previous | None) -> Delivered:
        """Deliver ``message``; ``previous`` is None for the incident's first message on this channel.

        Raises:
            DeliveryError: If the receiver refused it or could not be reached.
        """
        ...


NotifierFactory = Callable[[ChannelConfig], Notifier]
_REGISTRY: dict[ChannelKind, NotifierFactory] = {}


def register(kind: ChannelKind) -> Callable[[NotifierFactory], NotifierFactory]:
    """Register the notifier class (or factory) of a channel kind."""

    def deco(factory: NotifierFactory) -> NotifierFactory:
        _REGISTRY[kind] = factory
        return factory

    return deco


def registered() -> dict[ChannelKind, NotifierFactory]:
    """Return the registered transports by kind."""
    import rcaflows.notify.channels  # noqa: F401  (registers the built-in transports)

    return dict(_REGISTRY)


def notifier_for(channel: ChannelConfig) -> Notifier:
    """Return the notifier of ``channel``.

    Raises:
        NotifyError: If no transport is registered for the channel's kind.
    """
    factory = registered().get(channel.kind)
    if factory is None:
        raise NotifyError(f"channel {channel.name!r}: no notifier registered for kind {channel.kind.value!r}")
    return factory(channel)


def secret_values(channel: ChannelConfig) -> list[str]:
    """Return the secrets a channel's environment variables hold, and the path and query of secret URLs."""
    out: list[str] = []
    for env in (channel.url_env, channel.token_env, channel.password_env):
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
