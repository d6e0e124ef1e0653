"""The per-console identity: a random id each console (and the CLI) creates once in its config
dir and sends with every engine call (`X-Switchboard-Identity`), beside the OS user (`X-Actor`).

The engine records both in its audit log and refuses approval of a proposal by the identity
that made it. The CLI's and each console's differ: `cli-identity` and `console-identity`
files in the config dir; a console started with another --config-dir is another identity.
"""

from __future__ import annotations

import os
import re
import secrets
import tempfile
from pathlib import Path
from typing import Literal

IDENTITY_HEADER = "X-Switchboard-Identity"
PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$")


class IdentityError(RuntimeError):
    pass


def identity_path(config_dir: Path, who: Literal["cli", "console"]) -> Path:
    return Path(config_dir) / f"{who}-identity"


def load_identity(config_dir: Path, who: Literal["cli", "console"]) -> str:
    """The identity kept in `config_dir`, created (0600) on first use: e.g. 'cli-3f9c2a7b1e04'."""
    path = identity_path(config_dir, who)
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return _create(path, f"{who}-{secrets.token_hex(6)}")
    except OSError as exc:
        raise IdentityError(f"cannot read the {who} identity {path}: {exc.strerror}") from exc
    if not PATTERN.fullmatch(text):
        raise IdentityError(f"{path} does not hold an identity (letters, digits, '.', '_', ':', '-'; "
                            "at most 100): delete it and a new one is made")
    return text


def _create(path: Path, identity: str) -> str:
    """Write it whole to a temporary file, then link it into place: readers never see half a
    file, and of two processes creating it at once the first wins and both use its id."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:  # mkstemp: mode 0600
            handle.write(identity + "\n")
        try:
            os.link(tmp, path)
        except FileExistsError:
            return path.read_text(encoding="utf-8").strip()
        finally:
            os.unlink(tmp)
    except OSError as exc:
        raise IdentityError(f"cannot create the identity file {path}: {exc.strerror}") from exc
    return identity
