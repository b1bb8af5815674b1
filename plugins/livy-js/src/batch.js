// `status-many` after the list: the requested ids the list did not show are
// asked one by one, within a budget (a call runs under the host's deadline),
// and one driver's error does not fail the whole answer. Pure.

/** Per-id fallbacks one status-many call may make. */
export const MAX_FALLBACKS = 32;
/** How long after the call started per-id fallbacks may still begin (ms): half the host's default deadline. */
export const FALLBACK_WINDOW_MS = 15_000;

export const unknownStatus = (message) => ({
  phase: 'unknown', rawState: '', attempt: undefined, location: undefined, message, trackingUrl: undefined,
});

/**
 * One entry per id: `listed[i]` when the list had it, else the per-id
 * answer: `not-found` is undefined (the cluster does not know the id), any
 * other error an `unknown` status carrying it, ids past the budget or the
 * time window `unknown` too. `rotation` picks where among the missing ids
 * the fallbacks start, so every id is asked within a few polls.
 */
export function resolve(ids, listed, maxFallbacks, rotation, outOfTime, perId) {
  const out = listed.slice();
  const missing = [];
  listed.forEach((s, i) => { if (s === undefined) missing.push(i); });
  if (missing.length === 0) return out;
  const start = rotation % missing.length;
  let asked = 0;
  for (let k = 0; k < missing.length; k++) {
    const i = missing[(start + k) % missing.length];
    const id = ids[i];
    if (asked >= maxFallbacks || outOfTime()) {
      out[i] = unknownStatus(`${id} was not in the cluster's list and this poll had no time left to ask for it alone; it is asked at a later poll`);
      continue;
    }
    asked += 1;
    try {
      out[i] = perId(id);
    } catch (e) {
      if (e.kind === undefined) throw e;
      out[i] = e.kind === 'not-found' ? undefined : unknownStatus(`the status of ${id} could not be read: ${e.message}`);
    }
  }
  return out;
}
