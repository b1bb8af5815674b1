// Everything running on every cluster now: the drivers whose tries have not
// ended, grouped by backend, with age, phase, cluster attempt and links;
// filtered by DAG and backend.

import { h, fill, badge, duration, taskHref, runHref, safeHref } from '../dom.js';
import { get } from '../api.js';
import { header, section } from './common.js';
import { pager } from './tasklist.js';

const PAGE = 100;

export function driversPage(view, { refresh }) {
  let offset = 0;
  const dag = h('input', { type: 'search', placeholder: 'DAG id', 'data-testid': 'drivers-dag', 'aria-label': 'only this DAG' });
  const backend = h('select', { 'data-testid': 'drivers-backend', 'aria-label': 'only this backend' }, h('option', { value: '' }, 'every backend'));
  const changed = () => {
    offset = 0;
    refresh();
  };
  dag.addEventListener('change', changed);
  backend.addEventListener('change', changed);
  const body = h('div', {});
  let built = false;
  return {
    async refresh() {
      const q = new URLSearchParams({ active: 'true', limit: PAGE, offset });
      if (dag.value.trim()) q.set('dag_id', dag.value.trim());
      if (backend.value) q.set('backend', backend.value);
      const [{ drivers, total_entries: total }, { backends }] = await Promise.all([get(`/api/v2/drivers?${q}`), get('/api/v2/backends')]);
      if (!built) {
        fill(view, header([['Drivers']], h('div', { class: 'task-filter' }, dag, backend)), body);
        built = true;
      }
      const picked = backend.value;
      fill(backend, h('option', { value: '' }, 'every backend'), backends.map(b => h('option', { value: b.name, selected: b.name === picked }, b.name)));
      const now = Date.now();
      const by = new Map();
      for (const d of drivers) (by.get(d.backend) || by.set(d.backend, []).get(d.backend)).push(d);
      fill(body,
        h('p', { class: 'muted', 'data-testid': 'drivers-total' }, `${total} driver${total === 1 ? '' : 's'} running or waiting on the clusters now`),
        [...by].map(([name, ds]) => section(`${name} (${ds.length})`, { 'data-testid': `drivers-backend-${name}` },
          h('table', { class: 'table' },
            h('thead', {}, h('tr', {}, ['task', 'run', 'phase', 'age', 'attempt', 'mode', 'cluster id', 'links'].map(c => h('th', {}, c)))),
            h('tbody', {}, ds.map(d => h('tr', { 'data-testid': `driver-row-${d.dag_id}-${d.task_id}` },
              h('td', {}, h('a', { href: taskHref(d.dag_id, d.dag_run_id, d.task_id) }, `${d.dag_id} › ${d.task_id}`)),
              h('td', {}, h('a', { href: runHref(d.dag_id, d.dag_run_id) }, d.dag_run_id)),
              h('td', {}, badge(d.state, { 'data-testid': 'driver-phase' }), d.raw_state ? h('code', { class: 'raw' }, d.raw_state) : null),
              h('td', { class: 'nowrap', 'data-testid': 'driver-age' }, duration((now - new Date(d.started_at)) / 1000)),
              h('td', {}, `try ${d.try_number}${d.cluster_attempt ? `, cluster attempt ${d.cluster_attempt}` : ''}`),
              h('td', {}, d.deploy_mode),
              h('td', {}, d.cluster_id ? h('code', {}, d.cluster_id) : h('span', { class: 'muted' }, '—')),
              h('td', {}, d.tracking_url ? h('a', { href: safeHref(d.tracking_url), target: '_blank', rel: 'noopener' }, 'cluster UI') : h('span', { class: 'muted' }, '—')))))))),
        pager(offset, PAGE, total, o => {
          offset = o;
          refresh();
        }, 'drivers-pager'));
    },
  };
}
