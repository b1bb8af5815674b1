// Livy's batch API on the wire: the `POST /batches` body an application
// stands for, the batch objects and list pages Livy answers, what a batch's
// state means to drover, and driver log bytes cut from Livy's log lines.
// Pure functions, tested with `npm test`.

import { excerpt, invalid } from './errors.js';

/** The Spark property that carries drover's submission key (besides the batch's name). */
export const SUBMISSION_KEY_CONF = 'spark.drover.submissionKey';
/** Batches per `GET /batches` page. */
export const PAGE_SIZE = 100;
/** Log lines per `GET /batches/{id}/log` page. */
export const LOG_PAGE_LINES = 1000;
/** Log lines a failed batch's message quotes. */
const MESSAGE_LINES = 5;

const splitList = (list) => list.split(',').map((s) => s.trim()).filter((s) => s !== '');

/**
 * The body for submitting `app` under `key`.
 *
 * The batch's `name` is the key (what `find` matches; Livy also refuses a
 * second live batch of the same name), so the application's name travels as
 * `spark.app.name`. Resources become Livy's own fields; the driver's
 * environment becomes the properties YARN and Kubernetes read it from in
 * cluster mode, unless the conf sets them; `archives` comes from
 * `spark.archives`. Unset fields are left out.
 */
export function createBatch(key, app, opts = {}) {
  const conf = new Map(app.conf);
  let archives = [];
  if (conf.has('spark.archives')) {
    archives = splitList(conf.get('spark.archives'));
    conf.delete('spark.archives');
  }
  if (!conf.has('spark.app.name')) conf.set('spark.app.name', app.name);
  for (const [k, v] of app.env) {
    for (const prefix of ['spark.yarn.appMasterEnv.', 'spark.kubernetes.driverEnv.']) {
      if (!conf.has(prefix + k)) conf.set(prefix + k, v);
    }
  }
  conf.set(SUBMISSION_KEY_CONF, key);
  let queue = opts.queue;
  if (queue === undefined && conf.has('spark.yarn.queue')) {
    queue = conf.get('spark.yarn.queue');
    conf.delete('spark.yarn.queue');
  }
  const mem = (mb) => (mb == null ? undefined : `${mb}m`);
  const body = {
    file: app.resource,
    className: app.mainClass != null && app.mainClass.trim() !== '' ? app.mainClass : undefined,
    args: app.args,
    jars: app.jars,
    pyFiles: app.pyFiles,
    files: app.files,
    archives,
    driverMemory: mem(app.driver.memoryMb),
    driverCores: app.driver.cores ?? undefined,
    executorMemory: mem(app.executor.memoryMb),
    executorCores: app.executor.cores ?? undefined,
    numExecutors: app.executor.instances ?? undefined,
    queue,
    name: key,
    // The application's own proxy user (contract 0.2.0) wins over the backend's default.
    proxyUser: app.proxyUser ?? opts.proxyUser,
    conf: Object.fromEntries([...conf].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
  };
  for (const [k, v] of Object.entries(body)) {
    if (v === undefined || (Array.isArray(v) && v.length === 0)) delete body[k];
  }
  if (Object.keys(body.conf).length === 0) delete body.conf;
  return body;
}

/** The cluster id drover keeps for a batch: its id, in decimal. */
export function parseId(id) {
  const t = String(id).trim();
  if (!/^\d+$/.test(t)) {
    throw invalid(`${JSON.stringify(id)} is not a Livy batch id (a non-negative integer)`);
  }
  return Number(t);
}

/** drover's phase for a Livy batch state. */
export function phase(state) {
  switch (state) {
    case 'not_started': return 'submitted';
    case 'starting': return 'queued';
    case 'idle': case 'running': case 'busy': case 'shutting_down': return 'running';
    case 'success': return 'succeeded';
    case 'error': case 'dead': return 'failed';
    case 'killed': return 'killed';
    // "recovering" (the server restarted and is finding its batches again)
    // and states this plugin does not know: ask again later.
    default: return 'unknown';
  }
}

export const isTerminal = (p) => ['succeeded', 'failed', 'killed', 'lost'].includes(p);

/** Livy's section headers in a batch log ("stdout: ", "stderr: ", "YARN Diagnostics: "). */
const sectionOf = (line) => line.trim().replace(/:+$/, '');
const isSectionMarker = (line) => ['stdout', 'stderr', 'YARN Diagnostics'].includes(sectionOf(line));

/**
 * The driver-status a batch object stands for (fields as the WIT record, in
 * camelCase). A failed batch's message quotes the end of its log, where
 * spark-submit says why.
 */
export function driverStatus(batch) {
  const p = phase(batch.state);
  const appId = batch.appId ? batch.appId : undefined;
  let message;
  if (p === 'failed') {
    const tail = (batch.log ?? []).map((l) => l.trim()).filter((l) => l !== '' && !isSectionMarker(l));
    const last = tail.slice(Math.max(0, tail.length - MESSAGE_LINES));
    message = last.length === 0
      ? `Livy batch ${batch.id} ended ${batch.state}`
      : `Livy batch ${batch.id} ended ${batch.state}: ${excerpt(last.join('\n'), 1000)}`;
  } else if (p === 'unknown' && batch.state !== 'recovering') {
    message = `Livy batch ${batch.id} is in state ${JSON.stringify(batch.state)}, which this plugin does not know`;
  } else if (appId) {
    message = `cluster application ${appId}`;
  }
  const info = (k) => {
    const u = batch.appInfo?.[k];
    return u ? u : undefined;
  };
  return {
    phase: p,
    rawState: batch.state,
    attempt: undefined,
    location: undefined,
    message,
    trackingUrl: info('sparkUiUrl') ?? info('driverLogUrl'),
  };
}

/** Whether a parsed reply is a batch object (an integer id and a state). */
export const isBatch = (v) => v !== null && typeof v === 'object' && Number.isInteger(v.id) && v.id >= 0 && typeof v.state === 'string';

/** Where the next `GET /batches` page starts, or undefined after the last one. */
export function nextFrom(page) {
  const sessions = page.sessions ?? [];
  const next = (page.from ?? 0) + sessions.length;
  return sessions.length > 0 && next < (page.total ?? 0) ? next : undefined;
}

/** The newest batch named `key` in a page, if any. */
export function findIn(batches, key) {
  let found;
  for (const b of batches) {
    if (b.name === key && (found === undefined || b.id > found)) found = b.id;
  }
  return found;
}

/**
 * Whether a refused `POST /batches` says a batch of this name exists (Livy:
 * "Duplicate session name"), i.e. an earlier try with the key went through.
 */
export const isDuplicateName = (e) => e.kind === 'rejected' && e.message.toLowerCase().includes('duplicate session name');

/**
 * The lines of `stream` in a Livy batch log. Livy writes spark-submit's
 * output in sections, "stdout: " then "\nstderr: " (then "\nYARN
 * Diagnostics: " on YARN, counted with stderr); a log without the headers is
 * all stdout.
 */
export function streamLines(lines, stream) {
  let current = 'stdout';
  const out = [];
  for (const line of lines) {
    const s = sectionOf(line);
    if (s === 'stdout') current = 'stdout';
    else if (s === 'stderr' || s === 'YARN Diagnostics') current = 'stderr';
    else if (current === stream) out.push(line);
  }
  return out;
}

/** The log's bytes as drover reads them: each line and a newline, UTF-8. */
export function logBytes(lines) {
  return new TextEncoder().encode(lines.map((l) => `${l}\n`).join(''));
}

/**
 * The log-chunk from byte `offset` (a BigInt, as u64 arrives) of `bytes`, at
 * most `maxBytes` long. `complete` says `bytes` is the whole log, so its size
 * is the total.
 */
export function logChunk(bytes, offset, maxBytes, complete) {
  const len = BigInt(bytes.length);
  const from = offset < len ? offset : len;
  let to = from + BigInt(maxBytes);
  if (to > len) to = len;
  return {
    data: bytes.slice(Number(from), Number(to)),
    nextOffset: to,
    total: complete ? len : undefined,
  };
}

export function checkStream(stream) {
  if (stream !== 'stdout' && stream !== 'stderr') {
    throw invalid(`log stream must be stdout or stderr, not ${JSON.stringify(stream)}`);
  }
}
