// DOM building without innerHTML: every string becomes a text node or an
// attribute value, so ids, messages and logs can never inject markup.

const SVG_NS = 'http://www.w3.org/2000/svg';

function build(el, attrs, children) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (key === 'href') {
      el.setAttribute('href', safeHref(value));
    } else if (value === true) {
      el.setAttribute(key, '');
    } else {
      el.setAttribute(key, String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** An HTML element: `h('a', {href, class}, 'text', child, [more])`. */
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

/** An SVG element, built the same way. */
export function svg(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

/** Only in-app fragments, relative paths and http(s) URLs are linked. */
export function safeHref(url) {
  const s = String(url);
  if (s.startsWith('#') || s.startsWith('/')) return s;
  try {
    const u = new URL(s, location.href);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : '#';
  } catch {
    return '#';
  }
}

/** Replaces an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** The hash route of a page; each part is URL-encoded (run ids hold ':' and '+'). */
export function route(...parts) {
  return '#/' + parts.map(p => encodeURIComponent(p)).join('/');
}

export const dagHref = dag => route('dags', dag);
export const runHref = (dag, run) => route('dags', dag, 'runs', run);
export const taskHref = (dag, run, task) => route('dags', dag, 'runs', run, 'tasks', task);

/** A state as a coloured badge; `null` (not started) reads "none". */
export function badge(state, attrs = {}) {
  const s = state || 'none';
  return h('span', { ...attrs, class: `badge s-${s} ${attrs.class || ''}`.trim() }, s.replaceAll('_', ' '));
}

/** A small coloured square, a link when `href` is given. */
export function square(state, href, title, attrs = {}) {
  const s = state || 'none';
  return h(href ? 'a' : 'span', { ...attrs, class: `sq s-${s}`, href, title: title ? `${title}: ${s}` : s });
}

const pad = n => String(n).padStart(2, '0');

/** A timestamp in UTC (the scheduler's zone), `2026-01-31 12:00:05`; local time on hover. */
export function time(iso) {
  if (!iso) return h('span', { class: 'muted' }, '—');
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  const text = `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
  return h('time', { datetime: iso, title: `${d.toLocaleString()} (local)` }, text);
}

/** The time of day in UTC to the millisecond, `12:00:05.123`, for events close together. */
export function clock(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  const text = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${String(d.getUTCMilliseconds()).padStart(3, '0')}`;
  return h('time', { datetime: iso, title: `${iso} (UTC)` }, text);
}

/** Seconds as `0.27 s`, `42 s`, `3m 05s`, `2h 10m`. */
export function duration(seconds) {
  if (seconds === null || seconds === undefined) return '—';
  if (seconds < 10) return `${seconds.toFixed(2)} s`;
  if (seconds < 60) return `${Math.round(seconds)} s`;
  const s = Math.round(seconds);
  if (s < 3600) return `${Math.floor(s / 60)}m ${pad(s % 60)}s`;
  return `${Math.floor(s / 3600)}h ${pad(Math.floor((s % 3600) / 60))}m`;
}

/** A label/value list for details panels; empty values are left out. */
export function facts(pairs) {
  return h('dl', { class: 'facts' },
    pairs.filter(([, v]) => v !== null && v !== undefined && v !== '')
      .map(([k, v, testid]) => [h('dt', {}, k), h('dd', { 'data-testid': testid }, v)]));
}

export function json(value) {
  return h('pre', { class: 'json' }, JSON.stringify(value, null, 2));
}

/** A button that runs an async action, disabled while it runs. */
export function actionButton(label, attrs, action) {
  const b = h('button', { type: 'button', ...attrs }, label);
  b.addEventListener('click', async () => {
    b.disabled = true;
    try {
      await action();
    } finally {
      b.disabled = false;
    }
  });
  return b;
}

/** A one-line notice (error or info) shown in place. */
export function notice(kind, text, attrs = {}) {
  return h('div', { ...attrs, class: `notice ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text);
}

/** A message in the corner for a few seconds (errors stay until clicked). */
export function flash(kind, text) {
  let box = document.getElementById('flashes');
  if (!box) {
    box = h('div', { id: 'flashes', 'aria-live': 'polite' });
    document.body.append(box);
  }
  const el = notice(kind, text, { 'data-testid': 'flash' });
  el.addEventListener('click', () => el.remove());
  box.append(el);
  if (kind !== 'error') setTimeout(() => el.remove(), 5000);
}
