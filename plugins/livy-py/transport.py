"""HTTP over wasi:http's outgoing handler, the way the bindings componentize-py
generates from wit/ expose it, with failures mapped onto the contract's error
kinds exactly as drover's Rust SDK maps them (plugins/sdk/src/http.rs):

- nothing sent (connection refused, DNS, TLS, a host drover does not allow):
  unavailable; a malformed request: invalid; broken HTTP: protocol;
- the request was sent but its answer was lost (a reset, a timeout): for a
  GET unavailable, for a POST/PUT/PATCH/DELETE in-doubt (it may have been
  applied: drover looks the submission up by its key before sending it again).

Every call blocks on wasi:io pollables (a plugin call is synchronous); each
resource is released explicitly (`with`), children before parents, since
the host refuses to drop a resource that still has children.
"""

from __future__ import annotations

from typing import Optional

from componentize_py_types import Err, Ok
from wit_world.imports import outgoing_handler, streams
from wit_world.imports import wasi_http_types as w

import sdk
from sdk import PluginError, Response, UrlParts

# Larger replies are refused rather than buffered: a plugin runs under a memory cap.
MAX_RESPONSE_BYTES = 16 << 20

# Per-request timeouts, in nanoseconds (wasi:clocks durations). Advisory: a
# host that does not support one keeps its own; drover's call deadline
# bounds the whole call anyway.
CONNECT_TIMEOUT = 10 * 10**9
FIRST_BYTE_TIMEOUT = 60 * 10**9
BETWEEN_BYTES_TIMEOUT = 60 * 10**9

METHODS = {
    "GET": w.Method_Get,
    "POST": w.Method_Post,
    "PUT": w.Method_Put,
    "DELETE": w.Method_Delete,
    "PATCH": w.Method_Patch,
}


def request(method: str, url: str, headers: list[tuple[str, str]], body: Optional[bytes]) -> Response:
    """One HTTP exchange. A body (and, for POST/PUT/PATCH, an absent one) is
    sent with `content-length`: chunked uploads break some servers."""
    parts = sdk.parse_url(url)
    if body is None and method in ("POST", "PUT", "PATCH"):
        body = b""
    return send(method, url, parts, headers, body)


def send(method: str, url: str, parts: UrlParts, headers: list[tuple[str, str]], body: Optional[bytes]) -> Response:
    def invalid(what: str) -> PluginError:
        return PluginError(sdk.INVALID, f"cannot build a request to {url}: {what}")

    entries = [(k.lower(), v.encode("utf-8")) for k, v in headers]
    if body is not None:
        entries = [(k, v) for k, v in entries if k != "content-length"]
        entries.append(("content-length", str(len(body)).encode()))
    try:
        fields = w.Fields.from_list(entries)
    except Err as e:
        raise invalid(f"header: {type(e.value).__name__}") from None

    request = w.OutgoingRequest(fields)
    try:
        request.set_method(METHODS[method]())
        request.set_scheme(w.Scheme_Https() if parts.https else w.Scheme_Http())
        request.set_authority(parts.authority)
        request.set_path_with_query(parts.path_with_query)
    except Err:
        request.__exit__(None, None, None)
        raise invalid("method, scheme, authority or path") from None

    options = w.RequestOptions()
    for setter, nanos in (
        (options.set_connect_timeout, CONNECT_TIMEOUT),
        (options.set_first_byte_timeout, FIRST_BYTE_TIMEOUT),
        (options.set_between_bytes_timeout, BETWEEN_BYTES_TIMEOUT),
    ):
        try:
            setter(nanos)
        except Err:
            pass

    outgoing_body = request.body() if body is not None else None
    try:
        # `handle` takes the request and the options: they are the host's now.
        future = outgoing_handler.handle(request, options)
    except Err as e:
        if outgoing_body is not None:
            outgoing_body.__exit__(None, None, None)
        raise map_error(e.value, url, parts) from None

    with future:
        # The body is written after `handle`, so a body larger than the
        # host's pipe cannot block before anyone reads it.
        if outgoing_body is not None:
            write_body(method, url, parts, future, outgoing_body, body)

        with future.subscribe() as ready:
            ready.block()
        # From here on the request has been sent: a lost answer leaves a
        # request that changes state (a submission) in doubt.
        got = future.get()
        if isinstance(got, Ok) and isinstance(got.value, Ok):
            response = got.value.value
        elif isinstance(got, Ok) and isinstance(got.value, Err):
            raise after_send(method, got.value.value, url, parts)
        else:
            raise sdk.answer_lost(method, PluginError(sdk.UNAVAILABLE, f"no response from {url}"))
        with response:
            return read_response(method, url, response)


