// One task instance: every try with its driver's lifecycle (a timeline of
// the recorded history), where the driver ran, and its log, followed live
// while the try runs. Kill stops the running driver; Retry clears the task
// instance (Airflow's "clear") so the scheduler runs it again.

import { h, fill, badge, time, clock, duration, facts, actionButton, flash, safeHref, dagHref, runHref } from '../dom.js';
import { get, post, dagPath, tiPath } from '../api.js';
import { header, section, ENDED } from './common.js';

export function taskPage(view, { params: [dagId, runId, taskId], refresh }) {
  let picked = null; // try number shown; null: the latest
  let last = null;
  const top = h('div');
  const log = logViewer(dagId, runId, taskId);

  const render = () => {
    const { ti, tries, waits } = last;
    if (top.parentNode !== view) fill(view, top, log.el); // first time, or after an error notice
    const shown = tries.find(t => t.try_number === picked) || tries[tries.length - 1] || null;
    fill(top,
      header([['DAGs', '#/'], [dagId, dagHref(dagId)], [runId, runHref(dagId, runId)], [taskId]],
        actionButton('Kill', {
          class: 'danger small', 'data-testid': 'kill-button', disabled: ti.state !== 'running',
          title: 'Kill the running driver on its cluster',
        }, () => kill(dagId, runId, taskId, refresh)),
        actionButton('Retry', {
          class: 'small', 'data-testid': 'retry-button', disabled: !ENDED.has(ti.state),
          title: 'Clear this task instance (and what depends on it) so it runs again',
        }, () => retry(dagId, runId, taskId, refresh))),
      h('div', { class: 'inline-facts' },
        h('span', {}, 'state ', badge(ti.state, { 'data-testid': 'ti-state', 'data-state': ti.state || 'none' })),
        waits.length ? h('span', { class: 'queued-reason', 'data-testid': 'queued-reason' },
          waits.map(w => w.reason).join('; '),
          // Nested, so the row's flex gap does not split the parentheses.
          ti.queued_when ? h('span', {}, ' (since ', time(ti.queued_when), ')') : null) : null,
        h('span', {}, `try ${ti.try_number || 0} of ${ti.max_tries + 1}`),
        h('span', { title: 'the pool whose slots the task takes while it runs' }, 'pool ', h('a', { href: '#/pools' }, ti.pool),
          ti.pool_slots > 1 ? ` × ${ti.pool_slots} slots` : null),
        h('span', {}, 'started ', time(ti.start_date)),
        ti.end_date ? h('span', {}, 'ended ', time(ti.end_date)) : null,
        ti.duration !== null ? h('span', {}, 'duration ', duration(ti.duration)) : null),
      tries.length
        ? section(null, { 'data-testid': 'tries' },
          h('div', { class: 'tabs', role: 'tablist' }, tries.map(t => h('button', {
            type: 'button', role: 'tab', 'aria-selected': String(t === shown), class: t === shown ? 'tab active' : 'tab',
            'data-testid': `try-tab-${t.try_number}`,
            onclick: () => {
              picked = t.try_number;
              render();
            },
          }, `try ${t.try_number} `, badge(t.state)))),
          tryDetail(shown))
        : section(null, {}, h('p', { class: 'muted' }, 'Not started yet: no tries.')));
    if (shown) log.show(shown.try_number, shown.state === 'running', shown.driver.deploy_mode);
    else log.hide();
  };

  return {
    dagId,
    async refresh() {
      const path = tiPath(dagId, runId, taskId);
      const [ti, { task_instances: tries }] = await Promise.all([get(path), get(`${path}/tries`)]);
      // A queued task is ready and waits for room: ask what for.
      const waits = ti.state === 'queued' ? (await get(`${path}/dependencies`)).dependencies : [];
      last = { ti, tries, waits };
      render();
    },
    dispose: () => log.stop(),
  };
}

async function kill(dagId, runId, taskId, refresh) {
  try {
    await post(`${tiPath(dagId, runId, taskId)}/kill`);
    flash('info', `Kill requested for ${taskId}.`);
  } catch (e) {
    flash('error', `Could not kill ${taskId}: ${e.detail || e}`);
  }
  refresh();
}

