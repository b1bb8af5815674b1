// The task graph as inline SVG: tasks in layers by `depends_on` (left to
// right), ordered within a layer by their parents' positions to keep edges
// short, each node coloured by its task instance's state. A wide DAG shows
// at most MAX_NODES tasks (those a search keeps) and zooms (wheel) and pans
// (drag) inside a fixed frame.

import { svg, h, taskHref } from './dom.js';

const W = 176, H = 46, GAP_X = 60, GAP_Y = 14, PAD = 8;
/** More boxes than this make the page slow and the picture unreadable: search narrows them. */
export const MAX_NODES = 300;
const FRAME = 560;

/** Layer of each task: 0 for roots, else one past its deepest dependency. */
function layers(tasks) {
  const byId = new Map(tasks.map(t => [t.task_id, t]));
  const depth = new Map();
  const visit = (id, seen) => {
    if (depth.has(id)) return depth.get(id);
    if (seen.has(id)) return 0; // a cycle (the DAG loader refuses them; be safe)
    seen.add(id);
    const deps = (byId.get(id)?.depends_on || []).filter(d => byId.has(d));
    const d = deps.length ? 1 + Math.max(...deps.map(x => visit(x, seen))) : 0;
    depth.set(id, d);
    return d;
  };
  tasks.forEach(t => visit(t.task_id, new Set()));
  const out = [];
  for (const t of tasks) (out[depth.get(t.task_id)] ||= []).push(t);
  return out.filter(Boolean);
}

/** Positions: layer by layer, each node sorted by its parents' mean row. */
export function layout(tasks) {
  const rows = new Map();
  const pos = new Map();
  const cols = layers(tasks);
  cols.forEach((col, x) => {
    if (x > 0) {
      const key = t => {
        const ps = t.depends_on.filter(d => rows.has(d)).map(d => rows.get(d));
        return ps.length ? ps.reduce((a, b) => a + b, 0) / ps.length : 0;
      };
      col.sort((a, b) => key(a) - key(b));
    }
    col.forEach((t, y) => rows.set(t.task_id, y));
  });
  const tallest = Math.max(1, ...cols.map(c => c.length));
  cols.forEach((col, x) => {
    const offset = ((tallest - col.length) * (H + GAP_Y)) / 2;
    col.forEach((t, y) => pos.set(t.task_id, { x: PAD + x * (W + GAP_X), y: PAD + offset + y * (H + GAP_Y) }));
  });
  return {
    pos,
    width: PAD * 2 + cols.length * W + Math.max(0, cols.length - 1) * GAP_X,
    height: PAD * 2 + tallest * H + (tallest - 1) * GAP_Y,
  };
}

const clip = (s, n) => (s.length > n ? s.slice(0, n - 1) + '…' : s);

/**
 * The graph of `dag`'s tasks; `states` maps task id -> state (of `runId`'s
 * task instances), and nodes link to their task pages when a run is given.
 */
export function graph(dag, runId, states = {}, keep = null) {
  const all = dag.tasks || [];
  if (!all.length) return h('p', { class: 'muted' }, 'This DAG has no tasks.');
  const kept = keep ? all.filter(t => keep(t.task_id, states[t.task_id])) : all;
  const tasks = kept.slice(0, MAX_NODES);
  const note = tasks.length < all.length
    ? h('p', { class: 'muted small', 'data-testid': 'graph-note' },
      `${tasks.length} of ${all.length} tasks shown${kept.length > MAX_NODES ? `; search to narrow the other ${kept.length - MAX_NODES}` : ''}.`)
    : null;
  if (!tasks.length) return note;
  const { pos, width, height } = layout(tasks);
  const edges = [];
  for (const t of tasks) {
    for (const d of t.depends_on || []) {
      const a = pos.get(d), b = pos.get(t.task_id);
      if (!a || !b) continue;
      const x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x - 3, y2 = b.y + H / 2, dx = GAP_X / 2;
      edges.push(svg('path', {
        class: `edge s-${states[d] || 'none'}`,
        d: `M${x1},${y1} C${x1 + dx},${y1} ${x2 - dx},${y2} ${x2},${y2}`,
        'marker-end': 'url(#arrow)',
      }));
    }
  }
  const nodes = tasks.map(t => {
    const { x, y } = pos.get(t.task_id);
    const state = states[t.task_id] || null;
    const s = state || 'none';
    const node = svg('g', { class: `node s-${s}`, transform: `translate(${x},${y})` },
      svg('title', {}, `${t.task_id}: ${s.replaceAll('_', ' ')} (${t.backend}, ${t.deploy_mode})`),
      svg('rect', { class: 'box', width: W, height: H, rx: 6 }),
      svg('rect', { class: 'stripe', width: 6, height: H, rx: 3 }),
      svg('text', { class: 'name', x: 14, y: 19 }, clip(t.task_id, 22)),
      svg('text', { class: 'sub', x: 14, y: 36 }, clip(`${s.replaceAll('_', ' ')} · ${t.backend} · ${t.deploy_mode}`, 28)));
    const attrs = { 'data-testid': `graph-node-${t.task_id}`, 'data-state': s };
    return runId ? svg('a', { ...attrs, href: taskHref(dag.dag_id, runId, t.task_id) }, node) : svg('g', attrs, node);
  });
  const big = width > 1400 || height > FRAME;
  const frame = svg('svg', big
    ? { width: '100%', height: Math.min(height, FRAME), viewBox: `0 0 ${width} ${height}`, class: 'zoomable', role: 'img', 'aria-label': `task graph of ${dag.dag_id}; wheel zooms, drag pans` }
    : { width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': `task graph of ${dag.dag_id}` },
      svg('defs', {}, svg('marker', {
        id: 'arrow', viewBox: '0 0 8 8', refX: 7, refY: 4, markerWidth: 7, markerHeight: 7, orient: 'auto',
      }, svg('path', { d: 'M0,0 L8,4 L0,8 z', class: 'arrowhead' }))),
      edges, nodes);
  if (big) zoomAndPan(frame, { x: 0, y: 0, w: width, h: height });
  return h('div', { class: 'graph', 'data-testid': 'graph' }, note,
    big ? h('p', { class: 'muted small' }, 'Wheel to zoom, drag to pan.') : null, frame);
}

/** Wheel zooms about the pointer, dragging pans: both by moving the viewBox. */
function zoomAndPan(el, vb) {
  const set = () => el.setAttribute('viewBox', `${vb.x} ${vb.y} ${vb.w} ${vb.h}`);
  const scale = () => vb.w / (el.clientWidth || vb.w);
  el.addEventListener('wheel', e => {
    e.preventDefault();
    const r = el.getBoundingClientRect();
    const k = Math.exp(e.deltaY * 0.0015);
    const px = vb.x + (e.clientX - r.left) * scale(), py = vb.y + (e.clientY - r.top) * scale();
    vb.w *= k;
    vb.h *= k;
    vb.x = px - (px - vb.x) * k;
    vb.y = py - (py - vb.y) * k;
    set();
  }, { passive: false });
  let drag = null;
  el.addEventListener('pointerdown', e => {
    drag = { x: e.clientX, y: e.clientY, moved: false };
  });
  el.addEventListener('pointermove', e => {
    if (!drag) return;
    const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
    if (!drag.moved && Math.abs(dx) + Math.abs(dy) < 4) return;
    drag.moved = true;
    vb.x -= dx * scale();
    vb.y -= dy * scale();
    drag.x = e.clientX;
    drag.y = e.clientY;
    set();
  });
  el.addEventListener('pointerup', () => { drag = null; });
  el.addEventListener('pointerleave', () => { drag = null; });
}
