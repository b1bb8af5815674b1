// The API client: same-origin fetches (the session cookie goes along), JSON
// in and out, and one error type carrying the server's `detail`, `status`
// and, for a rejected trigger conf, the per-field `errors`.

export class ApiError extends Error {
  constructor(status, detail, errors = []) {
    super(detail);
    this.status = status;
    this.detail = detail;
    this.errors = errors;
  }
}

/** Called with the server's detail whenever a request answers 401. */
let onUnauthorized = () => {};
export function setUnauthorizedHandler(f) {
  onUnauthorized = f;
}

export async function request(method, path, body) {
  const init = { method, credentials: 'same-origin', headers: { accept: 'application/json' } };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, `drover is not reachable (${e.message})`);
  }
  const text = await resp.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!resp.ok) {
    const detail = data?.detail ?? (text.trim() || `${resp.status} ${resp.statusText}`);
    const err = new ApiError(resp.status, String(detail), Array.isArray(data?.errors) ? data.errors : []);
    if (resp.status === 401) onUnauthorized(err.detail);
    throw err;
  }
  return data;
}

export const get = path => request('GET', path);
export const post = (path, body) => request('POST', path, body);
export const patch = (path, body) => request('PATCH', path, body);

const enc = encodeURIComponent;
export const dagPath = dag => `/api/v2/dags/${enc(dag)}`;
export const runPath = (dag, run) => `${dagPath(dag)}/dagRuns/${enc(run)}`;
export const tiPath = (dag, run, task) => `${runPath(dag, run)}/taskInstances/${enc(task)}`;
