// The pure parts of the plugin, on Node's test runner (`npm test`): the
// batch Livy is sent, its states, logs, settings and validation. The
// wasi:http transport is tested by `drover plugins check --against`.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import * as api from '../src/api.js';
import { resolve } from '../src/batch.js';
import { PluginError, answerLost, unavailable, unparsedError } from '../src/errors.js';
import { Settings } from '../src/settings.js';
import { parseUrl } from '../src/url.js';
import { DEPLOY_MODE_HINT, problems } from '../src/validate.js';

const app = () => ({
  name: 'nightly etl',
  resource: 'hdfs:///jobs/etl.jar',
  mainClass: 'com.example.Etl',
  args: ['--day', '2026-01-01'],
  conf: [['spark.sql.shuffle.partitions', '8'], ['spark.archives', 'env.tar.gz#env, data.zip']],
  deployMode: 'cluster',
  driver: { memoryMb: 1024, cores: 1, instances: undefined },
  executor: { memoryMb: 2048, cores: 2, instances: 3 },
  jars: ['hdfs:///libs/a.jar'],
  files: ['conf.yaml'],
  pyFiles: [],
  env: [['TZ', 'UTC']],
});

test('the POST body carries the application and the key', () => {
  assert.deepEqual(api.createBatch('k-1', app(), { proxyUser: 'etl', queue: 'root.etl' }), {
    file: 'hdfs:///jobs/etl.jar',
    className: 'com.example.Etl',
    args: ['--day', '2026-01-01'],
    jars: ['hdfs:///libs/a.jar'],
    files: ['conf.yaml'],
    archives: ['env.tar.gz#env', 'data.zip'],
    driverMemory: '1024m',
    driverCores: 1,
    executorMemory: '2048m',
    executorCores: 2,
    numExecutors: 3,
    queue: 'root.etl',
    name: 'k-1',
    proxyUser: 'etl',
    conf: {
      'spark.app.name': 'nightly etl',
      'spark.drover.submissionKey': 'k-1',
      'spark.kubernetes.driverEnv.TZ': 'UTC',
      'spark.sql.shuffle.partitions': '8',
      'spark.yarn.appMasterEnv.TZ': 'UTC',
    },
  });
});

test('a minimal Python batch leaves unset fields out', () => {
  const a = {
    ...app(),
    resource: 'local:///app/main.py',
    mainClass: '  ',
    args: [],
    conf: [['spark.app.name', 'mine'], ['spark.yarn.queue', 'adhoc']],
    driver: { memoryMb: undefined, cores: undefined, instances: undefined },
    executor: { memoryMb: undefined, cores: undefined, instances: undefined },
    jars: [],
    files: [],
    env: [],
    pyFiles: ['deps.zip'],
  };
  assert.deepEqual(api.createBatch('k-2', a), {
    file: 'local:///app/main.py',
    pyFiles: ['deps.zip'],
    queue: 'adhoc',
    name: 'k-2',
    conf: { 'spark.app.name': 'mine', 'spark.drover.submissionKey': 'k-2' },
  });
});

test('Livy states map onto drover phases', () => {
  const cases = {
    not_started: 'submitted', starting: 'queued', recovering: 'unknown', idle: 'running', running: 'running',
    busy: 'running', shutting_down: 'running', success: 'succeeded', error: 'failed', dead: 'failed',
    killed: 'killed', exploded: 'unknown',
  };
  for (const [state, want] of Object.entries(cases)) assert.equal(api.phase(state), want, state);
});

test('a failed batch quotes the end of its log, without the section headers', () => {
  const st = api.driverStatus({
    id: 7, name: 'k-7', state: 'dead', appId: 'application_1_0007',
    appInfo: { driverLogUrl: 'http://nm/logs', sparkUiUrl: null },
    log: ['stdout: ', 'starting', '\nstderr: ', 'Exception in thread "main" java.lang.RuntimeException: boom'],
  });
  assert.equal(st.phase, 'failed');
  assert.equal(st.rawState, 'dead');
  assert.equal(st.trackingUrl, 'http://nm/logs');
  assert.equal(st.message, 'Livy batch 7 ended dead: starting\nException in thread "main" java.lang.RuntimeException: boom');
  const running = api.driverStatus({ id: 8, state: 'running', appId: 'application_1_0008' });
  assert.equal(running.message, 'cluster application application_1_0008');
});

test('find picks the newest batch with the key as its name, and pages end', () => {
  const page = {
    from: 0, total: 250,
    sessions: [
      { id: 1, name: 'k-1', state: 'dead' }, { id: 2, name: null, state: 'running' },
      { id: 5, name: 'k-1', state: 'running' }, { id: 3, name: 'k-10', state: 'running' },
    ],
  };
  assert.equal(api.findIn(page.sessions, 'k-1'), 5);
  assert.equal(api.findIn(page.sessions, 'k-2'), undefined);
  assert.equal(api.nextFrom(page), 4);
  assert.equal(api.nextFrom({ ...page, from: 246 }), undefined);
  assert.equal(api.nextFrom({ ...page, sessions: [] }), undefined);
});

