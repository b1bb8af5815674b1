"""What every plugin needs besides the bindings, in plain Python (no WIT
types, no wasi:http), so it runs and is tested on any Python 3.11+.

A port of drover's Rust plugin SDK (plugins/sdk/src): the contract's values
as small dataclasses (`app.py` turns them into the generated WIT types and
back), `PluginError` with the contract's error kinds, typed settings, URL
handling, how a reply that is not what was expected becomes an error, and
`resolve`, the per-id fallback of `status-many`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

# The contract's error kinds (`plugin-error` in wit/plugin.wit). drover
# decides about retries from the kind alone, never from the message.
INVALID = "invalid"  # the request is wrong and stays wrong
UNAVAILABLE = "unavailable"  # the cluster could not be reached or is busy
REJECTED = "rejected"  # the cluster answered and refused
PROTOCOL = "protocol"  # the cluster answered something unexpected
IN_DOUBT = "in-doubt"  # sent, but the answer was lost: may have been applied
NOT_FOUND = "not-found"  # the cluster does not know the id
UNSUPPORTED = "unsupported"  # this plugin cannot do that
KINDS = (INVALID, UNAVAILABLE, REJECTED, PROTOCOL, IN_DOUBT, NOT_FOUND, UNSUPPORTED)


class PluginError(Exception):
    """A failed call, as the contract's `plugin-error`: a kind and a message."""

    def __init__(self, kind: str, message: str):
        if kind not in KINDS:
            raise ValueError(f"unknown plugin error kind {kind!r}")
        super().__init__(message)
        self.kind = kind
        self.message = message

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PluginError) and (self.kind, self.message) == (other.kind, other.message)

    def __hash__(self) -> int:
        return hash((self.kind, self.message))

    def __repr__(self) -> str:
        return f"PluginError({self.kind!r}, {self.message!r})"


# drover's driver phases (`driver-phase`).
SUBMITTED, QUEUED, RUNNING = "submitted", "queued", "running"
SUCCEEDED, FAILED, KILLED, LOST, UNKNOWN = "succeeded", "failed", "killed", "lost", "unknown"
PHASES = (SUBMITTED, QUEUED, RUNNING, SUCCEEDED, FAILED, KILLED, LOST, UNKNOWN)


@dataclass
class Resources:
    memory_mb: Optional[int] = None
    cores: Optional[int] = None
    instances: Optional[int] = None


@dataclass
class Application:
    """One Spark-style application (`application`); `deploy_mode` is
    "client", "cluster" or "service"."""

    name: str
    resource: str
    main_class: Optional[str] = None
    args: list[str] = field(default_factory=list)
    conf: list[tuple[str, str]] = field(default_factory=list)
    deploy_mode: str = "cluster"
    driver: Resources = field(default_factory=Resources)
    executor: Resources = field(default_factory=Resources)
    jars: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    py_files: list[str] = field(default_factory=list)
    env: list[tuple[str, str]] = field(default_factory=list)
    # spark-submit's --proxy-user (contract 0.2.0).
    proxy_user: Optional[str] = None


@dataclass
class Problem:
    """What `validate` found wrong: the field at fault, why, and how to fix it."""

    field: str
    message: str
    hint: str


@dataclass
class DriverStatus:
    phase: str
    raw_state: str
    attempt: Optional[int] = None
    location: Optional[str] = None
    message: Optional[str] = None
    tracking_url: Optional[str] = None


@dataclass
class LogChunk:
    data: bytes
    next_offset: int
    total: Optional[int] = None


def excerpt(s: str, limit: int) -> str:
    """`s` trimmed and cut to at most `limit` bytes of UTF-8 (on a character
    boundary), with "…" when cut: for quoting a reply without flooding."""
    s = s.strip()
    raw = s.encode("utf-8")
    if len(raw) <= limit:
        return s
    return raw[:limit].decode("utf-8", errors="ignore") + "…"


