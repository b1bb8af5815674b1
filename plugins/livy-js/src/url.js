// URLs as wasi:http wants them: scheme, authority and path apart. Pure.

import { invalid } from './errors.js';

/** The parts of an absolute http/https URL; an `invalid` error otherwise. */
export function parseUrl(url) {
  const bad = (why) => invalid(`bad URL ${JSON.stringify(url)}: ${why}`);
  const sep = url.indexOf('://');
  if (sep < 0) throw bad('expected http://host[:port]/path');
  const scheme = url.slice(0, sep).toLowerCase();
  if (scheme !== 'http' && scheme !== 'https') {
    throw bad(`scheme ${JSON.stringify(url.slice(0, sep))} is not http or https`);
  }
  const rest = url.slice(sep + 3);
  const end = rest.search(/[/?#]/);
  const authority = end < 0 ? rest : rest.slice(0, end);
  let pathWithQuery = (end < 0 ? '' : rest.slice(end)).split('#')[0];
  if (authority === '') throw bad('no host');
  if (authority.includes('@')) throw bad('credentials in the URL are not supported');
  if (!pathWithQuery.startsWith('/')) pathWithQuery = `/${pathWithQuery}`;
  let host;
  if (authority.startsWith('[')) host = authority.slice(1).split(']')[0];
  else {
    const colon = authority.lastIndexOf(':');
    host = colon < 0 ? authority : authority.slice(0, colon);
  }
  return { https: scheme === 'https', authority, host, pathWithQuery };
}

/** A base URL from the settings (with or without a trailing slash) and a path. */
export function join(base, path) {
  return `${base.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`;
}
