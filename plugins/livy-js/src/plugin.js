// drover's Apache Livy plugin, in JavaScript: runs applications as Livy
// batches through its REST API (POST /batches, GET /batches/{id},
// GET /batches?from&size, DELETE /batches/{id}, GET /batches/{id}/log).
// Built into a WebAssembly component by componentize-js (`npm run build`)
// against the contract in wit/ (world `plugin-http`).
//
// Livy runs spark-submit in cluster mode for a batch, so the only deploy
// mode is `cluster`. drover's submission key is the batch's `name` (what
// `find` matches in Livy's batch list; Livy also refuses a second live batch
// of the same name) and the Spark property `spark.drover.submissionKey`.
//
// The component exports `drover:plugin/backend@0.1.0` as `backend`. Its
// calls are synchronous; a call that returns `result<T, plugin-error>`
// returns T or throws a PluginError (errors.js). The wire format and state
// mapping are in api.js, load-time checks in validate.js, HTTP in http.js.

import * as api from './api.js';
import { MAX_FALLBACKS, FALLBACK_WINDOW_MS, resolve } from './batch.js';
import { excerpt, invalid, protocol } from './errors.js';
import { json, request } from './http.js';
import { Settings } from './settings.js';
import { join, parseUrl } from './url.js';
import { DEPLOY_MODE, problems } from './validate.js';

/** The plugin's name and version, as drover shows them. */
const NAME = 'livy-js';
const VERSION = '0.1.0';
/** `GET /batches` pages `find` and `status-many` read at most. */
const LIST_PAGES = 50;
/** `GET /batches/{id}/log` pages one `logs` call reads at most. */
const LOG_PAGES = 100;

/** Requests to one backend's Livy server. */
class Client {
  constructor(settings) {
    this.url = settings.require('url');
    parseUrl(this.url);
  }

  /**
   * One exchange; a 2xx reply parsed as JSON, anything else mapped by its
   * status with Livy's message quoted. Mutating calls carry X-Requested-By,
   * which Livy wants when its CSRF protection is on.
   */
  call(method, path, body) {
    const url = join(this.url, path);
    const headers = [['accept', 'application/json']];
    if (body !== undefined) headers.push(['content-type', 'application/json']);
    if (method !== 'get') headers.push(['x-requested-by', 'drover']);
    return json(request(method, url, headers, body), url);
  }

  batch(id) {
    const path = `/batches/${id}`;
    const b = this.call('get', path);
    if (!api.isBatch(b)) throw notABatch(join(this.url, path), b);
    return b;
  }

  list(from) {
    const page = this.call('get', `/batches?from=${from}&size=${api.PAGE_SIZE}`);
    const sessions = Array.isArray(page?.sessions) ? page.sessions.filter(api.isBatch) : [];
    return { from: page?.from ?? 0, total: page?.total ?? 0, sessions };
  }

  /** The newest batch named `key`, reading the list page by page. */
  find(key) {
    let found;
    let from = 0;
    for (let i = 0; i < LIST_PAGES && from !== undefined; i++) {
      const page = this.list(from);
      const id = api.findIn(page.sessions, key);
      if (id !== undefined && (found === undefined || id > found)) found = id;
      from = api.nextFrom(page);
    }
    return found;
  }
}

/** A 2xx reply that is not a batch object: Livy answered something this plugin cannot read. */
function notABatch(url, value) {
  return protocol(`${url} answered something that is not a Livy batch: ${excerpt(JSON.stringify(value) ?? '', 200)}`);
}

