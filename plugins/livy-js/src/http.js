// One HTTP exchange over wasi:http, blocking, with failures mapped onto
// drover's plugin-error kinds as the Rust SDK maps them.
//
// An export of a componentize-js component is a synchronous call, so this
// does not use `fetch`: it imports wasi:http's outgoing-handler and types
// interfaces directly (the `plugin-http` world in wit/ declares them) and
// blocks on their pollables. That also gives what fetch hides: the
// transport's error code (a refused connection is `unavailable`; a reset
// after a POST is `in-doubt`, as the submission may have been applied), a
// content-length on every body, and per-request timeouts.

import { handle } from 'wasi:http/outgoing-handler@0.2.12';
import { Fields, OutgoingBody, OutgoingRequest, RequestOptions } from 'wasi:http/types@0.2.12';

import { answerLost, invalid, protocol, unavailable, unparsedError } from './errors.js';
import { parseUrl } from './url.js';

/** Larger replies are refused rather than buffered: a plugin runs under a memory cap. */
export const MAX_RESPONSE_BYTES = 16 << 20;
const SECOND_NS = 1_000_000_000n;
const CONNECT_TIMEOUT = 10n * SECOND_NS;
const FIRST_BYTE_TIMEOUT = 60n * SECOND_NS;
const BETWEEN_BYTES_TIMEOUT = 60n * SECOND_NS;

const encoder = new TextEncoder();
const dispose = Symbol.dispose ?? Symbol.for('dispose');
const drop = (resource) => resource?.[dispose]?.();

/**
 * Sends `method` ('get', 'post', 'delete', ...) to `url` with `headers`
 * ([name, value] pairs) and `body` (a string, or undefined); answers
 * `{ status, headers, body }` with the body as text. A body, and for POST,
 * PUT and PATCH an absent one, is sent with content-length.
 */
export function request(method, url, headers, body) {
  const parts = parseUrl(url);
  const bad = (what) => invalid(`cannot build a request to ${url}: ${what}`);
  let bytes = body === undefined ? undefined : encoder.encode(body);
  if (bytes === undefined && ['post', 'put', 'patch'].includes(method)) bytes = new Uint8Array();

  const entries = headers
    .filter(([k]) => bytes === undefined || k.toLowerCase() !== 'content-length')
    .map(([k, v]) => [k.toLowerCase(), encoder.encode(v)]);
  if (bytes !== undefined) entries.push(['content-length', encoder.encode(String(bytes.length))]);
  let fields;
  try {
    fields = Fields.fromList(entries);
  } catch (e) {
    throw bad(`header: ${JSON.stringify(e.payload ?? e.message)}`);
  }
  const req = new OutgoingRequest(fields);
  const set = (what, f) => {
    try {
      f();
    } catch {
      throw bad(what);
    }
  };
  set('method', () => req.setMethod({ tag: method }));
  set('scheme', () => req.setScheme({ tag: parts.https ? 'HTTPS' : 'HTTP' }));
  set('authority', () => req.setAuthority(parts.authority));
  set('path', () => req.setPathWithQuery(parts.pathWithQuery));

  // Timeouts are advisory: a host that does not support one keeps its own.
  const options = new RequestOptions();
  for (const [f, d] of [
    ['setConnectTimeout', CONNECT_TIMEOUT],
    ['setFirstByteTimeout', FIRST_BYTE_TIMEOUT],
    ['setBetweenBytesTimeout', BETWEEN_BYTES_TIMEOUT],
  ]) {
    try {
      options[f](d);
    } catch {
      // kept the host's
    }
  }

  const outgoing = bytes === undefined ? undefined : req.body();
  let future;
  try {
    future = handle(req, options);
  } catch (e) {
    throw mapError(e.payload, url, parts.host);
  }

  // The body is written after `handle`, so a body larger than the host's
  // pipe cannot block before anyone reads it.
  if (outgoing !== undefined) {
    const stream = outgoing.write();
    try {
      for (let at = 0; at < bytes.length; at += 4096) {
        stream.blockingWriteAndFlush(bytes.subarray(at, at + 4096));
      }
    } catch (e) {
      drop(stream);
      // The real reason, if any, is on the response future.
      const got = future.get();
      if (got?.tag === 'ok' && got.val.tag === 'err') throw afterSend(method, got.val.val, url, parts.host);
      throw answerLost(method, streamError(url, parts.host, e));
    }
    drop(stream);
    try {
      OutgoingBody.finish(outgoing, undefined);
    } catch (e) {
      throw afterSend(method, e.payload, url, parts.host);
    }
  }

  const pollable = future.subscribe();
  pollable.block();
  drop(pollable);
  // From here on the request has been sent: a lost answer leaves a request
  // that changes state (a submission) in doubt.
  const got = future.get();
  if (got === undefined || got.tag === 'err') {
    throw answerLost(method, unavailable(`no response from ${url}`));
  }
  if (got.val.tag === 'err') throw afterSend(method, got.val.val, url, parts.host);
  const response = got.val.val;

  const status = response.status();
  const replyHeaders = response.headers().entries().map(([k, v]) => [k.toLowerCase(), new TextDecoder().decode(v)]);
  let incoming;
  let stream;
  try {
    incoming = response.consume();
    stream = incoming.stream();
  } catch {
    throw protocol(`the response from ${url} has no body`);
  }
  const chunks = [];
  let size = 0;
  for (;;) {
    let chunk;
    try {
      chunk = stream.blockingRead(65536n);
    } catch (e) {
      if (e.payload?.tag === 'closed') break;
      throw answerLost(method, streamError(url, parts.host, e));
    }
    size += chunk.length;
    if (size > MAX_RESPONSE_BYTES) {
      throw protocol(`the response from ${url} is larger than ${MAX_RESPONSE_BYTES} bytes`);
    }
    chunks.push(chunk);
  }
  drop(stream);
  const all = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length;
  }
  return { status, headers: replyHeaders, body: new TextDecoder().decode(all) };
}

