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
        section(null, {}, h('table', { class: 'table', 'data-testid': 'plugins' },
          h('thead', {}, h('tr', {}, ['plugin', 'deploy modes', 'backends', 'settings', 'source'].map(c => h('th', {}, c)))),
          h('tbody', {}, body.plugins.map(p => h('tr', { 'data-testid': `plugin-row-${p.name}` },
            h('td', { class: 'nowrap' }, h('b', {}, p.name), ' ', h('code', { class: 'muted' }, p.version)),
            h('td', {}, modes(p.deploy_modes)),
            h('td', {}, list(p.backends)),
            h('td', {}, pluginSettings(p.settings)),
            h('td', {}, h('code', { class: 'small' }, p.source),
              p.digest ? h('div', { class: 'muted small', title: `sha256 ${p.digest}` }, h('code', {}, `sha256 ${p.digest.slice(0, 12)}…`)) : null)))))));
    },
  };
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
          h('thead', {}, h('tr', {}, ['backend', 'plugin', 'deploy modes', 'settings', 'allowed hosts', 'calls/s'].map(c => h('th', {}, c)))),
          h('tbody', {}, body.backends.map(b => h('tr', { 'data-testid': `backend-row-${b.name}` },
            h('td', {}, h('b', {}, b.name)),
            h('td', { class: 'nowrap' }, h('code', {}, b.plugin), b.plugin_version ? h('span', { class: 'muted small' }, ` ${b.plugin_version}`) : null),
            h('td', {}, modes(b.deploy_modes)),
            h('td', {}, settings(b.settings)),
            h('td', {}, list(b.allowed_hosts)),
            h('td', { class: 'nowrap' }, b.max_calls_per_second === 0 ? 'unlimited' : String(b.max_calls_per_second ?? '—'))))))));
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
