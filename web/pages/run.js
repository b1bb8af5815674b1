// One DAG run: its state, times, conf and params, the graph coloured by its
// task instances, a Gantt chart of its tries, and a page of its task
// instances (searchable, filtered by state) with their latest drivers.

import { h, fill, badge, time, duration, facts, json, taskHref, actionButton, flash } from '../dom.js';
import { get, patch, dagPath, runPath } from '../api.js';
import { graph } from '../graph.js';
import { header, section, dagLink } from './common.js';
import { taskFilter, pager } from './tasklist.js';
import { gantt } from '../gantt.js';

const PAGE = 50;

export function runPage(view, { params: [dagId, runId], refresh }) {
  let offset = 0;
  const filter = taskFilter(() => {
    offset = 0;
    refresh();
  });
  const body = h('div', {});
  let built = false;
  return {
    dagId,
    async refresh() {
      const q = new URLSearchParams({ limit: PAGE, offset });
      if (filter.text) q.set('task_display_name_pattern', filter.text);
      if (filter.state) q.set('state', filter.state);
      const [dag, run, { task_instances: tis, total_entries: total }, { task_instances: all }, { drivers }] = await Promise.all([
        get(dagPath(dagId)), get(runPath(dagId, runId)), get(`${runPath(dagId, runId)}/taskInstances?${q}`),
        // The graph's colours: the states of the tasks it can show.
        get(`${runPath(dagId, runId)}/taskInstances?limit=100${filter.text ? `&task_display_name_pattern=${encodeURIComponent(filter.text)}` : ''}${filter.state ? `&state=${filter.state}` : ''}`),
        get(`/api/v2/drivers?dag_id=${encodeURIComponent(dagId)}&dag_run_id=${encodeURIComponent(runId)}&limit=100`),
      ]);
      const states = Object.fromEntries([...all, ...tis].map(t => [t.task_id, t.state]));
      const open = run.state === 'running' || run.state === 'queued';
      if (!built) {
        fill(view, body, h('div', { class: 'card filter-card' }, filter.el), h('div', { 'data-testid': 'run-tasks' }));
        built = true;
      }
      const [, , tasksEl] = view.children;
      fill(tasksEl,
        section('Graph', {}, graph(dag, runId, states, filter.text || filter.state ? (t, st) => filter.keeps(t, st) : null)),
        section(`Task instances (${total})`, {}, tiTable(dag, runId, tis),
          pager(offset, PAGE, total, o => {
            offset = o;
            refresh();
          }, 'ti-pager')));
      fill(body,
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
        drivers.length ? section('Tries over time', { 'data-testid': 'run-gantt' }, gantt(dagId, runId, drivers)) : null);
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
