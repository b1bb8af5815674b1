// drover's UI: hash routes to pages, one EventSource for live updates, and
// the login flow. No build step: plain ES modules served from web/.
//
// A page is `{ refresh(), dispose?(), dagId? }`: refresh() fetches what the
// page shows and redraws it. Every server event schedules one refresh of the
// current page (debounced), so pages never poll.

import { h, fill, notice } from './dom.js';
import { ApiError, setUnauthorizedHandler } from './api.js';
import { session, loadSession, loginWithCode, openLogin, onSessionChange, renderStatus } from './auth.js';
import { dagsPage } from './pages/dags.js';
import { dagPage } from './pages/dag.js';
import { runPage } from './pages/run.js';
import { taskPage } from './pages/task.js';
import { pluginsPage, backendsPage } from './pages/admin.js';
import { driversPage } from './pages/drivers.js';
import { poolsPage } from './pages/pools.js';

const ROUTES = [
  [/^\/?(?:dags\/?)?$/, dagsPage, 'dags'],
  [/^\/dags\/([^/]+)$/, dagPage, 'dags'],
  [/^\/dags\/([^/]+)\/runs\/([^/]+)$/, runPage, 'dags'],
  [/^\/dags\/([^/]+)\/runs\/([^/]+)\/tasks\/([^/]+)$/, taskPage, 'dags'],
  [/^\/plugins$/, pluginsPage, 'plugins'],
  [/^\/backends$/, backendsPage, 'backends'],
  [/^\/drivers$/, driversPage, 'drivers'],
  [/^\/pools$/, poolsPage, 'pools'],
];

const view = document.getElementById('view');
/** The page shown: its own element (a page still loading when left draws off-screen). */
let current = null; // { page, el, busy, again }

function navigate() {
  current?.page.dispose?.();
  current = null;
  // What an action said belongs to the page it was done on; errors stay until read.
  document.querySelectorAll('#flashes .notice.info').forEach(n => n.remove());
  const path = location.hash.replace(/^#/, '').split('?')[0];
  for (const [re, make, nav] of ROUTES) {
    const m = path.match(re);
    if (!m) continue;
    let params;
    try {
      params = m.slice(1).map(decodeURIComponent);
    } catch {
      break; // a malformed %-escape
    }
    for (const a of document.querySelectorAll('header nav a')) a.classList.toggle('active', a.dataset.nav === nav);
    const el = h('div', { class: 'page' }, h('p', { class: 'muted loading' }, 'Loading…'));
    fill(view, el);
    current = { page: make(el, { params, refresh: requestRefresh }), el, busy: false, again: false };
    refreshNow();
    return;
  }
  fill(view, notice('error', `No page at ${path}.`), h('p', {}, h('a', { href: '#/' }, 'Back to the DAGs')));
}

// One refresh at a time; requests while one runs fold into one more after it.
// Requests within 200 ms share one refresh, and a steady stream of them
// still gets one every 200 ms (the timer is not pushed back).
let timer = null;

function requestRefresh() {
  if (timer !== null) return;
  timer = setTimeout(refreshNow, 200);
}

async function refreshNow() {
  clearTimeout(timer);
  timer = null;
  const c = current;
  if (!c) return;
  if (c.busy) {
    c.again = true;
    return;
  }
  c.busy = true;
  try {
    await c.page.refresh();
  } catch (e) {
    showError(c.el, e);
  } finally {
    c.busy = false;
  }
  if (c.again && c === current) {
    c.again = false;
    refreshNow();
  }
}

function showError(el, e) {
  const detail = e instanceof ApiError ? e.detail : String(e);
  if (e instanceof ApiError && e.status === 401) {
    fill(el, notice('error', 'This drover needs a token to read: log in to see this page.', { 'data-testid': 'page-error', title: detail }),
      h('p', {}, h('button', { type: 'button', class: 'primary', onclick: () => openLogin(detail) }, 'Log in')));
  } else {
    if (!(e instanceof ApiError)) console.error(e);
    fill(el, notice('error', detail, { 'data-testid': 'page-error' }), h('p', {}, h('a', { href: '#/' }, 'Back to the DAGs')));
  }
}

// Live updates: one EventSource for the app. It reconnects by itself after
// a network error; a refused stream (401 before login) is reopened later.
let events = null;

function connect() {
  events?.close();
  const es = new EventSource('/api/v2/events');
  events = es;
  const live = document.getElementById('live');
  const mark = on => {
    live.classList.toggle('on', on);
    live.title = on ? 'live: pages update as things change' : 'not connected: reconnecting…';
    live.dataset.state = on ? 'on' : 'off';
  };
  es.addEventListener('open', () => {
    mark(true);
    requestRefresh(); // anything missed while disconnected
  });
  es.addEventListener('error', () => {
    mark(false);
    if (es.readyState === EventSource.CLOSED && events === es) setTimeout(() => events === es && connect(), 5000);
  });
  const onChange = ev => {
    let change = {};
    try {
      change = JSON.parse(ev.data);
    } catch {
      // a change without a body concerns everything
    }
    const dagId = current?.page.dagId;
    if (dagId && change.dag_id && change.dag_id !== dagId) return;
    requestRefresh();
  };
  for (const kind of ['run', 'task', 'driver', 'dags']) es.addEventListener(kind, onChange);
  es.addEventListener('resync', () => requestRefresh());
}


/** `#login=<code>` (the one-time link `drover standalone` prints): log in, then drop the code from the URL. */
async function loginFromUrl() {
  const m = location.hash.match(/^#login(?:=(.*))?$/);
  if (!m) return;
  history.replaceState(null, '', `${location.pathname}${location.search}#/`);
  if (!m[1]) {
    if (!session.authenticated) openLogin(); // `#login`: the form, for the token pasted by hand
    return;
  }
  try {
    await loginWithCode(decodeURIComponent(m[1]));
  } catch (e) {
    openLogin(`The login link did not work: ${e.detail || e}`);
  }
}

async function main() {
  renderStatus();
  setUnauthorizedHandler(detail => openLogin(detail));
  try {
    await loadSession();
  } catch (e) {
    console.error(e);
  }
  await loginFromUrl();
  onSessionChange(() => {
    connect();
    refreshNow();
  });
  window.addEventListener('hashchange', async () => {
    await loginFromUrl();
    navigate();
  });
  navigate(); // on a server whose reads need a token, its 401 asks to log in
  connect();
}

main();