test('ids are decimal batch ids', () => {
  assert.equal(api.parseId(' 42 '), 42);
  for (const bad of ['batch-1', '-1', '']) {
    assert.throws(() => api.parseId(bad), (e) => e.kind === 'invalid', bad);
  }
});

test('errors carry the plugin-error variant as their payload', () => {
  const e = new PluginError('not-found', 'gone');
  assert.deepEqual(e.payload, { tag: 'not-found', val: 'gone' });
  assert.equal(unparsedError(404, 'x', 'u', 'why').kind, 'not-found');
  assert.equal(unparsedError(503, '', 'u', 'why').kind, 'unavailable');
  assert.equal(unparsedError(429, '', 'u', 'why').kind, 'unavailable');
  assert.equal(unparsedError(400, 'Duplicate session name: k', 'u', 'why').kind, 'rejected');
  assert.equal(unparsedError(200, '<html>', 'u', 'why').kind, 'protocol');
  assert.ok(api.isDuplicateName(unparsedError(400, 'Rejected, Reason: Duplicate session name: Some(k-1)', 'u', '')));
  // A lost answer to a POST or DELETE may have been applied; to a GET it is just unavailable.
  assert.equal(answerLost('post', unavailable('reset')).kind, 'in-doubt');
  assert.equal(answerLost('delete', unavailable('reset')).kind, 'in-doubt');
  assert.equal(answerLost('get', unavailable('reset')).kind, 'unavailable');
});

test('log chunks are byte ranges of the stream lines', () => {
  const lines = ['stdout: ', 'one', 'two', '\nstderr: ', 'WARN x', '\nYARN Diagnostics: ', 'AM died'];
  const text = (s) => new TextDecoder().decode(api.logBytes(api.streamLines(lines, s)));
  assert.equal(text('stdout'), 'one\ntwo\n');
  assert.equal(text('stderr'), 'WARN x\nAM died\n');
  const bytes = api.logBytes(['one', 'two', 'three']);
  let c = api.logChunk(bytes, 0n, 6, true);
  assert.deepEqual([new TextDecoder().decode(c.data), c.nextOffset, c.total], ['one\ntw', 6n, 14n]);
  c = api.logChunk(bytes, 50n, 10, false);
  assert.deepEqual([c.data.length, c.nextOffset, c.total], [0, 14n, undefined]);
  assert.throws(() => api.checkStream('x'), (e) => e.kind === 'invalid');
});

test('status-many falls back per id, within a budget', () => {
  const ok = (raw) => ({ phase: 'running', rawState: raw });
  const out = resolve(['a', 'b', 'c'], [ok('L'), undefined, undefined], 1, 0, () => false, (id) => {
    if (id === 'b') throw new PluginError('not-found', 'gone');
    return ok('P');
  });
  assert.equal(out[0].rawState, 'L');
  assert.equal(out[1], undefined);
  assert.equal(out[2].phase, 'unknown');
});

test('validate names every problem at once, and refuses client and service mode', () => {
  const s = new Settings([['url', 'http://livy:8998'], ['queue', 'root etl']]);
  const a = { ...app(), resource: ' ', executor: { memoryMb: undefined, cores: 0, instances: undefined } };
  assert.deepEqual(problems(s, a).map((p) => p.field), ['backend.queue', 'resource', 'executor']);
  assert.deepEqual(problems(new Settings([]), app()).map((p) => p.field), ['backend.url']);
  for (const mode of ['client', 'service']) {
    const p = problems(new Settings([['url', 'http://livy:8998']]), { ...app(), deployMode: mode });
    assert.deepEqual(p.map((x) => x.field), ['deploy_mode']);
    assert.match(p[0].message, /cluster mode only/);
    assert.equal(p[0].hint, DEPLOY_MODE_HINT);
  }
  assert.equal(new Settings([['a', 'x'], ['a', '  ']]).get('a'), undefined);
});

test('URLs split as wasi:http wants them', () => {
  assert.deepEqual(parseUrl('http://h:8998/livy?x=1#f'), { https: false, authority: 'h:8998', host: 'h', pathWithQuery: '/livy?x=1' });
  assert.equal(parseUrl('HTTPS://[::1]:8443').host, '::1');
  for (const bad of ['spark://m:7077', 'm:6066', 'http://', 'http://u:p@h/']) {
    assert.throws(() => parseUrl(bad), (e) => e.kind === 'invalid', bad);
  }
});

test("the application's proxy user wins over the backend's", () => {
  const a = { ...app(), proxyUser: 'analyst' };
  assert.equal(api.createBatch('k-1', a, { proxyUser: 'etl' }).proxyUser, 'analyst');
  assert.equal(api.createBatch('k-1', app(), { proxyUser: 'etl' }).proxyUser, 'etl');
});
