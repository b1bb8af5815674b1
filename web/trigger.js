// The trigger form, generated from the DAG's params: one input per param of
// the right type, defaults filled in. Types and required values are checked
// here; everything else (minimum, maximum, allowed values) by the server,
// whose 400 names the field each problem belongs to.

import { h, fill, runHref } from './dom.js';
import { post, dagPath, ApiError } from './api.js';

const display = v => (typeof v === 'string' ? v : JSON.stringify(v));

/** One param's input and how to read a conf value back out of it. */
function field(name, spec) {
  const kind = spec.kind;
  const def = spec.default;
  const has = def !== null && def !== undefined;
  const id = `param-${name}`;
  const attrs = { id, name, 'data-testid': `param-input-${name}`, 'aria-describedby': `${id}-help ${id}-error` };
  let input, read;
  if (Array.isArray(spec.enum_values) && spec.enum_values.length) {
    const values = spec.enum_values;
    input = h('select', attrs,
      !spec.required || !has ? h('option', { value: '' }, has ? '' : '—') : null,
      values.map((v, i) => h('option', { value: String(i), selected: has && JSON.stringify(v) === JSON.stringify(def) }, display(v))));
    read = () => (input.value === '' ? undefined : values[Number(input.value)]);
  } else if (kind === 'boolean') {
    input = h('input', { ...attrs, type: 'checkbox', checked: def === true });
    read = () => input.checked;
  } else if (kind === 'integer' || kind === 'number') {
    input = h('input', {
      ...attrs, type: 'number', inputmode: kind === 'integer' ? 'numeric' : 'decimal',
      step: kind === 'integer' ? '1' : 'any', min: spec.minimum ?? null, max: spec.maximum ?? null,
      value: has ? String(def) : null,
    });
    read = () => {
      const s = input.value.trim();
      if (s === '') {
        // A number input reads "" for text it cannot parse, too.
        if (input.validity.badInput) throw new Error(`expected ${kind === 'integer' ? 'an integer' : 'a number'}`);
        return undefined;
      }
      const n = Number(s);
      if (!Number.isFinite(n)) throw new Error(`expected ${kind === 'integer' ? 'an integer' : 'a number'}, found "${s}"`);
      if (kind === 'integer' && !Number.isInteger(n)) throw new Error(`expected an integer, found ${s}`);
      return n;
    };
  } else if (kind === 'array' || kind === 'object' || kind === null || kind === undefined) {
    const rows = has ? Math.min(8, Math.max(2, JSON.stringify(def, null, 2).split('\n').length)) : 2;
    input = h('textarea', { ...attrs, rows, spellcheck: 'false', class: 'code' }, has ? JSON.stringify(def, null, 2) : '');
    read = () => {
      const s = input.value.trim();
      if (s === '') return undefined;
      let v;
      try {
        v = JSON.parse(s);
      } catch (e) {
        if (!kind) return s; // an untyped param takes a plain string too
        throw new Error(`not valid JSON: ${e.message}`);
      }
      if (kind === 'array' && !Array.isArray(v)) throw new Error('expected a JSON array');
      if (kind === 'object' && (v === null || typeof v !== 'object' || Array.isArray(v))) throw new Error('expected a JSON object');
      return v;
    };
  } else {
    input = h('input', { ...attrs, type: 'text', value: has ? String(def) : null, spellcheck: 'false' });
    read = () => (input.value === '' ? undefined : input.value);
  }
  const limits = [
    kind,
    spec.minimum !== null && spec.minimum !== undefined ? `≥ ${spec.minimum}` : null,
    spec.maximum !== null && spec.maximum !== undefined ? `≤ ${spec.maximum}` : null,
    has ? `default ${display(def)}` : null,
  ].filter(Boolean).join(', ');
  const error = h('div', { class: 'field-error', id: `${id}-error`, 'data-testid': `param-error-${name}`, hidden: true });
  const row = h('div', { class: `field ${kind === 'boolean' ? 'check' : ''}`, 'data-param': name },
    h('label', { for: id }, name, spec.required ? h('span', { class: 'required', title: 'required' }, ' *') : null),
    input,
    h('div', { class: 'help', id: `${id}-help` }, spec.description ? [spec.description, ' '] : null,
      limits ? h('span', { class: 'muted' }, `(${limits})`) : null),
    error);
  const showError = msg => {
    fill(error, msg || '');
    error.hidden = !msg;
    row.classList.toggle('invalid', !!msg);
  };
  return { name, spec, row, input, read, showError };
}

let dialog;

/** Opens the trigger form for `dag` (a DAG as GET /api/v2/dags answers it). */
export function openTrigger(dag) {
  dialog?.remove();
  // Required params first; otherwise in the server's order.
  const params = Object.entries(dag.params || {}).sort(([, a], [, b]) => Number(!!b?.required) - Number(!!a?.required));
  const fields = params.map(([name, spec]) => field(name, spec || {}));
  const general = h('div', { class: 'notice error', 'data-testid': 'trigger-error', hidden: true });
  const submit = h('button', { type: 'submit', class: 'primary', 'data-testid': 'trigger-submit' }, 'Trigger');
  const showGeneral = msgs => {
    fill(general, msgs.length === 1 ? msgs[0] : h('ul', {}, msgs.map(m => h('li', {}, m))));
    general.hidden = !msgs.length;
  };
  const form = h('form', { novalidate: true, 'data-testid': 'trigger-form' },
    h('h2', {}, 'Trigger ', h('code', {}, dag.dag_id)),
    dag.description ? h('p', { class: 'muted' }, dag.description) : null,
    general,
    fields.length ? fields.map(f => f.row) : h('p', { class: 'muted' }, 'This DAG takes no parameters.'),
    h('div', { class: 'buttons' },
      h('button', { type: 'button', onclick: () => dialog.close() }, 'Cancel'),
      submit));

  form.addEventListener('submit', async ev => {
    ev.preventDefault();
    showGeneral([]);
    const conf = {};
    let ok = true;
    for (const f of fields) {
      f.showError('');
      try {
        const v = f.read();
        if (v === undefined) {
          if (f.spec.required) throw new Error('required');
        } else {
          conf[f.name] = v;
        }
      } catch (e) {
        f.showError(e.message);
        ok = false;
      }
    }
    if (!ok) {
      form.querySelector('.invalid input, .invalid select, .invalid textarea')?.focus();
      return;
    }
    submit.disabled = true;
    try {
      const run = await post(`${dagPath(dag.dag_id)}/dagRuns`, { conf });
      dialog.close();
      location.hash = runHref(dag.dag_id, run.dag_run_id);
    } catch (e) {
      showServerErrors(e, fields, showGeneral);
    } finally {
      submit.disabled = false;
    }
  });

  const d = h('dialog', { class: 'trigger', 'data-testid': 'trigger-dialog' }, form);
  d.addEventListener('close', () => d.remove());
  dialog = d;
  document.body.append(d);
  d.showModal();
  fields[0]?.input.focus();
}

/** A 400 for a bad conf names each bad field (`errors`); anything else is said at the top. */
function showServerErrors(e, fields, showGeneral) {
  if (!(e instanceof ApiError)) {
    showGeneral([String(e)]);
    return;
  }
  const errors = e.errors;
  const rest = [];
  for (const err of errors) {
    const f = fields.find(x => x.name === err.field);
    if (f) f.showError(err.message);
    else rest.push(err.field ? `${err.field}: ${err.message}` : err.message);
  }
  if (!errors.length) rest.push(e.detail);
  showGeneral(rest);
  fields.find(f => f.row.classList.contains('invalid'))?.input.focus();
}
