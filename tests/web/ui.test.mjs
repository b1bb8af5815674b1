// drover's web UI in a real browser (the system's Chromium, driven by
// playwright-core): log in, trigger a DAG through its params form, watch the
// run finish live, read a driver's log, kill a running driver, see why a
// task waits for its pool and the pools page.
//
// Run by tests/web_ui.rs, which starts drover on its own DAGs and sets
// DROVER_URL, DROVER_TOKEN and SCREENSHOT_DIR. Exits 0 only if every step passed.

import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const URL = need('DROVER_URL').replace(/\/$/, '');
const TOKEN = need('DROVER_TOKEN');
const SHOTS = need('SCREENSHOT_DIR');
const TIMEOUT = 60_000;

function need(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`ui test: ${name} is not set (tests/web_ui.rs sets it)`);
    process.exit(2);
  }
  return v;
}

mkdirSync(SHOTS, { recursive: true });
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
page.setDefaultTimeout(TIMEOUT);
const pageErrors = [];
page.on('pageerror', e => pageErrors.push(e.message));
// The browser's console, shown with a failing step (some steps cause 4xx answers on purpose).
let consoleLines = [];
page.on('console', m => {
  if (m.type() === 'error' || m.type() === 'warning') consoleLines.push(`  [browser ${m.type()}] ${m.text()}`);
});
let loads = 0;
page.on('load', () => loads++);

let passed = 0, failed = 0, shot = 0;

async function step(name, body) {
  const started = Date.now();
  consoleLines = [];
  try {
    await body();
    passed++;
    console.log(`ok   ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e.message}`);
    consoleLines.forEach(l => console.log(l));
    await screenshot(`FAILED-${name}`).catch(() => {});
    throw e;
  }
}