async function retry(dagId, runId, taskId, refresh) {
  try {
    await post(`${dagPath(dagId)}/clearTaskInstances`, {
      dag_run_id: runId, task_ids: [taskId], dry_run: false, only_failed: false, include_downstream: true,
    });
    flash('info', `${taskId} cleared: it runs again.`);
  } catch (e) {
    flash('error', `Could not retry ${taskId}: ${e.detail || e}`);
  }
  refresh();
}

/** Driver states whose message explains a failure. */
const BAD = new Set(['failed', 'killed', 'lost', 'submit_failed', 'unknown']);

function tryDetail(t) {
  const d = t.driver;
  return h('div', { class: 'try', 'data-testid': `try-${t.try_number}` },
    h('div', { class: 'columns' },
      facts([
        ['try state', badge(t.state, { 'data-testid': 'try-state', 'data-state': t.state })],
        ['driver', [badge(d.state, { 'data-testid': 'driver-state', 'data-state': d.state }), d.raw_state ? h('code', { class: 'raw', title: 'the cluster\'s own state' }, d.raw_state) : null]],
        ['started', time(t.start_date)],
        ['ended', t.end_date ? time(t.end_date) : null],
        ['duration', t.duration !== null ? duration(t.duration) : null],
        ['message', d.message ? h('span', { class: BAD.has(d.state) ? 'message bad' : 'message' }, d.message) : null, 'driver-message'],
      ]),
      facts([
        ['backend', d.backend, 'driver-backend'],
        ['deploy mode', d.deploy_mode, 'driver-deploy-mode'],
        ['ran on', d.location, 'driver-location'],
        ['cluster id', d.cluster_id ? h('code', {}, d.cluster_id) : null, 'driver-cluster-id'],
        ['cluster attempt', d.cluster_attempt],
        ['tracking', d.tracking_url ? h('a', { href: safeHref(d.tracking_url), target: '_blank', rel: 'noopener noreferrer' }, d.tracking_url) : null],
        ['submission key', h('code', { class: 'small' }, d.submission_key)],
      ])),
    decision(t),
    h('h3', {}, 'Driver lifecycle'),
    timeline(t));
}

/** A pending kill, or a driver whose fate drover cannot tell: say so plainly. */
function decision(t) {
  const d = t.driver;
  if (d.needs_decision) {
    return h('p', { class: 'callout bad', 'data-testid': 'needs-decision' },
      'drover cannot tell whether this driver is still running, so it will not run the task again on its own. ',
      'Check the cluster for ', h('code', {}, d.cluster_id || d.submission_key),
      '; once it is stopped or gone, Clear the task to run it again.');
  }
  if (d.stop_reason && t.state === 'running') {
    return h('p', { class: 'callout', 'data-testid': 'kill-pending' },
      `Stopping (${d.stop_reason.replace('_', ' ')}) since `, time(d.stop_requested_at),
      ': waiting for the cluster to confirm the driver ended.');
  }
  return null;
}

/** The driver's recorded states: a bar of the time spent in each, and the list. */
function timeline(t) {
  const events = t.driver.history || [];
  if (!events.length) return h('p', { class: 'muted' }, 'No driver history recorded.');
  const ms = e => new Date(e.at).getTime();
  const start = ms(events[0]);
  // A running try's last state lasts until now (as of this drawing).
  const until = t.end_date ? new Date(t.end_date).getTime() : t.state === 'running' ? Date.now() : 0;
  const end = Math.max(ms(events[events.length - 1]), until, start + 1);
  const span = end - start;
  const bar = h('div', { class: 'lifecycle' }, events.map((e, i) => {
    const until = i + 1 < events.length ? ms(events[i + 1]) : end;
    const width = Math.max(((until - start) - (ms(e) - start)) / span * 100, 0);
    const seg = h('div', {
      class: `seg s-${e.state}`,
      title: `${e.state}${e.raw_state ? ` (${e.raw_state})` : ''}: ${((until - ms(e)) / 1000).toFixed(2)} s`,
    });
    // Through the style object: the CSP refuses style attributes.
    seg.style.flexGrow = width.toFixed(3);
    return seg;
  }));
  return h('div', { 'data-testid': 'timeline' },
    bar,
    h('ol', { class: 'timeline' }, events.map(e => h('li', { class: `s-${e.state}` },
      h('span', { class: 'dot' }),
      h('span', { class: 'when' }, clock(e.at), h('span', { class: 'muted small' }, ` +${((ms(e) - start) / 1000).toFixed(2)} s`)),
      badge(e.state),
      e.raw_state ? h('code', { class: 'raw', title: 'the cluster\'s own state' }, e.raw_state) : null,
      e.attempt !== null && e.attempt !== undefined ? h('span', { class: 'attempt' }, `cluster attempt ${e.attempt}`) : null,
      e.message ? h('span', { class: BAD.has(e.state) ? 'message bad' : 'message' }, e.message) : null))));
}