def quote(s: str) -> str:
    """A string in double quotes with escapes, as drover's messages show values."""
    return json.dumps(s, ensure_ascii=False)


class Settings:
    """A backend's settings as drover resolved them. Blank values count as
    unset, so a DAG file can clear a key with `key = ""`; the last occurrence
    of a key wins."""

    def __init__(self, pairs: list[tuple[str, str]]):
        self.pairs = list(pairs)

    def get(self, key: str) -> Optional[str]:
        for k, v in reversed(self.pairs):
            if k == key:
                v = v.strip()
                return v or None
        return None

    def get_or(self, key: str, default: str) -> str:
        v = self.get(key)
        return default if v is None else v

    def require(self, key: str) -> str:
        v = self.get(key)
        if v is None:
            raise PluginError(INVALID, f"the backend setting `{key}` is required")
        return v

    def get_bool(self, key: str, default: bool) -> bool:
        v = self.get(key)
        if v is None:
            return default
        if v.lower() in ("true", "yes", "on", "1"):
            return True
        if v.lower() in ("false", "no", "off", "0"):
            return False
        raise PluginError(INVALID, f"the backend setting `{key}` must be true or false, not {quote(v)}")


@dataclass
class UrlParts:
    """The parts of an absolute http/https URL that wasi:http wants separately."""

    https: bool
    authority: str  # host[:port], as written
    host: str  # without the port, for messages
    path_with_query: str  # at least "/"


def parse_url(url: str) -> UrlParts:
    def invalid(why: str) -> PluginError:
        return PluginError(INVALID, f"bad URL {quote(url)}: {why}")

    scheme, sep, rest = url.partition("://")
    if not sep:
        raise invalid("expected http://host[:port]/path")
    if scheme.lower() == "http":
        https = False
    elif scheme.lower() == "https":
        https = True
    else:
        raise invalid(f"scheme {quote(scheme.lower())} is not http or https")
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    authority = rest[:end]
    path_with_query = rest[end:].split("#", 1)[0]
    if not authority:
        raise invalid("no host")
    if "@" in authority:
        raise invalid("credentials in the URL are not supported")
    if not path_with_query.startswith("/"):
        path_with_query = "/" + path_with_query
    if authority.startswith("["):
        host = authority[1:].split("]", 1)[0]
    else:
        host = authority.rsplit(":", 1)[0] if ":" in authority else authority
    return UrlParts(https, authority, host, path_with_query)


def join(base: str, path: str) -> str:
    """A base URL from the settings (with or without a trailing slash) and a path."""
    return base.rstrip("/") + "/" + path.lstrip("/")


def encode_component(s: str) -> str:
    """Percent-encodes one query or path component (RFC 3986 unreserved kept)."""
    out = []
    for b in s.encode("utf-8"):
        c = chr(b)
        if c.isascii() and (c.isalnum() or c in "-._~"):
            out.append(c)
        else:
            out.append(f"%{b:02X}")
    return "".join(out)


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]  # names lower-case
    body: bytes

    def header(self, name: str) -> Optional[str]:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def is_success(self) -> bool:
        return 200 <= self.status < 300

    def json(self, url: str):
        """The body as JSON, whatever the status; a body that does not parse
        is an error chosen by the status (see `unparsed_error`)."""
        try:
            return json.loads(self.body)
        except ValueError as e:
            raise self.unparsed_error(url, str(e)) from None

    def unparsed_error(self, url: str, why: str) -> PluginError:
        """The error for a reply whose body could not be understood: 404 is
        not-found, 429 and 5xx unavailable, other 4xx rejected, anything else
        (a 2xx with garbage) protocol; each names `url` and quotes the body."""
        text = self.body.decode("utf-8", errors="replace")
        quoted = "an empty body" if not text.strip() else quote(excerpt(text, 200))
        status = self.status
        if status == 404:
            return PluginError(NOT_FOUND, f"{url} answered 404 Not Found: {quoted}")
        if status == 429 or 500 <= status <= 599:
            return PluginError(UNAVAILABLE, f"{url} answered HTTP {status}: {quoted}")
        if 400 <= status <= 499:
            return PluginError(REJECTED, f"{url} answered HTTP {status}: {quoted}")
        return PluginError(
            PROTOCOL,
            f"{url} answered HTTP {status} with a body that is not what was expected ({why}): {quoted}",
        )


