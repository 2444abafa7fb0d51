"""Remote stores: ``http(s)://``, ``s3://``, ``gs://`` URLs as zarr stores through fsspec.

A URL is read through exactly the same zarr code as a local directory: only the store differs
(:class:`zarr.storage.FsspecStore` instead of :class:`zarr.storage.LocalStore`). Every request
has a timeout and the number of requests in flight is bounded (:class:`RemoteOptions`), so a
dead or slow server turns into a clear error instead of a hang, and a pan over a high-latency
store never opens hundreds of connections at once.

fsspec was measured against obstore for this (``benchmarks/bench_remote_read.py``): see the
README's benchmark section for the figures.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import Any

from tilescope.data.priority import lower_thread_priority
from tilescope.errors import ConfigError, DataSourceError

__all__ = [
    "REMOTE_PACKAGES",
    "RemoteOptions",
    "describe_error",
    "is_url",
    "open_remote_store",
    "url_name",
]

#: fsspec protocol -> the package that implements it (named in the error when it is missing).
REMOTE_PACKAGES: dict[str, str] = {
    "http": "aiohttp",
    "https": "aiohttp",
    "s3": "s3fs",
    "gs": "gcsfs",
    "gcs": "gcsfs",
}


@dataclass(frozen=True, slots=True)
class RemoteOptions:
    """How remote stores are read.

    Attributes
    ----------
    timeout_s
        Longest wait for one request (connect and read), in seconds; a request still
        unanswered after it fails with a :class:`DataSourceError` naming the URL.
    concurrency
        Most requests in flight at once (per store for HTTP connections, and zarr's
        concurrency for one read).
    storage_options
        Extra fsspec options (credentials, ``anon=True`` for public buckets, headers...).

    Defaults come from ``TILESCOPE_REMOTE_TIMEOUT_S`` and ``TILESCOPE_REMOTE_CONCURRENCY``
    when set (see :meth:`from_env`).
    """

    timeout_s: float = 30.0
    concurrency: int = 16
    storage_options: tuple[tuple[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if not (isinstance(self.timeout_s, int | float) and self.timeout_s > 0):
            raise ConfigError(f"timeout_s must be a number > 0 (seconds), got {self.timeout_s!r}")
        if not (isinstance(self.concurrency, int) and 1 <= self.concurrency <= 1024):
            raise ConfigError(f"concurrency must be an int in 1..1024, got {self.concurrency!r}")

    @classmethod
    def from_env(cls) -> RemoteOptions:
        """Options from ``TILESCOPE_REMOTE_TIMEOUT_S`` / ``TILESCOPE_REMOTE_CONCURRENCY``."""
        kwargs: dict[str, Any] = {}
        for var, key, kind in (
            ("TILESCOPE_REMOTE_TIMEOUT_S", "timeout_s", float),
            ("TILESCOPE_REMOTE_CONCURRENCY", "concurrency", int),
        ):
            text = os.environ.get(var)
            if text:
                try:
                    kwargs[key] = kind(text)
                except ValueError:
                    raise ConfigError(f"{var}={text!r} is not a valid {kind.__name__}") from None
        return cls(**kwargs)


def is_url(path: object) -> bool:
    """Whether ``path`` is a URL (``scheme://...``) rather than a local path."""
    return isinstance(path, str) and "://" in path and not path.startswith("file://")


def url_name(url: str) -> str:
    """A layer name for a URL: its last path part without ``.zarr``."""
    last = url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    return last[: -len(".zarr")] if last.lower().endswith(".zarr") else last


async def _limited_client(**kwargs: Any) -> Any:
    """fsspec's HTTP client factory with a bounded connection pool (on fsspec's event-loop
    thread, which then gives way to the main thread for a core)."""
    import aiohttp

    lower_thread_priority()

    limit = int(kwargs.pop("tilescope_limit", 16))
    kwargs.pop("loop", None)
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=limit), **kwargs)


def _fs_options(protocol: str, options: RemoteOptions) -> dict[str, Any]:
    extra = dict(options.storage_options)
    if protocol in ("http", "https"):
        import aiohttp

        timeout = aiohttp.ClientTimeout(
            total=options.timeout_s, connect=options.timeout_s, sock_read=options.timeout_s
        )
        client_kwargs = dict(extra.pop("client_kwargs", {}))
        client_kwargs.setdefault("timeout", timeout)
        client_kwargs["tilescope_limit"] = options.concurrency
        return {"client_kwargs": client_kwargs, "get_client": _limited_client, **extra}
    if protocol == "s3":
        config = dict(extra.pop("config_kwargs", {}))
        config.setdefault("connect_timeout", options.timeout_s)
        config.setdefault("read_timeout", options.timeout_s)
        config.setdefault("max_pool_connections", options.concurrency)
        return {"config_kwargs": config, **extra}
    if protocol in ("gs", "gcs"):
        extra.setdefault("timeout", options.timeout_s)
        return extra
    return extra


def open_remote_store(url: str, options: RemoteOptions | None = None) -> Any:
    """A read-only zarr store for ``url``; nothing is fetched yet.

    Raises :class:`DataSourceError` for a protocol whose fsspec package is not installed
    (naming the package) or one fsspec does not know.
    """
    import fsspec
    import zarr
    from zarr.storage import FsspecStore

    opts = options or RemoteOptions.from_env()
    protocol = url.split("://", 1)[0].lower()
    try:
        fsspec.get_filesystem_class(protocol)
    except ImportError as e:
        package = REMOTE_PACKAGES.get(protocol, "the fsspec package for it")
        raise DataSourceError(
            f"cannot open {url!r}: reading {protocol}:// URLs needs the {package!r} package; "
            f"install it with `pip install {package}` and try again."
        ) from e
    except ValueError as e:
        raise DataSourceError(
            f"cannot open {url!r}: unknown protocol {protocol!r}; tilescope reads http(s)://, "
            "s3:// (with s3fs) and gs:// (with gcsfs) URLs."
        ) from e
    zarr.config.set({"async.concurrency": opts.concurrency})
    try:
        return FsspecStore.from_url(
            url.rstrip("/"),
            storage_options=_fs_options(protocol, opts),
            read_only=True,
        )
    except Exception as e:  # fsspec raises many types for bad URLs and missing credentials
        raise DataSourceError(f"cannot open {url!r}: {describe_error(e)}") from e


def describe_error(exc: BaseException) -> str:
    """A short, user-facing description of a read failure (HTTP status, timeout, ...)."""
    status = getattr(exc, "status", None)
    if isinstance(status, int):
        url = getattr(getattr(exc, "request_info", None), "real_url", None)
        where = f" for {url}" if url is not None else ""
        reason = getattr(exc, "message", "") or ""
        hint = (
            "the server failed; try again later"
            if status >= 500
            else "check the URL and your access rights"
        )
        return f"HTTP {status} {reason}{where} ({hint})".replace("  ", " ")
    if isinstance(exc, asyncio.TimeoutError | TimeoutError) or "Timeout" in type(exc).__name__:
        return (
            "the request timed out (the server did not answer in time; raise "
            "TILESCOPE_REMOTE_TIMEOUT_S or check the server)"
        )
    text = str(exc) or type(exc).__name__
    return text