/**
 * A 2xx reply parsed as JSON; anything else mapped by its status (see
 * `unparsedError`), and a 2xx that is not JSON is a protocol error.
 */
export function json(reply, url) {
  if (reply.status >= 200 && reply.status < 300) {
    try {
      return JSON.parse(reply.body);
    } catch (e) {
      throw unparsedError(reply.status, reply.body, url, e.message);
    }
  }
  throw unparsedError(reply.status, reply.body, url, 'not a success');
}

/** Error codes after which the request never reached the peer. */
const NEVER_CONNECTED = new Set([
  'connection-refused', 'connection-timeout', 'dns-timeout', 'dns-error', 'destination-not-found',
  'destination-unavailable', 'destination-ip-prohibited', 'destination-ip-unroutable',
  'tls-protocol-error', 'tls-certificate-error', 'tls-alert-received', 'http-request-denied',
]);

/** A transport failure once the request was handed over: unless the connection never came about, the peer may have it. */
function afterSend(method, code, url, host) {
  const err = mapError(code, url, host);
  return NEVER_CONNECTED.has(tagOf(code)) ? err : answerLost(method, err);
}

// Tags are the WIT case names (`HTTP-request-denied`); compared lower-cased.
const tagOf = (code) => String(code?.tag ?? '').toLowerCase();

function mapError(code, url, host) {
  const tag = tagOf(code);
  const detail = inWords(code, host);
  if (tag === 'http-request-denied') {
    return unavailable(`request to ${host} denied by drover: add it to the backend's allowed_hosts`);
  }
  if (['http-request-method-invalid', 'http-request-uri-invalid', 'http-request-uri-too-long',
    'http-request-header-section-size', 'http-request-header-size', 'http-request-body-size',
    'http-request-length-required'].includes(tag)) {
    return invalid(`request to ${url} refused: ${detail}`);
  }
  if (tag.startsWith('http-response-') && tag !== 'http-response-timeout' || tag === 'http-protocol-error') {
    return protocol(`bad answer from ${url}: ${detail}`);
  }
  return unavailable(`cannot reach ${url}: ${detail}`);
}

function streamError(url, host, e) {
  const why = e?.payload?.tag === 'last-operation-failed' ? 'the connection failed' : 'connection closed';
  return unavailable(`talking to ${url} failed: ${why}`);
}

/** A transport failure as a user knows it, naming the host. */
function inWords(code, host) {
  switch (tagOf(code)) {
    case 'connection-refused': return `connection refused by ${host}`;
    case 'connection-terminated': return `connection reset by ${host}`;
    case 'connection-timeout': return `timed out connecting to ${host}`;
    case 'connection-read-timeout':
    case 'http-response-timeout': return `timed out waiting for ${host} to answer`;
    case 'connection-write-timeout': return `timed out sending to ${host}`;
    case 'connection-limit-reached': return `too many connections open to ${host}`;
    case 'dns-timeout': return `DNS lookup of ${host} timed out`;
    case 'dns-error': return `DNS lookup of ${host} failed${code.val?.rcode ? ` (${code.val.rcode})` : ''}`;
    case 'destination-not-found': return `${host} not found`;
    case 'destination-unavailable': return `${host} is unreachable`;
    case 'destination-ip-prohibited': return `the address of ${host} is prohibited`;
    case 'destination-ip-unroutable': return `no route to ${host}`;
    case 'tls-protocol-error': return `TLS error with ${host}`;
    case 'tls-certificate-error': return `TLS error with ${host}: its certificate is not trusted`;
    case 'tls-alert-received': return `TLS error with ${host}: it sent alert ${code.val?.alertMessage ?? '(no message)'}`;
    case 'http-response-incomplete': return `${host} closed the connection before answering in full`;
    case 'http-protocol-error': return `${host} answered with broken HTTP`;
    case 'internal-error': {
      const m = code.val;
      if (!m) return `internal error (${host})`;
      return m.startsWith('TLS error: ') ? `TLS error with ${host}: ${m.slice(11)}` : `${m} (${host})`;
    }
    default: return JSON.stringify(code, (_, v) => (typeof v === 'bigint' ? String(v) : v));
  }
}
