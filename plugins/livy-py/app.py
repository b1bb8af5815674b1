"""drover's Apache Livy plugin, in Python: runs applications as Livy batches
through its REST API (`POST /batches`, `GET /batches/{id}`,
`GET /batches?from&size`, `DELETE /batches/{id}`,
`GET /batches/{id}/log?from&size`).

Livy runs spark-submit in cluster mode for a batch, so the only deploy mode
is `cluster`. drover's submission key is the batch's `name` (what `find`
matches in Livy's batch list; Livy also refuses a second live batch of the
same name) and the Spark property `spark.drover.submissionKey`. Livy's batch
log is lines of spark-submit output in a stdout and a stderr section; drover
reads each as bytes, one newline per line.

Built into a WebAssembly component with componentize-py against the world
`plugin-http` of the contract in wit/ (see build.sh). The class `Backend`
below is the exported interface `drover:plugin/backend@0.1.0`; the
contract's types come from the generated `wit_world` package and are met
only in this file: the wire format and state mapping live in api.py,
load-time checks in validate.py, plain helpers in sdk.py, HTTP over
wasi:http in transport.py.
"""

from __future__ import annotations

import json
import time
from typing import Optional

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import drover_plugin_types as t

import api
import sdk
import transport
import validate
from sdk import PluginError, Settings

# The name the plugin gives itself in `describe`, and its version.
NAME = "livy"
VERSION = "0.1.0"

# `GET /batches` pages `find` and `status_many` read at most.
LIST_PAGES = 50

# `GET /batches/{id}/log` pages one `logs` call reads at most.
LOG_PAGES = 100


class Backend(exports.Backend):
    def describe(self) -> t.Info:
        return t.Info(
            name=NAME,
            version=VERSION,
            deploy_modes=[t.DeployMode.CLUSTER],
            config_keys=[
                key("url", "The Livy server's base URL, e.g. http://livy-server:8998.", True),
                key("proxy_user", "The user Livy runs each batch as (proxyUser); default: Livy's own.", False),
                key(
                    "queue",
                    "The YARN queue of each batch; default: spark.yarn.queue in the "
                    "application's conf, else the cluster's.",
                    False,
                ),
            ],
        )

    def validate(self, settings: list[tuple[str, str]], app: t.Application) -> list[t.Problem]:
        return [t.Problem(p.field, p.message, p.hint) for p in validate.problems(Settings(settings), application(app))]

    def submit(self, settings: list[tuple[str, str]], key: str, app: t.Application) -> t.Submitted:
        with contract_errors():
            s = Settings(settings)
            client = Client(s)
            a = application(app)
            if a.deploy_mode != "cluster":
                raise PluginError(
                    sdk.INVALID, f"deploy mode {a.deploy_mode} is not supported: {validate.DEPLOY_MODE}"
                )
            opts = api.BatchOptions(proxy_user=s.get("proxy_user"), queue=s.get("queue"))
            body = api.create_batch(key, a, opts)
            try:
                batch = api.Batch.parse(client.call("POST", "/batches", body))
            except api.ParseError as e:
                raise client.unexpected("/batches", e) from None
            except PluginError as e:
                # A live batch has the key as its name: an earlier try went through.
                if not api.is_duplicate_name(e):
                    raise
                found = client.find(key)
                if found is None:
                    raise
                return t.Submitted_Cluster(str(found))
            return t.Submitted_Cluster(str(batch.id))

    def find(self, settings: list[tuple[str, str]], key: str) -> Optional[str]:
        with contract_errors():
            found = Client(Settings(settings)).find(key)
            return None if found is None else str(found)

    def status(self, settings: list[tuple[str, str]], id: str) -> t.DriverStatus:
        with contract_errors():
            client = Client(Settings(settings))
            return driver_status(api.driver_status(client.batch(api.parse_id(id))))

    def status_many(self, settings: list[tuple[str, str]], ids: list[str]) -> list[Optional[t.DriverStatus]]:
        """Livy's batch list, page by page, until every requested batch has
        shown or the list ends; batches not shown are asked one by one,
        within a budget."""
        with contract_errors():
            started = time.monotonic()
            client = Client(Settings(settings))
            if not ids:
                return []
            wanted: dict[int, int] = {}
            for i, id_ in enumerate(ids):
                try:
                    wanted[api.parse_id(id_)] = i
                except PluginError:
                    pass
            listed: list[Optional[sdk.DriverStatus]] = [None] * len(ids)
            seen = 0
            start: Optional[int] = 0
            for page in range(LIST_PAGES):
                if start is None or seen == len(wanted):
                    break
                try:
                    reply = client.list(start)
                except PluginError:
                    if page == 0:
                        raise
                    # What the earlier pages showed stands; the rest is asked one by one.
                    break
                for b in reply.sessions:
                    i = wanted.get(b.id)
                    if i is not None and listed[i] is None:
                        listed[i] = api.driver_status(b)
                        seen += 1
                start = reply.next_from()
            resolved = sdk.resolve(
                ids,
                listed,
                sdk.MAX_FALLBACKS,
                sdk.clock_rotation(),
                sdk.window_from(started),
                lambda id_: api.driver_status(client.batch(api.parse_id(id_))),
            )
            return [None if s is None else driver_status(s) for s in resolved]

    def kill(self, settings: list[tuple[str, str]], id: str) -> None:
        with contract_errors():
            client = Client(Settings(settings))
            client.call("DELETE", f"/batches/{api.parse_id(id)}")

    def logs(self, settings: list[tuple[str, str]], id: str, stream: str, offset: int, max_bytes: int) -> t.LogChunk:
        with contract_errors():
            api.check_stream(stream)
            client = Client(Settings(settings))
            batch_id = api.parse_id(id)
            # Livy pages by lines, both streams in one log: read from the first
            # line until the stream's bytes asked for are in hand or the log ends.
            want = offset + max_bytes
            lines: list[str] = []
            start = 0
            complete = False
            for _ in range(LOG_PAGES):
                path = f"/batches/{batch_id}/log?from={start}&size={api.LOG_PAGE_LINES}"
                try:
                    page = api.LogPage.parse(client.call("GET", path))
                except api.ParseError as e:
                    raise client.unexpected(path, e) from None
                got = len(page.log)
                lines.extend(page.log)
                start = page.start + got
                end = start >= page.total if page.total is not None else got < api.LOG_PAGE_LINES
                if got == 0 or end:
                    complete = True
                    break
                if len(api.log_bytes(api.stream_lines(lines, stream))) >= want:
                    break
            data = api.log_bytes(api.stream_lines(lines, stream))
            c = api.log_chunk(data, offset, max_bytes, complete)
            return t.LogChunk(data=c.data, next_offset=c.next_offset, total=c.total)


