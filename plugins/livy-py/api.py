"""Livy's batch API on the wire: the `POST /batches` body an application
stands for, the batch object and list pages Livy answers, what a batch's
state means to drover, and driver log bytes cut from Livy's log lines.
Pure functions, tested on any Python (test_plugin.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from sdk import (
    FAILED,
    INVALID,
    KILLED,
    LOST,
    QUEUED,
    REJECTED,
    RUNNING,
    SUBMITTED,
    SUCCEEDED,
    UNKNOWN,
    Application,
    DriverStatus,
    LogChunk,
    PluginError,
    excerpt,
    quote,
)

# The Spark property that carries drover's submission key (besides the
# batch's `name`, which is what `find` searches by).
SUBMISSION_KEY_CONF = "spark.drover.submissionKey"

# Batches per `GET /batches` page.
PAGE_SIZE = 100

# Log lines per `GET /batches/{id}/log` page.
LOG_PAGE_LINES = 1000

# The largest id drover keeps for a batch (Livy's ids are non-negative integers).
MAX_ID = 2**64 - 1


@dataclass
class BatchOptions:
    """The backend settings that shape a submission."""

    proxy_user: Optional[str] = None
    queue: Optional[str] = None


def create_batch(key: str, app: Application, opts: BatchOptions) -> dict[str, Any]:
    """The `POST /batches` body for submitting `app` under `key`.

    The batch's `name` is the key (Livy lists batches with their name, so
    `find` can match it, and refuses a second live batch of the same name),
    so the application's name travels as `spark.app.name`. Resources become
    Livy's own fields (spark-submit's `--driver-memory` and friends, which win
    over the same keys in conf). The driver's environment becomes the
    properties YARN and Kubernetes read it from in cluster mode, unless the
    application's conf sets them. `archives` comes from `spark.archives` in
    the conf, which Livy would otherwise pass on as is.
    """
    conf: dict[str, str] = {}
    for k, v in app.conf:
        conf[k] = v
    archives = split_list(conf.pop("spark.archives", ""))
    conf.setdefault("spark.app.name", app.name)
    for k, v in app.env:
        for prefix in ("spark.yarn.appMasterEnv.", "spark.kubernetes.driverEnv."):
            conf.setdefault(prefix + k, v)
    conf[SUBMISSION_KEY_CONF] = key
    queue = opts.queue if opts.queue is not None else conf.pop("spark.yarn.queue", None)
    main_class = app.main_class if app.main_class is not None and app.main_class.strip() else None

    body: dict[str, Any] = {"file": app.resource}
    optional: list[tuple[str, Any]] = [
        ("className", main_class),
        ("args", list(app.args) or None),
        ("jars", list(app.jars) or None),
        ("pyFiles", list(app.py_files) or None),
        ("files", list(app.files) or None),
        ("archives", archives or None),
        ("driverMemory", mb(app.driver.memory_mb)),
        ("driverCores", app.driver.cores),
        ("executorMemory", mb(app.executor.memory_mb)),
        ("executorCores", app.executor.cores),
        ("numExecutors", app.executor.instances),
        ("queue", queue),
    ]
    body.update((k, v) for k, v in optional if v is not None)
    body["name"] = key
    # The application's own proxy user wins over the backend's default.
    proxy_user = app.proxy_user if app.proxy_user is not None else opts.proxy_user
    if proxy_user is not None:
        body["proxyUser"] = proxy_user
    if conf:
        body["conf"] = dict(sorted(conf.items()))
    return body


def mb(memory_mb: Optional[int]) -> Optional[str]:
    return None if memory_mb is None else f"{memory_mb}m"


def split_list(text: str) -> list[str]:
    return [s.strip() for s in text.split(",") if s.strip()]


class ParseError(ValueError):
    """A reply that is JSON but not the shape Livy's API has."""


def _field(obj: dict, key: str, kind: type, default: Any = None, required: bool = False) -> Any:
    if key not in obj or obj[key] is None:
        if required:
            raise ParseError(f"missing field `{key}`")
        return default
    value = obj[key]
    if kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_ID
    else:
        ok = isinstance(value, kind)
    if not ok:
        raise ParseError(f"field `{key}` is {type(value).__name__}, not {kind.__name__}: {value!r}")
    return value


def _strings(obj: dict, key: str) -> list[str]:
    value = _field(obj, key, list, default=[])
    if not all(isinstance(s, str) for s in value):
        raise ParseError(f"field `{key}` is not a list of strings")
    return value


def _object(value: Any, what: str) -> dict:
    if not isinstance(value, dict):
        raise ParseError(f"{what} is not a JSON object")
    return value


@dataclass
class Batch:
    """A batch object (`POST /batches`, `GET /batches/{id}`, list entries)."""

    id: int
    state: str
    name: Optional[str] = None
    app_id: Optional[str] = None
    app_info: dict[str, Optional[str]] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)  # the most recent log lines

    @staticmethod
    def parse(value: Any) -> "Batch":
        obj = _object(value, "the batch")
        info = _field(obj, "appInfo", dict, default={})
        if not all(v is None or isinstance(v, str) for v in info.values()):
            raise ParseError("field `appInfo` is not a map of strings")
        return Batch(
            id=_field(obj, "id", int, required=True),
            state=_field(obj, "state", str, required=True),
            name=_field(obj, "name", str),
            app_id=_field(obj, "appId", str),
            app_info=dict(info),
            log=_strings(obj, "log"),
        )


