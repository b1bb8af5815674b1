// The DAG page's backfill card: a form for a run at every schedule tick of a
// date range (Preview asks the server's dry run, Create makes it), and the
// DAG's backfills with their progress and Pause/Unpause/Cancel. The card is
// built once per page and lives outside what a refresh redraws, so what is
// typed into the form survives live updates; `update()` redraws only the list.

import { h, fill, notice, actionButton, time } from '../dom.js';
import { post, request, ApiError } from '../api.js';

const REPROCESS = [
  ['none', 'Only ticks without a run get one.'],
  ['failed', 'Ticks whose run failed run again too.'],
  ['completed', 'Every tick whose run has ended runs again.'],
];

/** How many logical dates a preview lists one by one. */
const LISTED = 5;

const pad = n => String(n).padStart(2, '0');

/** A tick in UTC: the day alone at midnight, `2026-01-01`, else with its time, `2026-01-01 06:30`. */
function tick(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  const day = `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
  const midnight = !d.getUTCHours() && !d.getUTCMinutes() && !d.getUTCSeconds();
  return midnight ? day : `${day} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
}

/** A labelled input with its help and error lines, as the trigger form lays them out. */
function field(key, label, input, help, check = false) {
  const id = `backfill-${key}`;
  input.id = id;
  input.setAttribute('data-testid', id);
  input.setAttribute('aria-describedby', `${id}-help ${id}-error`);
  const helpEl = h('div', { class: 'help', id: `${id}-help` }, help);
  const error = h('div', { class: 'field-error', id: `${id}-error`, 'data-testid': `${id}-error`, hidden: true });
  const row = h('div', { class: `field${check ? ' check' : ''}` }, h('label', { for: id }, label), input, helpEl, error);
  const showError = msg => {
    fill(error, msg || '');
    error.hidden = !msg;
    row.classList.toggle('invalid', !!msg);
  };
  return { row, input, help: helpEl, showError };
}

/**
 * The backfill card of `dagId`'s page. `refresh()` asks the page to refresh
 * (after a backfill is made or changed). Returns `{ el, update(dag, backfills) }`.
 */
export function backfillCard(dagId, refresh) {
  const from = field('from', 'From', h('input', { type: 'date', required: true }), 'The first day (UTC, from midnight).');
  const to = field('to', 'To', h('input', { type: 'date', required: true }), 'The last day (UTC, its midnight tick included).');
  const maxActive = field('max-active-runs', 'Max active runs',
    h('input', { type: 'number', min: '1', step: '1', value: '10', inputmode: 'numeric' }), 'How many of its runs run at once.');
  const reprocessInput = h('select', {}, REPROCESS.map(([v]) => h('option', { value: v }, v)));
  const reprocess = field('reprocess', 'Reprocess', reprocessInput, REPROCESS[0][1]);
  reprocessInput.addEventListener('change', () => fill(reprocess.help, REPROCESS.find(([v]) => v === reprocessInput.value)?.[1] || ''));
  const backwards = field('backwards', 'Run backwards', h('input', { type: 'checkbox' }), 'Start with the newest tick.', true);
  const fields = [from, to, maxActive, reprocess, backwards];

  const error = h('div', { class: 'notice error', 'data-testid': 'backfill-error', role: 'alert', hidden: true });
  const result = h('div', { class: 'backfill-result', 'data-testid': 'backfill-result', 'aria-live': 'polite' });
  const showError = msg => {
    fill(error, msg || '');
    error.hidden = !msg;
  };

  /** The request body, or null after marking what is missing or wrong. */
  const body = () => {
    fields.forEach(f => f.showError(''));
    showError('');
    let ok = true;
    for (const f of [from, to]) {
      if (!f.input.value) {
        f.showError(f.input.validity.badInput ? 'not a date' : 'required');
        ok = false;
      }
    }
    const n = Number(maxActive.input.value.trim());
    if (maxActive.input.value.trim() === '' || !Number.isInteger(n) || n < 1) {
      maxActive.showError('a whole number, at least 1');
      ok = false;
    }
    if (!ok) {
      fields.find(f => f.row.classList.contains('invalid'))?.input.focus();
      return null;
    }
    return {
      dag_id: dagId,
      from_date: `${from.input.value}T00:00:00Z`,
      to_date: `${to.input.value}T00:00:00Z`,
      max_active_runs: n,
      reprocess_behavior: reprocessInput.value,
      run_backwards: backwards.input.checked,
      dag_run_conf: {},
    };
  };

  // A 401 opens the login form (api.js); its detail is said here too.
  const failed = e => showError(e instanceof ApiError ? e.detail : String(e));

  const preview = actionButton('Preview', { 'data-testid': 'backfill-preview', title: 'List the runs it would make; nothing is created' }, async () => {
    const b = body();
    if (!b) return;
    fill(result);
    try {
      const { backfills: ticks, total_entries: n } = await post('/api/v2/backfills/dry_run', b);
      const dates = ticks.map(t => tick(t.logical_date));
      const order = b.run_backwards ? ' (newest first)' : '';
      fill(result, notice('info', !n
        ? 'No tick in this range needs a run.'
        : [h('b', {}, `${n} run${n === 1 ? '' : 's'}`), ': ',
          n <= LISTED ? dates.join(', ') : `${dates[0]} … ${dates[dates.length - 1]}`, order],
      { 'data-testid': 'backfill-preview-result' }));
    } catch (e) {
      failed(e);
    }
  });
  const create = h('button', { type: 'submit', class: 'primary', 'data-testid': 'backfill-create' }, 'Create backfill');

  const form = h('form', { class: 'backfill-form', novalidate: true, 'data-testid': 'backfill-form' },
    h('div', { class: 'backfill-fields' }, fields.map(f => f.row)),
    h('div', { class: 'buttons' }, preview, create),
    error,
    result);
  form.addEventListener('submit', async ev => {
    ev.preventDefault();
    const b = body();
    if (!b) return;
    create.disabled = true;
    fill(result);
    try {
      const made = await post('/api/v2/backfills', b);
      fill(result, notice('info', `Backfill ${made.id} created: ${made.runs_total} run${made.runs_total === 1 ? '' : 's'}.`,
        { 'data-testid': 'backfill-created' }));
      refresh();
    } catch (e) {
      failed(e);
    } finally {
      create.disabled = false;
    }
  });

  const manual = h('p', { class: 'muted', hidden: true }, 'This DAG has no schedule: there are no ticks to backfill.');
  const list = h('div', { 'data-testid': 'backfill-list' });
  const el = h('section', { class: 'card', 'data-testid': 'backfill' },
    h('h2', {}, 'Backfill'),
    h('p', { class: 'muted small' }, 'A run for every tick of the schedule from one day to another, both included.'),
    manual, form, list);

  /** A backfill's action, then a refresh; what goes wrong is said next to the form. */
  const change = (b, action) => async () => {
    showError('');
    try {
      await request('PUT', `/api/v2/backfills/${encodeURIComponent(b.id)}/${action}`);
    } catch (e) {
      failed(e);
    }
    refresh();
  };

  return {
    el,
    /** Shows the form for a scheduled DAG and `backfills` (newest first) below it. */
    update(dag, backfills) {
      const scheduled = !!dag.timetable_summary;
      form.hidden = !scheduled;
      manual.hidden = scheduled;
      fill(list, backfills.length
        ? h('table', { class: 'table backfills' },
          h('thead', {}, h('tr', {}, ['backfill', 'range', 'progress', 'state', 'created', ''].map(c => h('th', {}, c)))),
          h('tbody', {}, backfills.map(b => row(b, change))))
        : h('p', { class: 'muted small' }, 'No backfills yet.'));
    },
  };
}

