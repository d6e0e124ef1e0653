"""A blocking client of the engine's control API (httpx), used by the CLI and the console.

Finds the engine through its state dir (`engine.json` and `token`), and turns HTTP errors
into ClientError with the status and the engine's own message.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import platformdirs

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=3.0)


def default_state_dir() -> Path:
    return Path(platformdirs.user_data_dir("switchboard", appauthor=False)) / "engine"


def default_actor() -> str:
    return f"{getpass.getuser()}@{socket.gethostname()}"


class ClientError(RuntimeError):
    def __init__(self, status: int, message: str, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.body = body


class NotRunning(ClientError):
    pass


def engine_address(state_dir: Path) -> tuple[str, str, dict[str, Any]]:
    """(control URL, token, engine.json) of the engine on this state dir, or NotRunning."""
    info_path = state_dir / "engine.json"
    try:
        info: dict[str, Any] = json.loads(info_path.read_text())
        token = (state_dir / "token").read_text().strip()
    except FileNotFoundError:
        raise NotRunning(0, f"no engine is running on {state_dir} (start one with: switchboard engine)") from None
    except (OSError, ValueError) as exc:
        raise NotRunning(0, f"cannot read the engine's files in {state_dir}: {exc}") from None
    pid = int(info.get("pid", 0))
    if pid and not _alive(pid):
        raise NotRunning(0, f"the engine recorded in {info_path} (pid {pid}) is not running")
    return str(info["control_url"]), token, info


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class EngineClient:
    def __init__(self, control_url: str, token: str, actor: str | None = None, timeout: Any = DEFAULT_TIMEOUT) -> None:
        self.control_url = control_url
        self.http = httpx.Client(
            base_url=control_url, timeout=timeout,
            headers={"Authorization": f"Bearer {token}", "X-Actor": actor or default_actor()},
        )

    @classmethod
    def for_state_dir(cls, state_dir: Path, actor: str | None = None) -> EngineClient:
        url, token, _ = engine_address(state_dir)
        return cls(url, token, actor)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> EngineClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TimeoutException:
            raise ClientError(0, f"the engine at {self.control_url} did not answer in time") from None
        except httpx.TransportError as exc:
            raise ClientError(0, f"cannot reach the engine at {self.control_url}: {exc}") from None
        if response.status_code >= 400:
            try:
                body = response.json()
                message = body.get("error", response.text)
            except ValueError:
                body, message = None, response.text
            raise ClientError(response.status_code, f"{response.status_code}: {message}", body)
        return response.json()

    def endpoints(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.request("GET", "/v1/endpoints")
        return result

    def endpoint(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self.request("GET", f"/v1/endpoints/{name}")
        return result

    def apply_yaml(self, text: str, base_dir: Path) -> dict[str, list[str]]:
        result: dict[str, list[str]] = self.request(
            "POST", "/v1/apply", json={"yaml": text, "base_dir": str(base_dir.resolve())}
        )
        return result

    def set_traffic(
        self, endpoint: str, revision: int, traffic: dict[str, int], mirror: dict[str, int], reason: str
    ) -> dict[str, Any]:
        result: dict[str, Any] = self.request(
            "PUT", f"/v1/endpoints/{endpoint}/traffic", headers={"If-Match": str(revision)},
            json={"traffic": traffic, "mirror": mirror, "reason": reason},
        )
        return result

    def rollback(self, endpoint: str, revision: int, to_revision: int | None, reason: str) -> dict[str, Any]:
        body: dict[str, Any] = {"reason": reason}
        if to_revision is not None:
            body["to_revision"] = to_revision
        result: dict[str, Any] = self.request(
            "POST", f"/v1/endpoints/{endpoint}/rollback", headers={"If-Match": str(revision)}, json=body
        )
        return result

    def stream_lines(self, path: str, params: dict[str, Any]) -> Iterator[str]:
        with self.http.stream("GET", path, params=params, timeout=httpx.Timeout(10.0, read=None)) as response:
            if response.status_code >= 400:
                response.read()
                raise ClientError(response.status_code, f"{response.status_code}: {response.text}")
            yield from response.iter_lines()