/**
 * A try's log, read from `offset` on and followed while the try runs: each
 * answer's continuation_token is the next offset. Kept across page
 * refreshes so the text and its scroll position stay.
 */
function logViewer(dagId, runId, taskId) {
  let tryNumber = null, stream = 'stdout', offset = 0, running = false, timer = null, generation = 0, busy = false;
  const pre = h('pre', { class: 'log', 'data-testid': 'log-content', tabindex: '0' });
  const status = h('span', { class: 'log-status muted small', 'data-testid': 'log-status' });
  // Where the text comes from: drover's archived copy once the try ended.
  const source = h('span', { class: 'badge log-source', 'data-testid': 'log-source', hidden: true,
    title: 'drover copied this log from the cluster when the try ended; the cluster may no longer have it' }, 'archived copy');
  const title = h('span');
  const select = h('select', { 'data-testid': 'log-stream', 'aria-label': 'log stream' },
    h('option', { value: 'stdout' }, 'stdout'), h('option', { value: 'stderr' }, 'stderr'));
  select.addEventListener('change', () => {
    stream = select.value;
    reset();
  });
  const el = section(null, { class: 'card log-card', 'data-testid': 'log', hidden: true },
    h('div', { class: 'log-head' }, h('h2', {}, title), select, source, status), pre);

  const setStatus = (text, live) => {
    fill(status, live ? h('span', { class: 'pulse' }) : null, text);
  };

  function reset() {
    generation++;
    clearTimeout(timer);
    timer = null;
    busy = false;
    offset = 0;
    source.hidden = true;
    pre.replaceChildren();
    fetchMore(generation);
  }

  async function fetchMore(gen) {
    if (gen !== generation || busy) return;
    busy = true;
    const startedRunning = running;
    let got = '';
    try {
      const r = await get(`${tiPath(dagId, runId, taskId)}/logs/${tryNumber}?offset=${offset}&stream=${stream}`);
      if (gen !== generation) return;
      // The log's lines, each with its line end (Airflow's plain-text form).
      got = (r.content || []).join('');
      if (got) {
        const atBottom = pre.scrollHeight - pre.scrollTop - pre.clientHeight < 24;
        pre.append(got);
        if (atBottom) pre.scrollTop = pre.scrollHeight;
      }
      if (r.continuation_token !== null && r.continuation_token !== undefined) offset = Number(r.continuation_token);
      source.hidden = r.source !== 'archive';
      setStatus(running ? 'following…' : 'complete', running);
    } catch (e) {
      if (gen !== generation) return;
      setStatus(`log unavailable: ${e.detail || e}`, false);
    } finally {
      if (gen === generation) busy = false;
    }
    if (gen !== generation) return;
    if (!pre.textContent && !running) setStatus('empty log', false);
    // More may be waiting (answers are capped); otherwise poll while running,
    // and read once more after the end in case this answer predates it.
    if (got || (startedRunning && !running)) timer = setTimeout(() => fetchMore(gen), 0);
    else if (running) timer = setTimeout(() => fetchMore(gen), 1000);
    else timer = null;
  }

  return {
    el,
    show(n, isRunning, deployMode) {
      el.hidden = false;
      const clientMode = deployMode === 'client';
      select.disabled = clientMode;
      select.title = clientMode ? 'a client-mode driver\'s output is one file' : 'the driver\'s stream';
      if (clientMode) select.value = stream = 'stdout';
      const wasRunning = running;
      running = isRunning;
      fill(title, `Log · try ${n}`, clientMode ? h('span', { class: 'muted small' }, ' (driver output, stdout and stderr)') : null);
      if (n !== tryNumber) {
        tryNumber = n;
        reset();
      } else if (running && !wasRunning && !timer && !busy) {
        fetchMore(generation);
      } else if (!running && wasRunning && !timer && !busy) {
        fetchMore(generation); // the rest, once
      }
    },
    hide() {
      el.hidden = true;
    },
    stop() {
      generation++;
      clearTimeout(timer);
    },
  };
}
