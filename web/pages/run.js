// One DAG run: its state, times, conf and params, the graph coloured by its
// task instances, and a row per task instance with its latest driver.

import { h, fill, badge, time, duration, facts, json, taskHref, actionButton, flash } from '../dom.js';
import { get, patch, dagPath, runPath } from '../api.js';
import { graph } from '../graph.js';
import { header, section, dagLink } from './common.js';

export function runPage(view, { params: [dagId, runId], refresh }) {
  return {
    dagId,
    async refresh() {
      const [dag, run, { task_instances: tis }] = await Promise.all([
        get(dagPath(dagId)), get(runPath(dagId, runId)), get(`${runPath(dagId, runId)}/taskInstances`),
      ]);
      const states = Object.fromEntries(tis.map(t => [t.task_id, t.state]));
      const open = run.state === 'running' || run.state === 'queued';
      fill(view,
        header([['DAGs', '#/'], [dagId, `#/dags/${encodeURIComponent(dagId)}`], [runId]],
          open ? actionButton('Mark failed', { class: 'danger small', 'data-testid': 'mark-failed', title: 'Kill its drivers and skip what has not started' }, async () => {
            try {
              await patch(runPath(dagId, runId), { state: 'failed' });
              flash('info', 'Run marked failed; its drivers are being killed.');
              refresh();
            } catch (e) {
              flash('error', `Could not mark the run failed: ${e.detail || e}`);
            }
          }) : null),
        h('div', { class: 'columns' },
          section('Run', { class: 'card' }, facts([
            ['state', badge(run.state, { 'data-testid': 'run-state', 'data-state': run.state })],
            ['DAG', dagLink(dagId)],
            ['run type', run.run_type],
            ['logical date', time(run.logical_date)],
            ['started', time(run.start_date)],
            ['ended', run.end_date ? time(run.end_date) : null],
            ['duration', run.duration !== null ? duration(run.duration) : null],
          ])),
          section('Params', { class: 'card', 'data-testid': 'run-params' },
            Object.keys(run.params || {}).length ? json(run.params) : h('p', { class: 'muted' }, 'none'),
            Object.keys(run.conf || {}).length
              ? h('details', { class: 'conf' }, h('summary', { class: 'muted small' }, 'conf, as triggered'), json(run.conf))
              : h('p', { class: 'muted small' }, 'Triggered without conf: every param has its default.'))),
        section('Graph', {}, graph(dag, runId, states)),
        section('Task instances', {}, tiTable(dag, runId, tis)));
    },
  };
}

function tiTable(dag, runId, tis) {
  const dagId = dag.dag_id;
  const planned = Object.fromEntries((dag.tasks || []).map(t => [t.task_id, t]));
  return h('table', { class: 'table', 'data-testid': 'task-instances' },
    h('thead', {}, h('tr', {}, ['task', 'state', 'try', 'driver', 'backend', 'mode', 'cluster id', 'started', 'duration'].map(c => h('th', {}, c)))),
    h('tbody', {}, tis.map(t => {
      const d = t.driver;
      const plan = planned[t.task_id] || {};
      return h('tr', { 'data-testid': `ti-row-${t.task_id}` },
        h('td', {}, h('a', { href: taskHref(dagId, runId, t.task_id), 'data-testid': 'ti-link' }, t.task_id)),
        h('td', {}, badge(t.state, { 'data-testid': 'ti-state', 'data-state': t.state || 'none' })),
        h('td', {}, t.try_number ? `${t.try_number} / ${t.max_tries + 1}` : '—'),
        h('td', {}, d ? [badge(d.state), d.raw_state ? h('code', { class: 'raw' }, d.raw_state) : null] : h('span', { class: 'muted' }, '—')),
        h('td', {}, d?.backend ?? plan.backend ?? '—'),
        h('td', {}, d?.deploy_mode ?? plan.deploy_mode ?? '—'),
        h('td', {}, d?.cluster_id ? h('code', {}, d.cluster_id) : h('span', { class: 'muted' }, '—')),
        h('td', { class: 'nowrap' }, time(t.start_date)),
        h('td', { class: 'nowrap' }, duration(t.duration)));
    })));
}
