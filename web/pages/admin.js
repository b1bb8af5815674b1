// The plugins drover loaded and the backends (cluster connections) built on them.

import { h, fill } from '../dom.js';
import { get } from '../api.js';
import { header, section } from './common.js';

const list = xs => (xs && xs.length ? xs.map(x => h('span', { class: 'tag' }, x)) : h('span', { class: 'muted' }, '—'));
/** Deploy modes, also when a server spells them as Rust paths (`DeployMode::Client`). */
const modes = xs => list((xs || []).map(m => String(m).replace(/^.*::/, '').toLowerCase()));

export function pluginsPage(view) {
  return {
    async refresh() {
      const body = await get('/api/v2/plugins');
      fill(view,
        header([['Plugins']], h('span', { class: 'muted' }, `${body.total_entries} loaded`)),
        body.plugins.filter(p => p.reload_error).map(p => reloadRefused(p.reload_error, p.backends)),
        section(null, {}, h('table', { class: 'table', 'data-testid': 'plugins' },
          h('thead', {}, h('tr', {}, ['plugin', 'deploy modes', 'backends', 'settings', 'calls', 'source'].map(c => h('th', {}, c)))),
          h('tbody', {}, body.plugins.map(p => h('tr', { 'data-testid': `plugin-row-${p.name}` },
            h('td', { class: 'nowrap' }, h('b', {}, p.name), ' ', h('code', { class: 'muted' }, p.version),
              p.contract_version ? h('div', { class: 'muted small' }, `contract ${p.contract_version}`) : null),
            h('td', {}, modes(p.deploy_modes)),
            h('td', {}, list(p.backends)),
            h('td', {}, pluginSettings(p.settings)),
            h('td', { 'data-testid': `plugin-calls-${p.name}` }, callStats(p.calls)),
            h('td', {}, h('code', { class: 'small' }, p.source),
              p.size_bytes != null ? h('div', { class: 'muted small' }, `${kib(p.size_bytes)} · compiled in ${ms(p.compile_ms)}`) : null,
              p.digest ? h('div', { class: 'muted small', title: `sha256 ${p.digest}` }, h('code', {}, `sha256 ${p.digest.slice(0, 12)}…`)) : null)))))));
    },
  };
}

/** A changed plugin file that was refused: the backends keep the component shown below. */
function reloadRefused(e, backends) {
  return h('div', { class: 'callout bad', 'data-testid': 'reload-error' },
    h('b', {}, 'A changed plugin file was refused'), ` (${new Date(e.at).toLocaleString()}): `,
    h('code', {}, e.file), h('div', {}, e.message),
    h('div', { class: 'muted small' }, `${(backends || []).join(', ')} keep the component in use until the file loads.`));
}

const kib = bytes => `${Math.round(bytes / 1024).toLocaleString()} KiB`;
const ms = x => (x >= 1000 ? `${(x / 1000).toFixed(1)} s` : `${Math.round(x * 10) / 10} ms`);

/** Per call name: how many, how many failed, mean and max latency (calls never made are left out). */
function callStats(calls) {
  const made = (calls || []).filter(c => c.count > 0);
  if (!made.length) return h('span', { class: 'muted' }, 'no calls yet');
  return h('table', { class: 'calls small' },
    h('thead', {}, h('tr', {}, ['call', 'count', 'errors', 'mean', 'max'].map(c => h('th', {}, c)))),
    h('tbody', {}, made.map(c => h('tr', { 'data-testid': `call-${c.call}` },
      h('td', {}, h('code', {}, c.call)),
      h('td', {}, String(c.count)),
      h('td', { class: c.errors ? 'failed' : 'muted' }, String(c.errors)),
      h('td', { class: 'nowrap' }, ms(c.mean_ms)),
      h('td', { class: 'nowrap' }, ms(c.max_ms))))));
}

/** The settings a plugin takes (folded): name, whether required or secret, and what it is. */
function pluginSettings(settings) {
  if (!settings?.length) return h('span', { class: 'muted' }, '—');
  const required = settings.filter(k => k.required).map(k => k.name);
  return h('details', { class: 'settings' },
    h('summary', {}, `${settings.length} settings`, required.length ? h('span', { class: 'muted' }, ` · required: ${required.join(', ')}`) : null),
    h('dl', { class: 'settings' }, settings.map(k => [
    h('dt', {}, h('code', {}, k.name), k.required ? h('span', { class: 'required', title: 'required' }, ' *') : null),
    h('dd', { class: 'muted' }, k.secret ? h('span', { class: 'tag' }, 'secret') : null, k.description),
  ])));
}

export function backendsPage(view) {
  return {
    async refresh() {
      const body = await get('/api/v2/backends');
      fill(view,
        header([['Backends']], h('span', { class: 'muted' }, `${body.total_entries} configured`)),
        section(null, {}, h('table', { class: 'table', 'data-testid': 'backends' },
          h('thead', {}, h('tr', {}, ['backend', 'plugin', 'deploy modes', 'settings', 'allowed hosts', 'calls/s', 'memory'].map(c => h('th', {}, c)))),
          h('tbody', {}, body.backends.map(b => h('tr', { 'data-testid': `backend-row-${b.name}` },
            h('td', {}, h('b', {}, b.name)),
            h('td', { class: 'nowrap' }, h('code', {}, b.plugin), b.plugin_version ? h('span', { class: 'muted small' }, ` ${b.plugin_version}`) : null,
              b.plugin_file ? h('div', { class: 'muted small' }, h('code', {}, b.plugin_file)) : null,
              b.reload_error ? h('div', { class: 'failed small', title: b.reload_error.message }, 'changed file refused') : null),
            h('td', {}, modes(b.deploy_modes)),
            h('td', {}, settings(b.settings)),
            h('td', {}, list(b.allowed_hosts)),
            h('td', { class: 'nowrap' }, b.max_calls_per_second === 0 ? 'unlimited' : String(b.max_calls_per_second ?? '—')),
            h('td', { class: 'nowrap', title: 'most memory one call took / the cap per call' },
              b.memory_mb != null ? `${b.memory_peak_mb ? b.memory_peak_mb.toFixed(1) : '—'} / ${b.memory_mb} MiB` : '—')))))));
    },
  };
}

function settings(s) {
  const entries = Object.entries(s || {});
  if (!entries.length) return h('span', { class: 'muted' }, '—');
  return h('dl', { class: 'settings' }, entries.map(([k, v]) => [
    h('dt', {}, k),
    h('dd', {}, h('code', { class: v === '***' ? 'secret' : null }, typeof v === 'string' ? v : JSON.stringify(v))),
  ]));
}
