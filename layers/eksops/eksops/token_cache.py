"""A per-user file cache of EKS tokens, so kubectl's exec plugin answers in milliseconds.

The key hashes everything that can change the token (the `eksops token` options, every AWS_*
environment variable, the shared config files' identity and mtime), so a cached token is always
one a fresh mint would have produced, only older. Files are 0600 in a 0700 directory, written
atomically. A token is reused from its signing time until ``REUSE_MARGIN_SECONDS`` before it
expires: never when the clock reads earlier than its signing (set back, or frozen in the past).

Standard library only (os, hashlib): it is on the path of every cached kubectl call.
"""

from __future__ import annotations

import hashlib
import os
import sys

from eksops.aws_env import config_files

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs milliseconds here
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

REUSE_MARGIN_SECONDS = 60


class CachedToken:
    """A token as cached (a plain class: importing typing costs the exec plugin milliseconds)."""

    __slots__ = ("expiration_timestamp", "expires_at", "issued_at", "token")

    def __init__(
        self, token: str, expiration_timestamp: str, issued_at: float, expires_at: float
    ) -> None:
        self.token = token
        self.expiration_timestamp = expiration_timestamp
        self.issued_at = issued_at  # POSIX seconds, whole: the signing second
        self.expires_at = expires_at


def default_cache_dir(environ: Mapping[str, str] = os.environ) -> str:
    """EKSOPS_CACHE_DIR, else the platform's user cache directory + eksops/tokens."""
    if override := environ.get("EKSOPS_CACHE_DIR"):
        return override
    if sys.platform == "darwin":
        base = os.path.expanduser("~/Library/Caches")
    elif sys.platform == "win32":
        base = environ.get("LOCALAPPDATA") or os.path.expanduser("~/AppData/Local")
    else:
        base = environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return os.path.join(base, "eksops", "tokens")


def _file_identity(path: str) -> str:
    try:
        stat = os.stat(path)
    except OSError:
        return f"{path}:absent"
    return f"{path}:{stat.st_ino}:{stat.st_size}:{stat.st_mtime_ns}"


def cache_key(options: Sequence[str | None], environ: Mapping[str, str]) -> str:
    """Hash of the token options and everything in the environment that can change the token."""
    parts = ["" if value is None else value for value in options]
    parts += sorted(f"{k}={v}" for k, v in environ.items() if k.startswith("AWS_"))
    parts += [_file_identity(path) for path in config_files(environ)]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:40]


class TokenCache:
    def __init__(self, directory: str) -> None:
        self.directory = directory

    def get(self, key: str, now: float) -> CachedToken | None:
        try:
            with open(os.path.join(self.directory, key), encoding="utf-8") as handle:
                issued_at, expires_at, timestamp, token = handle.read().split("\n", 3)
            cached = CachedToken(token.strip(), timestamp, float(issued_at), float(expires_at))
        except (OSError, ValueError):
            return None
        fresh = cached.issued_at <= now < cached.expires_at - REUSE_MARGIN_SECONDS
        return cached if fresh else None

    def put(self, key: str, cached: CachedToken) -> None:
        """Best effort: a cache that cannot be written only costs speed."""
        import tempfile

        try:
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-")  # created 0600
        except OSError:
            return
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(
                    f"{cached.issued_at}\n{cached.expires_at}\n"
                    f"{cached.expiration_timestamp}\n{cached.token}\n"
                )
            os.replace(tmp, os.path.join(self.directory, key))
        except OSError:
            os.unlink(tmp)