export const backend = {
  describe() {
    return {
      name: NAME,
      version: VERSION,
      deployModes: ['cluster'],
      configKeys: [
        { name: 'url', description: "The Livy server's base URL, e.g. http://livy-server:8998.", required: true, secret: false },
        { name: 'proxy_user', description: "The user Livy runs each batch as (proxyUser); default: Livy's own.", required: false, secret: false },
        {
          name: 'queue',
          description: "The YARN queue of each batch; default: spark.yarn.queue in the application's conf, else the cluster's.",
          required: false,
          secret: false,
        },
      ],
    };
  },

  validate(settings, app) {
    return problems(new Settings(settings), app);
  },

  submit(settings, key, app) {
    const s = new Settings(settings);
    const client = new Client(s);
    if (app.deployMode !== 'cluster') {
      throw invalid(`deploy mode ${app.deployMode} is not supported: ${DEPLOY_MODE}`);
    }
    const body = JSON.stringify(api.createBatch(key, app, { proxyUser: s.get('proxy_user'), queue: s.get('queue') }));
    let batch;
    try {
      batch = client.call('post', '/batches', body);
    } catch (e) {
      // A live batch has the key as its name: an earlier try went through.
      if (e.kind !== undefined && api.isDuplicateName(e)) {
        const id = client.find(key);
        if (id !== undefined) return { tag: 'cluster', val: String(id) };
      }
      throw e;
    }
    if (!api.isBatch(batch)) throw notABatch(join(client.url, '/batches'), batch);
    return { tag: 'cluster', val: String(batch.id) };
  },

  find(settings, key) {
    const id = new Client(new Settings(settings)).find(key);
    return id === undefined ? undefined : String(id);
  },

  status(settings, id) {
    const client = new Client(new Settings(settings));
    return api.driverStatus(client.batch(api.parseId(id)));
  },

  // Livy's batch list, page by page, until every requested batch has shown
  // or the list ends; batches not shown are asked one by one, within a budget.
  statusMany(settings, ids) {
    const started = Date.now();
    const client = new Client(new Settings(settings));
    if (ids.length === 0) return [];
    const wanted = new Map();
    ids.forEach((id, i) => {
      try {
        wanted.set(api.parseId(id), i);
      } catch {
        // not a batch id: the per-id fallback says why
      }
    });
    const listed = ids.map(() => undefined);
    let seen = 0;
    let from = 0;
    for (let page = 0; page < LIST_PAGES && from !== undefined && seen < wanted.size; page++) {
      let reply;
      try {
        reply = client.list(from);
      } catch (e) {
        if (page === 0) throw e;
        // What the earlier pages showed stands; the rest is asked one by one.
        break;
      }
      for (const b of reply.sessions) {
        const i = wanted.get(b.id);
        if (i !== undefined && listed[i] === undefined) {
          listed[i] = api.driverStatus(b);
          seen += 1;
        }
      }
      from = api.nextFrom(reply);
    }
    return resolve(
      ids,
      listed,
      MAX_FALLBACKS,
      Math.floor(Date.now() / 1000),
      () => Date.now() - started >= FALLBACK_WINDOW_MS,
      (id) => api.driverStatus(client.batch(api.parseId(id))),
    );
  },

  kill(settings, id) {
    const client = new Client(new Settings(settings));
    client.call('delete', `/batches/${api.parseId(id)}`);
  },

  logs(settings, id, stream, offset, maxBytes) {
    api.checkStream(stream);
    const client = new Client(new Settings(settings));
    const batch = api.parseId(id);
    // Livy pages by lines, both streams in one log: read from the first line
    // until the stream's bytes asked for are in hand or the log ends.
    const want = offset + BigInt(maxBytes);
    const lines = [];
    let from = 0;
    let complete = false;
    for (let i = 0; i < LOG_PAGES; i++) {
      const page = client.call('get', `/batches/${batch}/log?from=${from}&size=${api.LOG_PAGE_LINES}`);
      const got = Array.isArray(page?.log) ? page.log : [];
      lines.push(...got);
      from = (page?.from ?? from) + got.length;
      const end = typeof page?.total === 'number' ? from >= page.total : got.length < api.LOG_PAGE_LINES;
      if (got.length === 0 || end) {
        complete = true;
        break;
      }
      if (BigInt(api.logBytes(api.streamLines(lines, stream)).length) >= want) break;
    }
    return api.logChunk(api.logBytes(api.streamLines(lines, stream)), offset, maxBytes, complete);
  },
};
