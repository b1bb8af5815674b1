// drover's plugin-error: how a failed call is returned, and how an HTTP
// answer that is not a success becomes one. Pure, so `npm test` runs it in
// Node.
//
// An export that returns `result<T, plugin-error>` returns T, or throws: the
// bindings componentize-js generates take the error case from the thrown
// value's `payload` (a plugin-error, `{ tag: 'invalid', val: message }`). Any
// other exception traps, and drover reports the call as crashed.

/** The variant's cases, as drover decides on retries from them. */
export const KINDS = ['invalid', 'unavailable', 'rejected', 'protocol', 'in-doubt', 'not-found', 'unsupported'];

export class PluginError extends Error {
  constructor(kind, message) {
    super(message);
    if (!KINDS.includes(kind)) throw new TypeError(`no plugin-error kind ${kind}`);
    this.kind = kind;
    this.payload = { tag: kind, val: message };
  }
}

export const invalid = (m) => new PluginError('invalid', m);
export const unavailable = (m) => new PluginError('unavailable', m);
export const rejected = (m) => new PluginError('rejected', m);
export const protocol = (m) => new PluginError('protocol', m);
export const notFound = (m) => new PluginError('not-found', m);

/** `s` trimmed and cut to at most `max` UTF-16 units, marked with an ellipsis. */
export function excerpt(s, max) {
  const t = String(s).trim();
  return t.length <= max ? t : `${t.slice(0, max)}…`;
}

/**
 * The error for a reply whose body could not be understood, chosen by its
 * status: 404 not-found, 429 and 5xx unavailable, other 4xx rejected, else
 * protocol; each names `url` and quotes the start of the body.
 */
export function unparsedError(status, bodyText, url, why) {
  const quoted = bodyText.trim() === '' ? 'an empty body' : JSON.stringify(excerpt(bodyText, 200));
  if (status === 404) return notFound(`${url} answered 404 Not Found: ${quoted}`);
  if (status === 429 || (status >= 500 && status <= 599)) {
    return unavailable(`${url} answered HTTP ${status}: ${quoted}`);
  }
  if (status >= 400 && status <= 499) return rejected(`${url} answered HTTP ${status}: ${quoted}`);
  return protocol(`${url} answered HTTP ${status} with a body that is not what was expected (${why}): ${quoted}`);
}

/**
 * A transport failure after a request that changes state was sent: the
 * cluster may have applied it, so it is in doubt (drover looks the
 * submission up by its key before sending it again), not unavailable.
 */
export function answerLost(method, err) {
  if (method === 'get' || err.kind !== 'unavailable') return err;
  return new PluginError('in-doubt', `${err.message}, after the request was sent: it may have been applied`);
}
