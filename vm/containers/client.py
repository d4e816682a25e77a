"""The daemon's client: its HTTP/JSON API (docs/daemon-api.md) over httpx, on a unix socket or TCP."""

from __future__ import annotations

import base64
import contextlib
import json
import os
from collections.abc import Iterator

import httpx

from vm.containers.errors import ContainerError
from vm.containers.state import default_host


class DaemonError(ContainerError):
    """The daemon refused a request, or no daemon answers."""


class DaemonClient:
    """One daemon, named as unix:///PATH or tcp://HOST:PORT (default: $VM_HOST, else the default socket)."""

    def __init__(self, host: str | None = None, token: str | None = None) -> None:
        self.host = host or os.environ.get("VM_HOST") or default_host()
        token = token if token is not None else os.environ.get("VM_DAEMON_TOKEN")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if self.host.startswith("unix://"):
            transport = httpx.HTTPTransport(uds=self.host[len("unix://"):])
            base = "http://vm-daemon"
        elif self.host.startswith("tcp://"):
            transport, base = httpx.HTTPTransport(), "http://" + self.host[len("tcp://"):]
        else:
            raise DaemonError(f"the daemon's address {self.host!r} must be unix:///PATH or tcp://HOST:PORT")
        self.http = httpx.Client(base_url=base + "/v1", transport=transport, headers=headers)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> DaemonClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def request(self, method: str, path: str, body: dict | None = None, *, wait_seconds: float | None = 60.0,
                **params) -> dict | list:
        """One request (answered within `wait_seconds`, or without a bound: None); its JSON answer, or a
        DaemonError with the daemon's message."""
        with self._errors():
            response = self.http.request(method, path, json=body, params=_params(params),
                                         timeout=httpx.Timeout(wait_seconds, connect=5.0))
        _check(response, self.host)
        try:
            return response.json()
        except ValueError:
            raise _not_a_daemon(self.host, response) from None

    def stream(self, method: str, path: str, **params) -> Iterator[dict]:
        """An NDJSON answer, one object per line as it comes (no read timeout: a guest may be quiet)."""
        with self._errors(), self.http.stream(method, path, params=_params(params),
                                              timeout=httpx.Timeout(None, connect=5.0)) as response:
            if response.is_error:
                response.read()
                _check(response, self.host)
            for line in response.iter_lines():
                if line:
                    try:
                        yield json.loads(line)
                    except ValueError:
                        raise _not_a_daemon(self.host, response) from None

    def _errors(self) -> contextlib.AbstractContextManager:
        return _transport_errors(self.host)


@contextlib.contextmanager
def _transport_errors(host: str) -> Iterator[None]:
    """httpx's connection errors as one line that says how to start a daemon."""
    try:
        yield
    except (httpx.ConnectError, httpx.RemoteProtocolError, FileNotFoundError) as e:
        raise DaemonError(f"no daemon answers at {host} ({e}); start one with `vm daemon`, or point --host or "
                          "$VM_HOST at one") from None
    except httpx.TimeoutException:
        raise DaemonError(f"the daemon at {host} did not answer in time") from None
    except httpx.TransportError as e:
        raise DaemonError(f"talking to the daemon at {host}: {e}") from None


def _params(params: dict) -> dict:
    return {key: (int(value) if isinstance(value, bool) else value) for key, value in params.items()
            if value is not None}


def _check(response: httpx.Response, host: str) -> None:
    if not response.is_error:
        return
    try:
        message = response.json()["error"]["message"]
    except (ValueError, KeyError, TypeError):
        raise _not_a_daemon(host, response) from None
    raise DaemonError(message)


def _not_a_daemon(host: str, response: httpx.Response) -> DaemonError:
    """An answer without the daemon's JSON: something else listens there."""
    return DaemonError(f"{host} does not answer as a vm daemon (HTTP {response.status_code} "
                       f"{response.reason_phrase}, not the daemon's JSON); point --host or $VM_HOST at one")


def chunk_bytes(line: dict) -> bytes:
    """The output bytes of one logs line."""
    return base64.b64decode(line["data"])
