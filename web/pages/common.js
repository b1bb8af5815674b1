// Pieces several pages share: the page header, the pause switch and the
// trigger button.

import { h, dagHref, flash } from '../dom.js';
import { patch, dagPath } from '../api.js';
import { openTrigger } from '../trigger.js';

/** The page title as breadcrumbs, actions at the right: `header([['DAGs', '#/'], ['my_dag']], button)`. */
export function header(path, ...right) {
  return h('div', { class: 'page-head' },
    h('nav', { class: 'crumbs', 'aria-label': 'breadcrumbs' },
      path.map(([label, href], i) => [
        i ? h('span', { class: 'sep' }, '›') : null,
        href ? h('a', { href }, label) : h('span', { class: 'here' }, label),
      ])),
    h('div', { class: 'actions' }, right));
}

export function section(title, attrs, ...children) {
  return h('section', { class: 'card', ...attrs }, title ? h('h2', {}, title) : null, children);
}

/** Airflow's switch: on while the DAG is scheduled, off while paused. */
export function pauseSwitch(dag, after) {
  const input = h('input', {
    type: 'checkbox', checked: !dag.is_paused, role: 'switch',
    'data-testid': `pause-toggle-${dag.dag_id}`, 'aria-label': `${dag.dag_id} is scheduled (off: paused)`,
  });
  input.addEventListener('change', async () => {
    input.disabled = true;
    try {
      await patch(dagPath(dag.dag_id), { is_paused: !input.checked });
      after?.();
    } catch (e) {
      input.checked = !input.checked;
      flash('error', `Could not ${input.checked ? 'pause' : 'unpause'} ${dag.dag_id}: ${e.detail || e}`);
    } finally {
      input.disabled = false;
    }
  });
  return h('label', { class: 'switch', title: dag.is_paused ? 'paused' : 'scheduled' }, input, h('span', { class: 'slider' }));
}

export function triggerButton(dag, label = 'Trigger') {
  return h('button', {
    type: 'button', class: 'primary small', 'data-testid': `trigger-${dag.dag_id}`,
    title: `Trigger ${dag.dag_id} with parameters`, onclick: () => openTrigger(dag),
  }, '▶ ', label);
}

export function dagLink(dagId) {
  return h('a', { href: dagHref(dagId) }, dagId);
}

/** Task instance states after which nothing more happens without a retry. */
export const ENDED = new Set(['success', 'failed', 'upstream_failed', 'skipped']);
