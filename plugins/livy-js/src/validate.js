// What Livy would refuse, found at DAG load time without a network call.

import { parseUrl } from './url.js';

/** Why a deploy mode other than cluster is refused. */
export const DEPLOY_MODE = 'Livy runs batches in cluster mode only: its server runs '
  + 'spark-submit --deploy-mode cluster, so the driver runs in the cluster, never in a '
  + 'process drover supervises, and the DAG chooses no service mode';
export const DEPLOY_MODE_HINT = 'use deploy_mode = "cluster"';

const problem = (field, message, hint) => ({ field, message, hint });

/** Every problem with `app` on a backend with `settings`; empty when fine. */
export function problems(settings, app) {
  const out = [];
  const url = settings.get('url');
  if (url === undefined) {
    out.push(problem(
      'backend.url',
      "the backend needs the url setting (the Livy server's address)",
      'set url = "http://livy-server:8998" on the backend',
    ));
  } else {
    try {
      parseUrl(url);
    } catch (e) {
      out.push(problem('backend.url', e.message, 'use http://host:port or https://host:port'));
    }
  }
  for (const key of ['proxy_user', 'queue']) {
    const v = settings.get(key);
    if (v !== undefined && /\s/.test(v)) {
      out.push(problem(
        `backend.${key}`,
        `${JSON.stringify(v)} has white space in it; Livy would pass it to spark-submit as it is`,
        `set ${key} to a single word, e.g. "etl"`,
      ));
    }
  }
  if (app.proxyUser !== undefined && /\s/.test(app.proxyUser)) {
    out.push(problem(
      'proxy_user',
      `${JSON.stringify(app.proxyUser)} has white space in it; Livy would pass it to spark-submit as it is`,
      'set proxy_user to a single word, e.g. "etl"',
    ));
  }
  if (app.deployMode !== 'cluster') {
    out.push(problem('deploy_mode', `deploy mode ${app.deployMode} is not supported: ${DEPLOY_MODE}`, DEPLOY_MODE_HINT));
  }
  if (app.resource.trim() === '') {
    out.push(problem(
      'resource',
      "Livy needs the application's file (the main jar or script) to create a batch",
      "set the task's jar or script to a path the Livy server's cluster can read, e.g. hdfs:///jobs/app.jar",
    ));
  }
  for (const [role, r] of [['driver', app.driver], ['executor', app.executor]]) {
    if (r.memoryMb === 0 || r.cores === 0) {
      out.push(problem(
        role,
        `the ${role}'s memory and cores must be more than zero`,
        'leave them out for the cluster\'s defaults, or use sizes like "512m" and whole core counts',
      ));
    }
  }
  return out;
}