def write_body(method, url, parts, future, outgoing_body, body: bytes) -> None:
    try:
        stream = outgoing_body.write()
    except Err:
        outgoing_body.__exit__(None, None, None)
        raise PluginError(sdk.INVALID, f"cannot build a request to {url}: body stream") from None
    failed = None
    with stream:
        for i in range(0, len(body), 4096):
            try:
                stream.blocking_write_and_flush(body[i : i + 4096])
            except Err as e:
                failed = e.value
                break
    if failed is not None:
        outgoing_body.__exit__(None, None, None)
        # The real reason, if any, is on the response future: wait for it,
        # since the host may report a refused connection only after the body
        # stream has already failed.
        with future.subscribe() as ready:
            ready.block()
        code = response_error(future)
        if code is not None:
            raise after_send(method, code, url, parts)
        raise sdk.answer_lost(method, unavailable_stream(url, failed))
    try:
        w.OutgoingBody.finish(outgoing_body, None)
    except Err as e:
        raise after_send(method, e.value, url, parts) from None


def read_response(method: str, url: str, response: w.IncomingResponse) -> Response:
    status = response.status()
    with response.headers() as fields:
        headers = [(k.lower(), v.decode("utf-8", errors="replace")) for k, v in fields.entries()]
    try:
        incoming = response.consume()
    except Err:
        raise PluginError(sdk.PROTOCOL, f"the response from {url} has no body") from None
    chunks = []
    size = 0
    failed = None
    try:
        stream = incoming.stream()
    except Err:
        incoming.__exit__(None, None, None)
        raise PluginError(sdk.PROTOCOL, f"the response from {url} has no body") from None
    with stream:
        while True:
            try:
                chunk = stream.blocking_read(64 * 1024)
            except Err as e:
                if not isinstance(e.value, streams.StreamError_Closed):
                    failed = e.value
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > MAX_RESPONSE_BYTES:
                failed = "too large"
                break
    if failed is not None:
        incoming.__exit__(None, None, None)
        if failed == "too large":
            raise PluginError(sdk.PROTOCOL, f"the response from {url} is larger than {MAX_RESPONSE_BYTES} bytes")
        raise sdk.answer_lost(method, unavailable_stream(url, failed))
    trailers = w.IncomingBody.finish(incoming)
    trailers.__exit__(None, None, None)
    return Response(status=status, headers=headers, body=b"".join(chunks))


def response_error(future: w.FutureIncomingResponse):
    """The error code the response future already holds, if any."""
    got = future.get()
    if isinstance(got, Ok) and isinstance(got.value, Err):
        return got.value.value
    return None


# Failures where the connection never came about: the peer cannot have the request.
NEVER_CONNECTED = (
    w.ErrorCode_ConnectionRefused,
    w.ErrorCode_ConnectionTimeout,
    w.ErrorCode_DnsTimeout,
    w.ErrorCode_DnsError,
    w.ErrorCode_DestinationNotFound,
    w.ErrorCode_DestinationUnavailable,
    w.ErrorCode_DestinationIpProhibited,
    w.ErrorCode_DestinationIpUnroutable,
    w.ErrorCode_TlsProtocolError,
    w.ErrorCode_TlsCertificateError,
    w.ErrorCode_TlsAlertReceived,
    w.ErrorCode_HttpRequestDenied,
)


def after_send(method: str, code, url: str, parts: UrlParts) -> PluginError:
    """A transport failure once the request was handed over: unless the
    connection never came about, the peer may have received it."""
    err = map_error(code, url, parts)
    return err if isinstance(code, NEVER_CONNECTED) else sdk.answer_lost(method, err)


