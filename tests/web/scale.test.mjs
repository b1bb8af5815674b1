// drover's UI at scale, in a real browser: a 5,000-task DAG (its DAG and run
// pages, with search; the time to interactive of each is printed, not
// asserted), the drivers page with a running driver, and a run's Gantt chart.
//
// Run by tests/web_ui.rs (the_ui_stays_usable_for_5000_tasks...), which
// writes the DAGs and sets DROVER_URL, DROVER_TOKEN and SCREENSHOT_DIR.

import { chromium } from 'playwright-core';
import { join } from 'node:path';

const URL = process.env.DROVER_URL.replace(/\/$/, '');
const TOKEN = process.env.DROVER_TOKEN;
const SHOTS = process.env.SCREENSHOT_DIR;
const TIMEOUT = 60_000;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
page.setDefaultTimeout(TIMEOUT);
const errors = [];
page.on('pageerror', e => errors.push(e.message));
let failed = false;

async function step(name, body) {
  const t = Date.now();
  try {
    await body();
    console.log(`ok   ${name} (${((Date.now() - t) / 1000).toFixed(1)} s)`);
  } catch (e) {
    failed = true;
    console.log(`FAIL ${name}: ${e.message}`);
    await page.screenshot({ path: join(SHOTS, `FAILED-scale-${name.replace(/[^a-z0-9]+/gi, '-')}.png`) }).catch(() => {});
    throw e;
  }
}

/** The API with the token, from node. */
async function api(method, path, body) {
  const r = await fetch(URL + path, {
    method, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

const byId = id => page.getByTestId(id);

/** Loads `hash` fresh and returns the ms until `ready` (a test id) is visible. */
async function timeToInteractive(hash, ready) {
  await page.goto(`${URL}/#/`);
  await byId('dag-list').waitFor();
  const t = Date.now();
  await page.goto(`${URL}/${hash}`);
  await byId(ready).first().waitFor();
  return Date.now() - t;
}

try {
  await step('log in', async () => {
    await page.goto(`${URL}/`);
    await page.evaluate(async token => {
      const r = await fetch('/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
      if (!r.ok) throw new Error(`login: ${r.status}`);
    }, TOKEN);
  });

  let runId;
  await step('a 5,000-task DAG pages its task instances', async () => {
    runId = (await api('POST', '/api/v2/dags/wide/dagRuns', {})).dag_run_id;
    const tis = await api('GET', `/api/v2/dags/wide/dagRuns/${encodeURIComponent(runId)}/taskInstances`);
    if (tis.total_entries !== 5000 || tis.task_instances.length !== 50) throw new Error(`expected 50 of 5000, got ${tis.task_instances.length} of ${tis.total_entries}`);
    const big = await api('GET', `/api/v2/dags/wide/dagRuns/${encodeURIComponent(runId)}/taskInstances?limit=1000`);
    if (big.task_instances.length !== 100) throw new Error(`limit=1000 should be cut to 100, got ${big.task_instances.length}`);
  });

  await step('the DAG page of 5,000 tasks is interactive and searchable', async () => {
    const ms = await timeToInteractive('#/dags/wide', 'task-search');
    await byId('grid-window').waitFor();
    console.log(`     time to interactive, DAG page of 5,000 tasks: ${ms} ms`);
    const rows = await page.locator('[data-testid=grid-window] .grid-row').count();
    if (rows >= 500) throw new Error(`the grid built ${rows} rows; it should build only those in view`);
    await byId('task-search').fill('g0042_');
    await page.waitForFunction(() => document.querySelector('[data-testid=task-matches]')?.textContent.includes('10 of 5000'));
    await byId('graph-node-g0042_07').waitFor();
    await page.screenshot({ path: join(SHOTS, 'scale-dag-search.png') });
  });

  await step('the run page of 5,000 tasks is interactive, searchable and filtered by state', async () => {
    const ms = await timeToInteractive(`#/dags/wide/runs/${encodeURIComponent(runId)}`, 'ti-row-g0000_00');
    console.log(`     time to interactive, run page of 5,000 tasks: ${ms} ms`);
    await page.waitForFunction(() => document.querySelector('[data-testid=ti-pager-range]')?.textContent.includes('1–50 of 5000'));
    await byId('task-search').fill('g0499');
    await byId('ti-row-g0499_09').waitFor();
    await page.waitForFunction(() => document.querySelectorAll('[data-testid^=ti-row-]').length === 10);
    await byId('state-filter').selectOption('failed');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid^=ti-row-]').length === 0);
    await page.screenshot({ path: join(SHOTS, 'scale-run-search.png') });
  });

  let sleepyRun;
  await step('the drivers page shows a running driver, filtered by DAG and backend', async () => {
    sleepyRun = (await api('POST', '/api/v2/dags/sleepy/dagRuns', {})).dag_run_id;
    await page.goto(`${URL}/#/drivers`);
    await byId('driver-row-sleepy-forever').waitFor();
    await page.waitForFunction(() => document.querySelector('[data-testid=driver-row-sleepy-forever] [data-testid=driver-phase]')?.textContent.includes('running'));
    await byId('drivers-backend').selectOption('local');
    await byId('driver-row-sleepy-forever').waitFor();
    await byId('drivers-dag').fill('wide');
    await byId('drivers-dag').press('Enter');
    await page.waitForFunction(() => !document.querySelector('[data-testid=driver-row-sleepy-forever]'));
    await page.screenshot({ path: join(SHOTS, 'scale-drivers.png') });
  });

  await step('a run shows its tries on a Gantt chart', async () => {
    await page.goto(`${URL}/#/dags/sleepy/runs/${encodeURIComponent(sleepyRun)}`);
    await byId('gantt-row-forever-1').waitFor();
    await page.locator('[data-testid=gantt-row-forever-1] [data-phase=running]').waitFor();
    await page.screenshot({ path: join(SHOTS, 'scale-gantt.png') });
    await api('PATCH', `/api/v2/dags/sleepy/dagRuns/${encodeURIComponent(sleepyRun)}`, { state: 'failed' });
    // The wide run's first task runs until now; the other 4,999 never start.
    await api('PATCH', `/api/v2/dags/wide/dagRuns/${encodeURIComponent(runId)}`, { state: 'failed' });
  });
  if (errors.length) throw new Error(`errors in the page: ${errors.join('; ')}`);
} catch (e) {
  failed = true;
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
