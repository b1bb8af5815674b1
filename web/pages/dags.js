// The DAG list: every DAG with its schedule, next run, recent runs, pause
// switch and trigger button, and the DAG files that failed to load.

import { h, fill, square, time, runHref, dagHref } from '../dom.js';
import { get, dagPath } from '../api.js';
import { header, section, pauseSwitch, triggerButton } from './common.js';
import { pager } from './tasklist.js';

const RECENT = 12;
const PAGE = 50;

export function dagsPage(view, { refresh }) {
  let offset = 0;
  return {
    async refresh() {
      const [{ dags, total_entries: total }, { import_errors: errors }] = await Promise.all([
        get(`/api/v2/dags?limit=${PAGE}&offset=${offset}`), get('/api/v2/importErrors?limit=100')]);
      const runs = await Promise.all(dags.map(d => get(`${dagPath(d.dag_id)}/dagRuns?limit=${RECENT}`)));
      fill(view,
        header([['DAGs']], h('span', { class: 'muted' }, `${total} DAG${total === 1 ? '' : 's'}`)),
        errors.length ? importErrors(errors) : null,
        section(null, {},
          h('table', { class: 'table dags', 'data-testid': 'dag-list' },
            h('thead', {}, h('tr', {},
              h('th', { class: 'narrow', title: 'on: scheduled; off: paused' }, 'on'),
              h('th', {}, 'DAG'), h('th', {}, 'schedule'), h('th', {}, 'next run'),
              h('th', {}, 'recent runs'), h('th', {}))),
            h('tbody', {}, dags.map((d, i) => row(d, runs[i].dag_runs, refresh))),
            dags.length ? null : h('tbody', {}, h('tr', {}, h('td', { colspan: 6, class: 'muted' }, 'No DAGs: add a TOML file to the DAG folder.')))),
          pager(offset, PAGE, total, o => {
            offset = o;
            refresh();
          })));
    },
  };
}

function row(dag, runs, refresh) {
  return h('tr', { 'data-testid': `dag-row-${dag.dag_id}`, 'data-dag-id': dag.dag_id, class: dag.is_paused ? 'paused' : null },
    h('td', {}, pauseSwitch(dag, refresh)),
    h('td', {},
      h('a', { class: 'dag-id', href: dagHref(dag.dag_id), 'data-testid': 'dag-link' }, dag.dag_id),
      (dag.tags || []).map(t => h('span', { class: 'tag' }, t.name)),
      dag.description ? h('div', { class: 'muted small' }, dag.description) : null),
    h('td', {}, dag.timetable_summary ? h('code', {}, dag.timetable_summary) : h('span', { class: 'muted' }, 'manual')),
    h('td', { class: 'nowrap' }, dag.timetable_summary && !dag.is_paused ? time(dag.next_dagrun_logical_date) : h('span', { class: 'muted' }, '—')),
    h('td', {}, h('div', { class: 'squares', 'data-testid': 'recent-runs' },
      runs.length
        ? [...runs].reverse().map(r => square(r.state, runHref(dag.dag_id, r.dag_run_id), r.dag_run_id))
        : h('span', { class: 'muted small' }, 'no runs yet'))),
    h('td', { class: 'right' }, triggerButton(dag)));
}

function importErrors(errors) {
  return section(`Import errors (${errors.length})`, { class: 'card errors', 'data-testid': 'import-errors' },
    errors.map(e => h('details', { open: errors.length <= 3 },
      h('summary', {}, h('code', {}, e.filename)),
      h('pre', { class: 'trace' }, e.stack_trace))));
}
