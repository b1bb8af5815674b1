// A run's tries on a time axis: one bar per try, cut where its driver's
// history changes phase (pending/submitted, queued on the cluster, running),
// so a slow hand-off or a slow cluster shows as a long pale segment.

import { svg, h, taskHref, duration } from './dom.js';

const ROW = 20, LABEL = 220, WIDTH = 900, PAD = 4;
/** The phases drawn, in the order a driver goes through them. */
const PHASE = { pending: 'submitted', submitted: 'submitted', queued: 'queued', unknown: 'queued', running: 'running' };

/** Segments [{phase, from, to}] of one try from its driver's history. */
function segments(d, now) {
  const end = d.ended_at ? new Date(d.ended_at) : now;
  const marks = [{ phase: 'submitted', at: new Date(d.started_at) }];
  for (const e of d.history || []) {
    const phase = PHASE[e.state];
    if (phase && phase !== marks[marks.length - 1].phase) marks.push({ phase, at: new Date(e.at) });
  }
  return marks.map((m, i) => ({ phase: m.phase, from: m.at, to: i + 1 < marks.length ? marks[i + 1].at : end }));
}

/** `drivers`: /api/v2/drivers entries of one run. */
export function gantt(dagId, runId, drivers) {
  const now = new Date();
  const tries = [...drivers].sort((a, b) => new Date(a.started_at) - new Date(b.started_at));
  const t0 = Math.min(...tries.map(d => new Date(d.started_at)));
  const t1 = Math.max(...tries.map(d => (d.ended_at ? new Date(d.ended_at) : now)), t0 + 1000);
  const x = t => LABEL + ((t - t0) / (t1 - t0)) * (WIDTH - LABEL - PAD);
  const rows = tries.map((d, i) => {
    const y = PAD + i * ROW;
    const segs = segments(d, now);
    return svg('g', { 'data-testid': `gantt-row-${d.task_id}-${d.try_number}`, class: `gantt-row s-${d.state}` },
      svg('a', { href: taskHref(dagId, runId, d.task_id) },
        svg('text', { x: 4, y: y + 14, class: 'gantt-label' }, `${d.task_id} #${d.try_number}`)),
      segs.map(s => svg('rect', {
        class: `gantt-seg phase-${s.phase}`, 'data-phase': s.phase,
        x: x(s.from), y: y + 3, height: ROW - 6, width: Math.max(1, x(s.to) - x(s.from)),
      }, svg('title', {}, `${d.task_id} try ${d.try_number}: ${s.phase} ${duration((s.to - s.from) / 1000)}`))));
  });
  const height = PAD * 2 + tries.length * ROW;
  return h('div', { class: 'gantt' },
    h('div', { class: 'legend muted small' },
      ['submitted', 'queued', 'running'].map(p => h('span', {}, h('span', { class: `swatch phase-${p}` }), p)),
      h('span', {}, `${duration((t1 - t0) / 1000)} from the first submission`)),
    svg('svg', { width: '100%', viewBox: `0 0 ${WIDTH} ${height}`, height, role: 'img', 'aria-label': 'tries over time' }, rows));
}