BAD_REQUEST = (
    w.ErrorCode_HttpRequestMethodInvalid,
    w.ErrorCode_HttpRequestUriInvalid,
    w.ErrorCode_HttpRequestUriTooLong,
    w.ErrorCode_HttpRequestHeaderSectionSize,
    w.ErrorCode_HttpRequestHeaderSize,
    w.ErrorCode_HttpRequestBodySize,
    w.ErrorCode_HttpRequestLengthRequired,
)
BAD_RESPONSE = (
    w.ErrorCode_HttpResponseIncomplete,
    w.ErrorCode_HttpResponseHeaderSectionSize,
    w.ErrorCode_HttpResponseHeaderSize,
    w.ErrorCode_HttpResponseBodySize,
    w.ErrorCode_HttpResponseTrailerSectionSize,
    w.ErrorCode_HttpResponseTrailerSize,
    w.ErrorCode_HttpResponseTransferCoding,
    w.ErrorCode_HttpResponseContentCoding,
    w.ErrorCode_HttpProtocolError,
)


def map_error(code, url: str, parts: UrlParts) -> PluginError:
    if isinstance(code, w.ErrorCode_HttpRequestDenied):
        kind = sdk.DENIED
    elif isinstance(code, BAD_REQUEST):
        kind = sdk.BAD_REQUEST
    elif isinstance(code, BAD_RESPONSE):
        kind = sdk.BAD_RESPONSE
    else:
        kind = sdk.UNREACHABLE
    return sdk.error_for(kind, in_words(code, parts.host), url, parts.host)


def unavailable_stream(url: str, e) -> PluginError:
    if isinstance(e, streams.StreamError_LastOperationFailed):
        with e.value as err:
            code = w.http_error_code(err)
            why = in_words(code, host_of(url)) if code is not None else err.to_debug_string()
    else:
        why = "connection closed"
    return PluginError(sdk.UNAVAILABLE, f"talking to {url} failed: {why}")


def host_of(url: str) -> str:
    rest = url.split("://", 1)[-1]
    for c in "/?#":
        rest = rest.split(c, 1)[0]
    return rest


def in_words(code, host: str) -> str:
    """A transport failure as a user knows it, naming the host. The host
    passes what wasi:http has no code for (TLS details, other socket errors)
    as an internal error's text, TLS ones starting `TLS error: `."""
    simple = {
        w.ErrorCode_ConnectionRefused: f"connection refused by {host}",
        w.ErrorCode_ConnectionTerminated: f"connection reset by {host}",
        w.ErrorCode_ConnectionTimeout: f"timed out connecting to {host}",
        w.ErrorCode_ConnectionReadTimeout: f"timed out waiting for {host} to answer",
        w.ErrorCode_HttpResponseTimeout: f"timed out waiting for {host} to answer",
        w.ErrorCode_ConnectionWriteTimeout: f"timed out sending to {host}",
        w.ErrorCode_ConnectionLimitReached: f"too many connections open to {host}",
        w.ErrorCode_DnsTimeout: f"DNS lookup of {host} timed out",
        w.ErrorCode_DestinationNotFound: f"{host} not found",
        w.ErrorCode_DestinationUnavailable: f"{host} is unreachable",
        w.ErrorCode_DestinationIpProhibited: f"the address of {host} is prohibited",
        w.ErrorCode_DestinationIpUnroutable: f"no route to {host}",
        w.ErrorCode_TlsProtocolError: f"TLS error with {host}",
        w.ErrorCode_TlsCertificateError: f"TLS error with {host}: its certificate is not trusted",
        w.ErrorCode_HttpResponseIncomplete: f"{host} closed the connection before answering in full",
        w.ErrorCode_HttpProtocolError: f"{host} answered with broken HTTP",
    }
    if type(code) in simple:
        return simple[type(code)]
    if isinstance(code, w.ErrorCode_DnsError):
        rcode = code.value.rcode
        return f"DNS lookup of {host} failed ({rcode})" if rcode else f"DNS lookup of {host} failed"
    if isinstance(code, w.ErrorCode_TlsAlertReceived):
        return f"TLS error with {host}: it sent alert {code.value.alert_message or '(no message)'}"
    if isinstance(code, w.ErrorCode_InternalError) and code.value is not None:
        if code.value.startswith("TLS error: "):
            return f"TLS error with {host}: {code.value[len('TLS error: '):]}"
        return f"{code.value} ({host})"
    name = type(code).__name__.removeprefix("ErrorCode_")
    value = getattr(code, "value", None)
    return name if value is None else f"{name}({value!r})"