async function screenshot(name) {
  const file = join(SHOTS, `${String(++shot).padStart(2, '0')}-${name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`     screenshot ${file}`);
}

const byId = id => page.getByTestId(id);

/** Waits until `[data-testid=id]` (inside `within`, if given) has text containing `text`. */
async function waitText(id, text, what, within = null) {
  try {
    await page.waitForFunction(([id, text, within]) => {
      const root = within ? document.querySelector(`[data-testid="${within}"]`) : document;
      return root?.querySelector(`[data-testid="${id}"]`)?.textContent.includes(text);
    }, [id, text, within], { timeout: TIMEOUT });
  } catch {
    const root = within ? byId(within).getByTestId(id) : byId(id);
    const now = await root.first().textContent({ timeout: 1000 }).catch(() => '(not on the page)');
    throw new Error(`${what}: expected "${text}" in [data-testid=${id}], found: ${JSON.stringify(now?.slice(-400))}`);
  }
}

/** Waits until `[data-testid=id]` (inside `within`) has a `data-state` in `states`. */
async function waitState(id, states, what, within = null) {
  try {
    await page.waitForFunction(([id, states, within]) => {
      const root = within ? document.querySelector(`[data-testid="${within}"]`) : document;
      return states.includes(root?.querySelector(`[data-testid="${id}"]`)?.dataset.state);
    }, [id, states, within], { timeout: TIMEOUT });
  } catch {
    const el = (within ? byId(within).getByTestId(id) : byId(id)).first();
    const now = await el.getAttribute('data-state', { timeout: 1000 }).catch(() => '(not on the page)');
    throw new Error(`${what}: expected state ${states.join(' or ')}, found ${now}`);
  }
}

async function waitHash(prefix, what) {
  try {
    await page.waitForFunction(p => location.hash.startsWith(p), prefix, { timeout: TIMEOUT });
  } catch {
    throw new Error(`${what}: expected the URL fragment to start with ${prefix}, found ${await page.evaluate(() => location.hash)}`);
  }
}

// Values only this run of the test uses, to find in the driver's output.
const greeting = `ui-${Date.now().toString(36)}`;
const count = 42;

try {
  await step('log in through the form', async () => {
    await page.goto(`${URL}/`);
    await byId('login-open').click();
    await byId('login-token').fill('not-the-token');
    await byId('login-submit').click();
    await byId('login-error').waitFor({ state: 'visible' });
    await byId('login-token').fill(TOKEN);
    await byId('login-submit').click();
    await byId('auth-state').waitFor({ state: 'visible' });
    await byId('login-dialog').waitFor({ state: 'hidden' });
  });

  await step('the DAG list shows the test DAGs', async () => {
    await byId('dag-row-ui_params').waitFor();
    await byId('dag-row-ui_sleepy').waitFor();
    await waitText('dag-row-ui_params', 'Greets from a cluster-mode driver', 'the description');
    await waitText('import-errors', 'broken.toml', 'the import errors');
    await waitText('import-errors', 'depends on unknown task "nowhere"', 'the import error\'s trace');
    await byId('live').and(page.locator('[data-state=on]')).waitFor();
    // The switch pauses and unpauses through the API, with the session cookie.
    const paused = () => page.evaluate(() => fetch('/api/v2/dags/ui_sleepy').then(r => r.json()).then(d => d.is_paused));
    const toggle = byId('pause-toggle-ui_sleepy');
    await toggle.locator('xpath=..').click();
    await page.waitForFunction(() => document.querySelector('[data-testid="dag-row-ui_sleepy"]')?.classList.contains('paused'));
    if (!(await paused())) throw new Error('the switch did not pause ui_sleepy');
    await byId('pause-toggle-ui_sleepy').locator('xpath=..').click();
    await page.waitForFunction(() => !document.querySelector('[data-testid="dag-row-ui_sleepy"]')?.classList.contains('paused'));
    if (await paused()) throw new Error('the switch did not unpause ui_sleepy');
    // A page reload would lose this: it must still be here at the end.
    await page.evaluate(() => {
      window.__marker = 1;
    });
    await screenshot('dag-list');
  });

  await step('the trigger form checks required values here and limits on the server', async () => {
    await byId('dag-row-ui_params').getByTestId('trigger-ui_params').click();
    await byId('trigger-dialog').waitFor();
    const count_ = byId('param-input-count');
    if ((await count_.inputValue()) !== '3') throw new Error('the default of count is not filled in');
    if ((await count_.getAttribute('min')) !== '1') throw new Error('the number input does not carry the minimum');
    if ((await byId('param-input-loud').getAttribute('type')) !== 'checkbox') throw new Error('a boolean param is not a checkbox');
    if ((await byId('param-input-colour').evaluate(e => e.tagName)) !== 'SELECT') throw new Error('an enum param is not a select');
    // `who` is required and empty: refused before anything is sent.
    await count_.fill('0');
    await byId('trigger-submit').click();
    await waitText('param-error-who', 'required', 'the client-side required check');
    // Below the minimum: the server says so, next to the field.
    await byId('param-input-who').fill('playwright');
    await byId('trigger-submit').click();
    await waitText('param-error-count', 'minimum', 'the server\'s validation error next to count');
    if (await byId('param-error-who').isVisible()) throw new Error('the error on who stayed after it was fixed');
    await screenshot('trigger-form-server-error');
    await count_.fill(String(count));
    await byId('param-input-greeting').fill(greeting);
    await byId('trigger-submit').click();
    await waitHash('#/dags/ui_params/runs/', 'after a successful trigger, the new run\'s page');
    await byId('trigger-dialog').waitFor({ state: 'detached' });
  });

  await step('the run page follows the run to success without a reload', async () => {
    await byId('run-state').waitFor();
    const first = await byId('run-state').getAttribute('data-state');
    if (first === 'success') throw new Error('the run had already succeeded when its page showed: nothing was followed live');
    await waitState('run-state', ['success'], 'the run, followed live');
    await waitState('ti-state', ['success'], 'report on the run page', 'ti-row-report');
    await waitState('graph-node-report', ['success'], 'the graph node of report');
    const marker = await page.evaluate(() => window.__marker);
    if (marker !== 1 || loads !== 1) throw new Error(`the page was reloaded (marker ${marker}, ${loads} loads)`);
    await waitText('run-params', `"count": ${count}`, 'the run\'s params');
    await screenshot('run-success');
  });

  await step('the client-mode driver\'s log shows the param values', async () => {
    await byId('ti-row-report').getByTestId('ti-link').click();
    await waitHash('#/dags/ui_params/runs/', 'the task page');
    await waitText('log-content', `greeting=${greeting}`, 'the report driver\'s log');
    await waitText('log-content', `count=${count}`, 'the report driver\'s log');
    await waitText('driver-deploy-mode', 'client', 'the deploy mode');
    await waitState('try-state', ['success'], 'the try');
    await waitText('timeline', 'succeeded', 'the driver lifecycle');
    await screenshot('task-client-log');
  });

  await step('the cluster-mode driver\'s log by stream', async () => {
    await page.getByRole('link', { name: /^manual__/ }).click();
    await byId('ti-row-greet').getByTestId('ti-link').click();
    await waitText('log-content', `${greeting} #${count}`, 'greet\'s stdout');
    await waitText('driver-cluster-id', 'driver-', 'the cluster id');
    await byId('log-stream').selectOption('stderr');
    await waitText('log-content', 'Launch Command', 'greet\'s stderr');
    // The try has ended: drover serves its own copy of the log, and says so.
    await byId('log-stream').selectOption('stdout');
    await waitText('log-content', `${greeting} #${count}`, 'greet\'s archived stdout');
    await byId('log-source').waitFor({ state: 'visible', timeout: TIMEOUT });
    await screenshot('task-cluster-log');
  });

  await step('a long-running driver is killed from its task page', async () => {
    await byId('nav-dags').click();
    await byId('dag-row-ui_sleepy').getByTestId('trigger-ui_sleepy').click();
    await byId('trigger-submit').click();
    await waitHash('#/dags/ui_sleepy/runs/', 'the new run\'s page');
    await waitState('ti-state', ['running'], 'forever, before it is killed', 'ti-row-forever');
    await byId('ti-row-forever').getByTestId('ti-link').click();
    await waitState('ti-state', ['running'], 'forever on its task page');
    await waitText('log-content', 'waiting to be killed', 'the running driver\'s log, followed');
    await waitText('log-status', 'following', 'the log follow indicator');
    await screenshot('task-running');
    await byId('kill-button').click();
    await waitState('ti-state', ['failed'], 'forever after the kill');
    await waitState('driver-state', ['killed'], 'forever\'s driver after the kill');
    await waitText('log-status', 'complete', 'the log follow stops with the try');
    const marker = await page.evaluate(() => window.__marker);
    if (marker !== 1 || loads !== 1) throw new Error(`the page was reloaded (marker ${marker}, ${loads} loads)`);
    await screenshot('task-killed');
  });

  await step('Retry runs the killed task again, Mark failed ends its run', async () => {
    await byId('retry-button').click();
    await byId('try-tab-2').waitFor();
    await waitState('ti-state', ['running'], 'forever after Retry');
    await waitText('log', 'try 2', 'the log of the new try');
    await waitText('log-content', 'waiting to be killed', 'the second try\'s log, followed');
    await page.getByRole('link', { name: /^manual__/ }).click();
    await waitState('run-state', ['queued', 'running'], 'the run, open again');
    await byId('mark-failed').click();
    await waitState('run-state', ['failed'], 'the run marked failed');
    await waitState('ti-state', ['failed'], 'forever after its run was marked failed', 'ti-row-forever');
    await screenshot('run-marked-failed');
  });

  await step('the DAG page shows the graph and the runs grid', async () => {
    await byId('nav-dags').click();
    await byId('dag-row-ui_params').getByTestId('dag-link').click();
    await waitHash('#/dags/ui_params', 'the DAG page');
    await waitState('graph-node-report', ['success'], 'report in the graph of the latest run');
    await waitState('graph-node-greet', ['success'], 'greet in the graph of the latest run');
    const cells = await byId('dag-grid').getByTestId('grid-cell-report').count();
    if (cells !== 1) throw new Error(`expected one run in the grid, found ${cells}`);
    await screenshot('dag-page');
  });

  await step('a scheduled DAG is backfilled from its page: the server\'s error, a preview, the runs to the end', async () => {
    await byId('nav-dags').click();
    await byId('dag-row-ui_daily').getByTestId('dag-link').click();
    await waitHash('#/dags/ui_daily', 'the DAG page');
    await byId('backfill-form').waitFor();
    await waitText('backfill-list', 'No backfills yet', 'the empty list');
    if ((await byId('backfill-max-active-runs').inputValue()) !== '10') throw new Error('max active runs does not default to 10');
    // Reversed: nothing is made, the server says why next to the form.
    await byId('backfill-from').fill('2026-01-03');
    await byId('backfill-to').fill('2026-01-01');
    await byId('backfill-create').click();
    await waitText('backfill-error', 'from_date is after to_date', 'the server\'s error for a reversed range');
    await screenshot('backfill-reversed');
    await byId('backfill-to').fill('2026-01-05');
    await byId('backfill-from').fill('2026-01-03');
    await byId('backfill-preview').click();
    await waitText('backfill-preview-result', '3 runs: 2026-01-03, 2026-01-04, 2026-01-05', 'the dry run of three days');
    if (await byId('backfill-error').isVisible()) throw new Error('the error of the reversed range stayed after it was fixed');
    const made = await page.evaluate(() => fetch('/api/v2/backfills?dag_id=ui_daily').then(r => r.json()).then(b => b.total_entries));
    if (made !== 0) throw new Error(`the reversed range or the preview made ${made} backfill(s)`);
    await byId('backfill-create').click();
    await waitText('backfill-created', 'created: 3 runs', 'the new backfill');
    await waitText('backfill-progress', '3 / 3', 'the backfill\'s progress, followed live', 'backfill-list');
    await waitState('backfill-state', ['completed'], 'the backfill after its last run', 'backfill-list');
    if (await byId('backfill-list').getByRole('button').count()) throw new Error('a completed backfill still offers Pause or Cancel');
    await waitState('graph-node-report', ['success'], 'report in the graph of the latest backfill run');
    for (const day of ['03', '04', '05']) await byId(`grid-run-backfill__2026-01-${day}T00:00:00+00:00`).waitFor();
    const marker = await page.evaluate(() => window.__marker);
    if (marker !== 1 || loads !== 1) throw new Error(`the page was reloaded (marker ${marker}, ${loads} loads)`);
    await screenshot('backfill-done');
  });

  await step('a backfill is paused, refused a second one, unpaused and cancelled from its row', async () => {
    // 59 days one 3 s run at a time: it is still going while the buttons are clicked.
    await byId('backfill-from').fill('2026-02-01');
    await byId('backfill-to').fill('2026-03-31');
    await byId('backfill-max-active-runs').fill('1');
    await byId('backfill-create').click();
    await waitText('backfill-created', 'Backfill 2 created: 59 runs', 'the long backfill');
    const row = 'backfill-row-2';
    await byId(row).getByTestId('backfill-pause').click();
    await waitState('backfill-state', ['paused'], 'the backfill after Pause', row);
    await byId('backfill-create').click();
    await waitText('backfill-error', 'already has backfill 2 going', 'the server\'s 409 for a second backfill');
    await screenshot('backfill-paused');
    await byId(row).getByTestId('backfill-unpause').click();
    await waitState('backfill-state', ['running'], 'the backfill after Unpause', row);
    await byId(row).getByTestId('backfill-cancel').click();
    await waitState('backfill-state', ['completed'], 'the backfill after Cancel', row);
    const progress = await byId(row).getByTestId('backfill-progress').textContent();
    if (progress.startsWith('59 ')) throw new Error(`the cancelled backfill ran every run: ${progress}`);
    if (await byId(row).getByRole('button').count()) throw new Error('a cancelled backfill still offers its buttons');
  });

  await step('the plugins and backends pages list the stand-in cluster\'s', async () => {
    await byId('nav-plugins').click();
    await byId('plugin-row-spark-standalone').waitFor();
    await waitText('plugin-row-spark-standalone', 'local', 'the backends of the standalone plugin');
    await screenshot('plugins');
    await byId('nav-backends').click();
    await byId('backend-row-local').waitFor();
    await waitText('backend-row-local', 'spark-standalone', 'the plugin of backend local');
    await screenshot('backends');
  });

  await step('a task waiting for a full pool says so, and the pools page counts it', async () => {
    const run = await page.evaluate(async () => {
      const post = async (path, body) => {
        const r = await fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
        if (!r.ok) throw new Error(`POST ${path}: ${r.status} ${await r.text()}`);
        return r.json();
      };
      await post('/api/v2/pools', { name: 'ui_full', slots: 0, description: 'never has room' });
      return (await post('/api/v2/dags/ui_pooled/dagRuns', {})).dag_run_id;
    });
    await page.evaluate(r => {
      location.hash = `#/dags/ui_pooled/runs/${encodeURIComponent(r)}/tasks/waits`;
    }, run);
    await waitState('ti-state', ['queued'], 'the task waiting for its pool');
    await waitText('queued-reason', 'pool `ui_full`', 'why the task waits');
    await screenshot('queued-for-pool');
    await byId('nav-pools').click();
    await waitHash('#/pools', 'the pools page');
    await waitText('pool-slots', '128', 'the default pool\'s slots', 'pool-row-default_pool');
    await waitText('pool-queued', '1', 'the slot the waiting task wants', 'pool-row-ui_full');
    await screenshot('pools');
  });

  await step('log out', async () => {
    await byId('logout').click();
    await byId('login-open').waitFor();
    const marker = await page.evaluate(() => window.__marker);
    if (marker !== 1 || loads !== 1) throw new Error(`the page was reloaded (marker ${marker}, ${loads} loads)`);
  });

  if (pageErrors.length) throw new Error(`JavaScript errors on the page: ${pageErrors.join('; ')}`);
} catch (e) {
  if (!failed) {
    failed++;
    console.log(`FAIL ${e.message}`);
  }
} finally {
  await browser.close();
}

console.log(`ui: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