@dataclass
class BatchList:
    """`GET /batches?from=&size=`."""

    start: int = 0
    total: int = 0
    sessions: list[Batch] = field(default_factory=list)

    @staticmethod
    def parse(value: Any) -> "BatchList":
        obj = _object(value, "the batch list")
        sessions = _field(obj, "sessions", list, default=[])
        return BatchList(
            start=_field(obj, "from", int, default=0),
            total=_field(obj, "total", int, default=0),
            sessions=[Batch.parse(b) for b in sessions],
        )

    def next_from(self) -> Optional[int]:
        """Where the next page starts, or None after the last one."""
        nxt = self.start + len(self.sessions)
        return nxt if self.sessions and nxt < self.total else None


@dataclass
class LogPage:
    """`GET /batches/{id}/log?from=&size=`: lines, not bytes; `total` is the
    log's line count (some Livy versions leave it out)."""

    start: int = 0
    total: Optional[int] = None
    log: list[str] = field(default_factory=list)

    @staticmethod
    def parse(value: Any) -> "LogPage":
        obj = _object(value, "the log page")
        return LogPage(
            start=_field(obj, "from", int, default=0),
            total=_field(obj, "total", int),
            log=_strings(obj, "log"),
        )


def parse_id(id_: str) -> int:
    """The cluster id drover keeps for a batch: its id, in decimal."""
    text = id_.strip()
    digits = text[1:] if text.startswith("+") else text
    if digits.isascii() and digits.isdigit() and int(digits) <= MAX_ID:
        return int(digits)
    raise PluginError(INVALID, f"{quote(id_)} is not a Livy batch id (a non-negative integer)")


def phase(state: str) -> str:
    """drover's phase for a Livy batch state."""
    if state == "not_started":
        return SUBMITTED
    if state == "starting":
        return QUEUED
    if state in ("idle", "running", "busy", "shutting_down"):
        return RUNNING
    if state == "success":
        return SUCCEEDED
    if state in ("error", "dead"):
        return FAILED
    if state == "killed":
        return KILLED
    # "recovering" (the server restarted and is finding its batches again)
    # and states this plugin does not know: ask again later.
    return UNKNOWN


def is_terminal(p: str) -> bool:
    return p in (SUCCEEDED, FAILED, KILLED, LOST)


# Log lines a failed batch's message quotes.
MESSAGE_LINES = 5


def driver_status(batch: Batch) -> DriverStatus:
    """The driver status a batch object stands for. A failed batch's message
    quotes the end of its log, where spark-submit says why."""
    p = phase(batch.state)
    app = batch.app_id or None
    if p == FAILED:
        tail = [line.strip() for line in batch.log]
        tail = [line for line in tail if line and not is_section_marker(line)][-MESSAGE_LINES:]
        if tail:
            message = f"Livy batch {batch.id} ended {batch.state}: {excerpt(chr(10).join(tail), 1000)}"
        else:
            message = f"Livy batch {batch.id} ended {batch.state}"
    elif p == UNKNOWN and batch.state != "recovering":
        message = f"Livy batch {batch.id} is in state {quote(batch.state)}, which this plugin does not know"
    else:
        message = None if app is None else f"cluster application {app}"
    tracking = batch.app_info.get("sparkUiUrl") or batch.app_info.get("driverLogUrl") or None
    return DriverStatus(phase=p, raw_state=batch.state, message=message, tracking_url=tracking)


def is_section_marker(line: str) -> bool:
    """Livy's section headers in a batch log ("stdout: ", "stderr: ", "YARN Diagnostics: ")."""
    return line.rstrip(":") in ("stdout", "stderr", "YARN Diagnostics")


def find_in(batches: list[Batch], key: str) -> Optional[int]:
    """The newest batch named `key`, if any."""
    return max((b.id for b in batches if b.name == key), default=None)


def is_duplicate_name(e: PluginError) -> bool:
    """Whether a refused `POST /batches` says a batch of this name exists
    (Livy: "Duplicate session name"), i.e. an earlier try with the key went through."""
    return e.kind == REJECTED and "duplicate session name" in e.message.lower()


def log_bytes(lines: list[str]) -> bytes:
    """The log's bytes as drover reads them: each line and a newline."""
    return b"".join(line.encode("utf-8") + b"\n" for line in lines)


def log_chunk(data: bytes, offset: int, max_bytes: int, complete: bool) -> LogChunk:
    """The chunk from byte `offset` of `data`, at most `max_bytes` long.
    `complete` says `data` is the whole log (so its size is the total)."""
    size = len(data)
    start = min(offset, size)
    end = min(start + max_bytes, size)
    return LogChunk(data=data[start:end], next_offset=end, total=size if complete else None)


def stream_lines(lines: list[str], stream: str) -> list[str]:
    """The lines of `stream` in a Livy batch log. Livy writes spark-submit's
    output in sections, "stdout: " then "\\nstderr: " (then "\\nYARN
    Diagnostics: " on YARN, counted with stderr); a log without the headers
    is all stdout."""
    current = "stdout"
    out = []
    for line in lines:
        marker = line.strip().rstrip(":")
        if marker == "stdout":
            current = "stdout"
        elif marker in ("stderr", "YARN Diagnostics"):
            current = "stderr"
        elif current == stream:
            out.append(line)
    return out


def check_stream(stream: str) -> None:
    if stream not in ("stdout", "stderr"):
        raise PluginError(INVALID, f"log stream must be stdout or stderr, not {quote(stream)}")
