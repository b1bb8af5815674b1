// The pools: how many slots each has, what running drivers hold, what queued
// tasks wait for, and what is open now. Read-only; pools change through the
// config file or the API (POST/PATCH/DELETE /api/v2/pools).

import { h, fill } from '../dom.js';
import { get } from '../api.js';
import { header, section } from './common.js';

/** A pool's size, or "no limit" for -1. */
const size = n => (n < 0 ? h('span', { class: 'muted' }, 'no limit') : String(n));

/** How full the pool is: running slots against its size (none for a pool without a limit). */
function usage(p) {
  if (p.slots <= 0) return null;
  const used = h('span', { class: 'pool-used' });
  // Through the style object: the CSP refuses style attributes.
  used.style.width = `${(Math.min(p.running_slots / p.slots, 1) * 100).toFixed(1)}%`;
  return h('span', { class: 'pool-bar', title: `${p.running_slots} of ${p.slots} slots held` }, used);
}

export function poolsPage(view) {
  return {
    async refresh() {
      // Pages of 100, Airflow's largest, until every pool is read.
      const pools = [];
      for (let total = Infinity; pools.length < total;) {
        const body = await get(`/api/v2/pools?limit=100&offset=${pools.length}`);
        total = body.total_entries;
        pools.push(...body.pools);
        if (!body.pools.length) break;
      }
      fill(view,
        header([['Pools']], h('span', { class: 'muted' }, `${pools.length} pool${pools.length === 1 ? '' : 's'}`)),
        section(null, {}, h('table', { class: 'table', 'data-testid': 'pools' },
          h('thead', {}, h('tr', {}, ['pool', 'slots', 'running', 'queued', 'open', 'description'].map(c => h('th', {}, c)))),
          h('tbody', {}, pools.map(p => h('tr', { 'data-testid': `pool-row-${p.name}` },
            h('td', {}, h('b', {}, p.name)),
            h('td', { class: 'nowrap', 'data-testid': 'pool-slots' }, size(p.slots), ' ', usage(p)),
            h('td', { 'data-testid': 'pool-running' }, String(p.running_slots)),
            h('td', { class: p.queued_slots ? null : 'muted', 'data-testid': 'pool-queued' }, String(p.queued_slots)),
            h('td', { 'data-testid': 'pool-open' }, size(p.open_slots)),
            h('td', { class: 'muted' }, p.description || '—')))))));
    },
  };
}