/** What a backfill is doing: completed, paused, or running. */
/** The state colours a backfill's badge borrows. */
const COLOUR = { completed: 'success', paused: 'queued', running: 'running' };

const stateOf = b => (b.completed_at ? 'completed' : b.is_paused ? 'paused' : 'running');

function row(b, change) {
  const state = stateOf(b);
  const total = b.runs_total || 0;
  const done = b.runs_done || 0;
  const bar = h('span', { class: 'backfill-done' });
  // Through the style object: the CSP refuses style attributes.
  bar.style.width = `${(total ? Math.min(done / total, 1) * 100 : 0).toFixed(1)}%`;
  const button = (label, action, cls) =>
    actionButton(label, { class: `small ${cls || ''}`.trim(), 'data-testid': `backfill-${action}`, title: `${label} backfill ${b.id}` }, change(b, action));
  return h('tr', { 'data-testid': `backfill-row-${b.id}`, 'data-state': state },
    h('td', {}, h('b', {}, `#${b.id}`),
      b.reprocess_behavior && b.reprocess_behavior !== 'none' ? h('span', { class: 'muted small' }, ` reprocess ${b.reprocess_behavior}`) : null),
    h('td', { class: 'nowrap' }, tick(b.from_date), ' → ', tick(b.to_date)),
    h('td', { class: 'nowrap' },
      h('span', { 'data-testid': 'backfill-progress' }, `${done} / ${total}`),
      h('span', { class: 'backfill-bar', role: 'progressbar', 'aria-valuemin': '0', 'aria-valuemax': String(total), 'aria-valuenow': String(done), title: `${done} of ${total} runs ended` }, bar)),
    h('td', {}, h('span', { class: `badge s-${COLOUR[state]}`, 'data-testid': 'backfill-state', 'data-state': state }, state), ' ',
    state !== 'completed' ? h('span', { class: 'muted small' }, `max ${b.max_active_runs} at once`) : null),
    h('td', { class: 'nowrap' }, time(b.created_at)),
    h('td', { class: 'nowrap backfill-actions' }, state === 'completed' ? null : [
      state === 'paused' ? button('Unpause', 'unpause') : button('Pause', 'pause'),
      button('Cancel', 'cancel', 'danger'),
    ]));
}
