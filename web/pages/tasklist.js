// What the DAG and run pages share for DAGs of thousands of tasks: a search
// box and state filter that survive redraws (they live outside the part a
// refresh replaces), and a list that builds only the rows in view.

import { h } from '../dom.js';

export const STATES = ['success', 'running', 'failed', 'up_for_retry', 'upstream_failed', 'skipped', 'queued', 'none'];

/** A task search and a state pick; `changed()` is called (debounced) on each edit. */
export function taskFilter(changed) {
  const search = h('input', { type: 'search', placeholder: 'search tasks', 'data-testid': 'task-search', 'aria-label': 'search tasks by id' });
  const state = h('select', { 'data-testid': 'state-filter', 'aria-label': 'only tasks in this state' },
    h('option', { value: '' }, 'any state'),
    STATES.map(s => h('option', { value: s }, s === 'none' ? 'not started' : s.replaceAll('_', ' '))));
  let timer = null;
  const later = () => {
    clearTimeout(timer);
    timer = setTimeout(changed, 150);
  };
  search.addEventListener('input', later);
  state.addEventListener('change', later);
  return {
    el: h('div', { class: 'task-filter' }, search, state),
    get text() { return search.value.trim(); },
    get state() { return state.value; },
    /** Whether a task id and state pass. */
    keeps(taskId, s) {
      const q = search.value.trim().toLowerCase();
      return (!q || taskId.toLowerCase().includes(q)) && (!state.value || (s || 'none') === state.value);
    },
  };
}

/**
 * A scrolling list of `count` rows of `rowHeight` pixels where only the rows
 * in view (and a few around them) exist in the DOM: `row(i)` builds row i.
 * `head` (optional) stays above; rows are absolutely placed in a spacer.
 */
export function windowed(count, rowHeight, row, { height = 480, attrs = {} } = {}) {
  // Sizes through the CSSOM: the page's CSP (style-src 'self') refuses style attributes.
  const inner = h('div', { class: 'win-inner' });
  inner.style.height = `${count * rowHeight}px`;
  const outer = h('div', { class: 'win', ...attrs }, inner);
  outer.style.maxHeight = `${height}px`;
  let from = -1, to = -1;
  const draw = () => {
    const top = outer.scrollTop, view = outer.clientHeight || height;
    const a = Math.max(0, Math.floor(top / rowHeight) - 10);
    const b = Math.min(count, Math.ceil((top + view) / rowHeight) + 10);
    if (a === from && b === to) return;
    from = a;
    to = b;
    const rows = [];
    for (let i = a; i < b; i++) {
      const r = row(i);
      r.style.position = 'absolute';
      r.style.top = `${i * rowHeight}px`;
      r.style.height = `${rowHeight}px`;
      rows.push(r);
    }
    inner.replaceChildren(...rows);
  };
  outer.addEventListener('scroll', () => requestAnimationFrame(draw));
  // First draw before it is in the document: assume the top of the list.
  draw();
  return outer;
}

/** "51–100 of 5000" with previous/next buttons; `go(offset)` moves. */
export function pager(offset, limit, total, go, testid = 'pager') {
  if (total <= limit && offset === 0) return null;
  const last = Math.min(total, offset + limit);
  return h('div', { class: 'pager', 'data-testid': testid },
    h('button', { type: 'button', class: 'small', disabled: offset === 0, onclick: () => go(Math.max(0, offset - limit)) }, '‹ previous'),
    h('span', { class: 'muted small', 'data-testid': `${testid}-range` }, `${total ? offset + 1 : 0}–${last} of ${total}`),
    h('button', { type: 'button', class: 'small', disabled: last >= total, onclick: () => go(offset + limit) }, 'next ›'));
}