# How a transport failure bears on retrying (see `error_for`).
DENIED = "denied"  # drover's outbound policy refused the request
BAD_REQUEST = "bad-request"  # the request itself is malformed
BAD_RESPONSE = "bad-response"  # the peer answered something that is not HTTP
UNREACHABLE = "unreachable"  # DNS, connect, TLS, timeouts


def error_for(kind: str, detail: str, url: str, host: str) -> PluginError:
    """The error for a failed exchange with `url`; `detail` is the transport's own words."""
    if kind == DENIED:
        return PluginError(
            UNAVAILABLE, f"request to {host} denied by drover: add it to the backend's allowed_hosts"
        )
    if kind == BAD_REQUEST:
        return PluginError(INVALID, f"request to {url} refused: {detail}")
    if kind == BAD_RESPONSE:
        return PluginError(PROTOCOL, f"bad answer from {url}: {detail}")
    return PluginError(UNAVAILABLE, f"cannot reach {url}: {detail}")


def answer_lost(method: str, e: PluginError) -> PluginError:
    """A transport failure after a request that changes state was sent: the
    cluster may have applied it, so an unreachable cluster (which callers may
    simply ask again) becomes in-doubt, for the caller to check first."""
    if method != "GET" and e.kind == UNAVAILABLE:
        return PluginError(IN_DOUBT, f"{e.message}, after the request was sent: it may have been applied")
    return e


# status-many: per-id fallbacks one call may make, and how long after the
# call started they may still begin (half the host's default 30 s deadline).
MAX_FALLBACKS = 32
FALLBACK_WINDOW_SECONDS = 15.0


def unknown_status(message: str) -> DriverStatus:
    return DriverStatus(phase=UNKNOWN, raw_state="", message=message)


def resolve(
    ids: list[str],
    listed: list[Optional[DriverStatus]],
    max_fallbacks: int,
    rotation: int,
    out_of_time: Callable[[], bool],
    per_id: Callable[[str], DriverStatus],
) -> list[Optional[DriverStatus]]:
    """One entry per id: `listed[i]` when the cluster's list had it, else the
    per-id `status`: not-found is None, any other error an unknown status
    carrying it (for that id only). At most `max_fallbacks` are asked, and
    none once `out_of_time()`; the rest are unknown, put off to a later poll.
    `rotation` picks where among the missing ids the asking starts."""
    out = list(listed)
    missing = [i for i, s in enumerate(listed) if s is None]
    if not missing:
        return out
    start = rotation % len(missing)
    asked = 0
    for k in range(len(missing)):
        i = missing[(start + k) % len(missing)]
        id_ = ids[i]
        if asked >= max_fallbacks or out_of_time():
            out[i] = unknown_status(
                f"{id_} was not in the cluster's list and this poll had no time left to ask for it "
                "alone; it is asked at a later poll"
            )
            continue
        asked += 1
        try:
            out[i] = per_id(id_)
        except PluginError as e:
            out[i] = None if e.kind == NOT_FOUND else unknown_status(
                f"the status of {id_} could not be read: {e.message}"
            )
    return out


def window_from(started: float) -> Callable[[], bool]:
    """An `out_of_time` for `resolve`: true once the window has passed since
    `started` (a `time.monotonic()` reading)."""
    return lambda: time.monotonic() - started >= FALLBACK_WINDOW_SECONDS


def clock_rotation() -> int:
    """A rotation that changes from one poll to the next: wall-clock seconds."""
    return int(time.time())
