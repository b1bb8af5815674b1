// A backend's settings (`list<tuple<string, string>>` in the WIT), as the
// host resolved them. Blank values count as unset, so a DAG file can clear a
// key with `key = ""`; the last occurrence of a key wins.

import { invalid } from './errors.js';

export class Settings {
  constructor(pairs) {
    this.map = new Map();
    for (const [k, v] of pairs ?? []) {
      const t = String(v).trim();
      if (t === '') this.map.delete(k);
      else this.map.set(k, t);
    }
  }

  /** The trimmed value of `key`, or undefined when absent or blank. */
  get(key) {
    return this.map.get(key);
  }

  /** The value of `key`, or an `invalid` error naming it. */
  require(key) {
    const v = this.get(key);
    if (v === undefined) throw invalid(`the backend setting \`${key}\` is required`);
    return v;
  }
}
