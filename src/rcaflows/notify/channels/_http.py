"""One JSON POST with the error classification every HTTP transport shares."""

from __future__ import annotations

import threading
from typing import Any

import httpx

from rcaflows.notify.base import redact
from rcaflows.notify.models import DeliveryError

_client: httpx.Client | None = None
_client_lock = threading.Lock()


def client() -> httpx.Client:
    """Return the process-wide HTTP client: building one loads the TLS context, which costs ~0.1-0.3 s."""
    global _client
    with _client_lock:
        if _client is None:
            _client = httpx.Client(follow_redirects=False)
        return _client


def _safe_url(url: str) -> str:
    """Return scheme://host[:port] only: webhook paths and queries are secrets."""
    u = httpx.URL(url)
    return f"{u.scheme}://{u.host}{f':{u.port}' if u.port else ''}"


def post_json(
    channel: str, url: str, body: dict[str, Any], *, timeout: float, headers: dict[str, str] | None = None
) -> httpx.Response:
    """POST ``body`` as JSON and return the response.

    Raises:
        DeliveryError: transient on connection errors, timeouts, 429 and 5xx; permanent on other 4xx.
    """
    return request_json(channel, "POST", url, timeout=timeout, headers=headers, body=body)


def request_json(
    channel: str,
    method: str,
    url: str,
    *,
    timeout: float,
    headers: dict[str, str] | None = None,
    body: dict[str, Any] | None = None,
    params: dict[str, str] | None = None,
) -> httpx.Response:
    """Send one request (a JSON ``body`` or query ``params``) and return the response; errors as :func:`post_json`."""
    try:
        resp = client().request(method, url, json=body, params=params, timeout=timeout, headers=headers)
    except httpx.TimeoutException as exc:
        raise DeliveryError(
            f"channel {channel!r}: {_safe_url(url)} timed out ({type(exc).__name__})", transient=True
        ) from None
    except (httpx.TransportError, httpx.InvalidURL, ValueError) as exc:
        transient = isinstance(exc, httpx.TransportError)
        raise DeliveryError(
            f"channel {channel!r}: cannot reach {_safe_url(url) if transient else 'the webhook URL'}: "
            f"{type(exc).__name__}: {exc}",
            transient=transient,
        ) from None
    if resp.status_code >= 400:
        transient = resp.status_code == 429 or resp.status_code >= 500
        u = httpx.URL(url)
        # a receiver may echo the request (its path and query are the webhook's secret) or the token
        secrets = sorted({url, u.raw_path.decode("ascii", "replace"), u.path, *(headers or {}).values()}, key=len)
        answer = redact(resp.text[:2000], [s for s in reversed(secrets) if s != "/"])
        raise DeliveryError(
            f"channel {channel!r}: {_safe_url(url)} answered HTTP {resp.status_code}: {answer[:200]}",
            transient=transient,
        )
    return resp


def json_or_empty(resp: httpx.Response) -> dict[str, Any]:
    """Return the response's JSON object, or {} when the body is not one (e.g. Slack's plain 'ok')."""
    try:
        data = resp.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
