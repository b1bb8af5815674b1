// One DAG: its task graph coloured by a run (the latest, or the one picked in
// the grid), the grid of recent runs (columns) by tasks (rows), and, for a
// scheduled DAG, its backfills.

import { h, fill, square, time, duration, badge, runHref, taskHref } from '../dom.js';
import { get, dagPath } from '../api.js';
import { graph } from '../graph.js';
import { header, section, pauseSwitch, triggerButton } from './common.js';
import { taskFilter, windowed } from './tasklist.js';
import { backfillCard } from './backfill.js';

const RUNS = 25;
const ROW = 24;

export function dagPage(view, { params: [dagId], refresh }) {
  let picked = null; // run id shown in the graph; null: the latest
  let last = null;
  // The search lives outside what a redraw replaces, so typing keeps its focus.
  const filter = taskFilter(() => last && render());
  // So does the backfill form, below what a redraw replaces: a live update
  // while a date is typed leaves it alone.
  const backfill = backfillCard(dagId, refresh);
  const main = h('div', {});
  const body = h('div', {}, main, backfill.el);

  const render = () => {
    const { dag, runs, backfills } = last;
    const shown = runs.find(r => r.dag_run_id === picked) || runs[0] || null;
    const states = shown ? Object.fromEntries(Object.entries(shown.task_instances).map(([t, ti]) => [t, ti?.state])) : {};
    const filtering = filter.text || filter.state;
    const keep = filtering ? (t, st) => filter.keeps(t, st) : null;
    const tasks = keep ? dag.tasks.filter(t => keep(t.task_id, states[t.task_id])) : dag.tasks;
    if (body.parentNode !== view) fill(view, body);
    // A manual DAG has nothing to backfill; the card stays for backfills it had when it was scheduled.
    backfill.el.hidden = !dag.timetable_summary && !backfills.length;
    backfill.update(dag, backfills);
    fill(main,
      header([['DAGs', '#/'], [dag.dag_id]],
        h('span', { class: 'muted small' }, dag.is_paused ? 'paused' : 'scheduled'),
        pauseSwitch(dag, refresh),
        triggerButton(dag)),
      h('div', { class: 'summary' },
        dag.description ? h('p', {}, dag.description) : null,
        h('div', { class: 'inline-facts' },
          h('span', {}, 'schedule ', dag.timetable_summary ? h('code', {}, dag.timetable_summary) : h('b', {}, 'manual')),
          dag.timetable_summary ? h('span', {}, 'next run ', time(dag.next_dagrun_logical_date)) : null,
          h('span', {}, `${dag.tasks.length} task${dag.tasks.length === 1 ? '' : 's'}`),
          dag.tags?.length ? h('span', {}, dag.tags.map(t => h('span', { class: 'tag' }, t.name))) : null)),
      h('div', { class: 'card filter-card' }, filter.el,
        filtering ? h('span', { class: 'muted small', 'data-testid': 'task-matches' }, ` ${tasks.length} of ${dag.tasks.length} tasks match`) : null),
      section(null, { 'data-testid': 'dag-graph' },
        h('h2', {}, 'Graph',
          shown
            ? [h('span', { class: 'muted' }, ' · run '), h('a', { href: runHref(dag.dag_id, shown.dag_run_id) }, shown.dag_run_id), ' ', badge(shown.state)]
            : h('span', { class: 'muted' }, ' · no runs yet')),
        graph(dag, shown?.dag_run_id, states, keep)),
      section(`Recent runs`, { 'data-testid': 'dag-grid' }, runs.length ? [grid(dag, tasks, runs, shown, id => {
        picked = id;
        render();
      }), legend()] : h('p', { class: 'muted' }, 'No runs yet.')));
  };

  return {
    dagId,
    async refresh() {
      const [dag, runs, { backfills }] = await Promise.all([
        get(dagPath(dagId)), gridRuns(dagId), get(`/api/v2/backfills?dag_id=${encodeURIComponent(dagId)}`)]);
      last = { dag, runs, backfills };
      render();
    },
  };
}

/** Recent runs, newest first, each with `task_instances: {task_id: {state, try_number}}`. */
async function gridRuns(dagId) {
  const { runs } = await get(`${dagPath(dagId)}/grid?limit=${RUNS}`);
  return runs;
}

/** Tasks down, runs across (oldest left); a column header picks the run the graph shows. */
function grid(dag, tasks, runs, shown, pick) {
  const cols = [...runs].reverse();
  if (tasks.length > 100) return bigGrid(dag, tasks, cols, shown, pick);
  return h('div', { class: 'grid-wrap' },
    h('table', { class: 'grid' },
      h('thead', {}, h('tr', {},
        h('th', { class: 'task-col' }, h('span', { class: 'muted small' }, 'task \\ run')),
        cols.map(r => h('th', { class: r === shown ? 'picked' : null },
          h('button', {
            type: 'button', class: `bar s-${r.state}`, 'data-testid': `grid-run-${r.dag_run_id}`,
            title: `${r.dag_run_id}\n${r.state}; ${duration(r.end_date && r.start_date ? (new Date(r.end_date) - new Date(r.start_date)) / 1000 : null)}\nclick: show in the graph`,
            onclick: () => pick(r.dag_run_id),
          }))))),
      h('tbody', {}, tasks.map(t => h('tr', {},
        h('th', { class: 'task-col' }, t.task_id),
        cols.map(r => {
          const ti = r.task_instances[t.task_id];
          return h('td', { class: r === shown ? 'picked' : null },
            square(ti?.state, taskHref(dag.dag_id, r.dag_run_id, t.task_id), `${t.task_id} in ${r.dag_run_id}`,
              { 'data-testid': `grid-cell-${t.task_id}` }));
        }))))));
}

/** The grid of a DAG of hundreds or thousands of tasks: only the rows in view exist. */
function bigGrid(dag, tasks, cols, shown, pick) {
  const head = h('div', { class: 'grid-head' },
    h('span', { class: 'task-name muted small' }, `${tasks.length} tasks \\ run`),
    cols.map(r => h('button', {
      type: 'button', class: `bar s-${r.state}${r === shown ? ' picked' : ''}`, 'data-testid': `grid-run-${r.dag_run_id}`,
      title: `${r.dag_run_id}\n${r.state}\nclick: show in the graph`, onclick: () => pick(r.dag_run_id),
    })));
  const rows = windowed(tasks.length, ROW, i => {
    const t = tasks[i];
    return h('div', { class: 'grid-row', 'data-testid': `grid-row-${t.task_id}` },
      h('span', { class: 'task-name', title: t.task_id }, t.task_id),
      cols.map(r => square(r.task_instances[t.task_id]?.state, taskHref(dag.dag_id, r.dag_run_id, t.task_id), `${t.task_id} in ${r.dag_run_id}`,
        { 'data-testid': `grid-cell-${t.task_id}` })));
  }, { attrs: { 'data-testid': 'grid-window' } });
  return h('div', { class: 'grid-wrap big' }, head, rows);
}

const LEGEND = ['success', 'running', 'failed', 'up_for_retry', 'upstream_failed', 'skipped', 'queued', null];

function legend() {
  return h('div', { class: 'legend muted small' },
    LEGEND.map(s => h('span', {}, square(s), (s || 'not started').replaceAll('_', ' '))));
}