class Client:
    """Requests to one backend's Livy server."""

    def __init__(self, settings: Settings):
        self.url = settings.require("url")
        sdk.parse_url(self.url)

    def batch(self, batch_id: int) -> api.Batch:
        path = f"/batches/{batch_id}"
        try:
            return api.Batch.parse(self.call("GET", path))
        except api.ParseError as e:
            raise self.unexpected(path, e) from None

    def list(self, start: int) -> api.BatchList:
        path = f"/batches?from={start}&size={api.PAGE_SIZE}"
        try:
            return api.BatchList.parse(self.call("GET", path))
        except api.ParseError as e:
            raise self.unexpected(path, e) from None

    def find(self, key: str) -> Optional[int]:
        """The newest batch named `key`, reading the list page by page."""
        found: Optional[int] = None
        start: Optional[int] = 0
        for _ in range(LIST_PAGES):
            if start is None:
                break
            page = self.list(start)
            hit = api.find_in(page.sessions, key)
            if hit is not None and (found is None or hit > found):
                found = hit
            start = page.next_from()
        return found

    def call(self, method: str, path: str, body: Optional[dict] = None):
        """One exchange; a 2xx reply's JSON, anything else an error chosen by
        its status with Livy's message quoted. Mutating calls carry
        `X-Requested-By`, which Livy wants when its CSRF protection is on."""
        url = sdk.join(self.url, path)
        headers = [("accept", "application/json")]
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers.append(("content-type", "application/json"))
        if method != "GET":
            headers.append(("x-requested-by", "drover"))
        self.last = transport.request(method, url, headers, data)
        if self.last.is_success():
            return self.last.json(url)
        raise self.last.unparsed_error(url, "not a success")

    def unexpected(self, path: str, e: api.ParseError) -> PluginError:
        """A 2xx reply that is JSON, but not what Livy's API answers."""
        return self.last.unparsed_error(sdk.join(self.url, path), str(e))


def key(name: str, description: str, required: bool) -> t.ConfigKey:
    return t.ConfigKey(name=name, description=description, required=required, secret=False)


DEPLOY_MODES = {t.DeployMode.CLIENT: "client", t.DeployMode.CLUSTER: "cluster", t.DeployMode.SERVICE: "service"}


def application(app: t.Application) -> sdk.Application:
    """The contract's application as the plain one api.py and validate.py read."""

    def res(r: t.Resources) -> sdk.Resources:
        return sdk.Resources(memory_mb=r.memory_mb, cores=r.cores, instances=r.instances)

    return sdk.Application(
        name=app.name,
        resource=app.resource,
        main_class=app.main_class,
        args=list(app.args),
        conf=list(app.conf),
        deploy_mode=DEPLOY_MODES[app.deploy_mode],
        driver=res(app.driver),
        executor=res(app.executor),
        jars=list(app.jars),
        files=list(app.files),
        py_files=list(app.py_files),
        env=list(app.env),
        proxy_user=app.proxy_user,
    )


PHASES = {
    sdk.SUBMITTED: t.DriverPhase.SUBMITTED,
    sdk.QUEUED: t.DriverPhase.QUEUED,
    sdk.RUNNING: t.DriverPhase.RUNNING,
    sdk.SUCCEEDED: t.DriverPhase.SUCCEEDED,
    sdk.FAILED: t.DriverPhase.FAILED,
    sdk.KILLED: t.DriverPhase.KILLED,
    sdk.LOST: t.DriverPhase.LOST,
    sdk.UNKNOWN: t.DriverPhase.UNKNOWN,
}


def driver_status(s: sdk.DriverStatus) -> t.DriverStatus:
    return t.DriverStatus(
        phase=PHASES[s.phase],
        raw_state=s.raw_state,
        attempt=s.attempt,
        location=s.location,
        message=s.message,
        tracking_url=s.tracking_url,
    )


ERRORS = {
    sdk.INVALID: t.PluginError_Invalid,
    sdk.UNAVAILABLE: t.PluginError_Unavailable,
    sdk.REJECTED: t.PluginError_Rejected,
    sdk.PROTOCOL: t.PluginError_Protocol,
    sdk.IN_DOUBT: t.PluginError_InDoubt,
    sdk.NOT_FOUND: t.PluginError_NotFound,
    sdk.UNSUPPORTED: t.PluginError_Unsupported,
}


class contract_errors:
    """Turns a `PluginError` raised inside a call into the contract's
    `plugin-error` (componentize-py returns an `Err` raised by an export as
    the call's error result). Any other exception is a bug in the plugin and
    traps the call, with the traceback on stderr, which drover adds to the
    error it reports."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, value, traceback) -> bool:
        if isinstance(value, PluginError):
            raise Err(ERRORS[value.kind](value.message)) from None
        return False
