"""A webhook URL read from a Prefect Secret block (real Prefect API: the session's test harness)."""

from __future__ import annotations

from collections.abc import Callable

from prefect.blocks.system import Secret
from tests.notify.conftest import Receiver

from rcaflows.config.models import ChannelConfig
from rcaflows.incidents import Store
from rcaflows.notify import dispatch


def test_webhook_url_from_a_prefect_secret_block(
    prefect_api: None, store: Store, open_incident: Callable[..., str], receiver: Receiver
) -> None:
    Secret(value=f"{receiver.url}/events").save("rcaflows-test-hook", overwrite=True)
    ch = ChannelConfig(name="hook", kind="webhook", url_secret_block="rcaflows-test-hook")
    missing = ChannelConfig(name="nohook", kind="webhook", url_secret_block="rcaflows-no-such-block")
    key = open_incident()
    ok, bad = dispatch(store, key, [ch, missing], "opened", "test", sleep=lambda _: None)
    assert ok.ok and receiver.on("/events")[0].body["event_action"] == "trigger"
    assert not bad.ok and "rcaflows-no-such-block" in (bad.error or "") and bad.attempts == 1
