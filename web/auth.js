// Logging in: the API token is exchanged for an HttpOnly session cookie
// (POST /auth/login), so the page never keeps the token itself.

import { h, fill } from './dom.js';
import { request } from './api.js';

export const session = { authenticated: false, readAccess: 'public' };

let dialog, message, input, submit;

const listeners = [];
/** `f()` runs after every login or logout. */
export function onSessionChange(f) {
  listeners.push(f);
}

export async function loadSession() {
  const s = await request('GET', '/auth/session');
  Object.assign(session, { authenticated: !!s.authenticated, readAccess: s.read_access });
  renderStatus();
}

export async function login(token) {
  await loggedIn(request('POST', '/auth/login', { token }));
}

/** A one-time code from a login link: it works once, for 10 minutes. */
export async function loginWithCode(code) {
  await loggedIn(request('POST', '/auth/login', { code }));
}

async function loggedIn(answer) {
  await answer;
  if (dialog?.open) dialog.close(); // asked for by a 401 before this login
  await loadSession();
  listeners.forEach(f => f());
}

async function logout() {
  await request('POST', '/auth/logout');
  await loadSession();
  listeners.forEach(f => f());
}


function buildDialog() {
  input = h('input', {
    type: 'password', name: 'token', autocomplete: 'current-password', required: true,
    'data-testid': 'login-token', placeholder: 'API token', 'aria-label': 'API token',
  });
  message = h('div', { class: 'notice error', 'data-testid': 'login-error', hidden: true });
  submit = h('button', { type: 'submit', class: 'primary', 'data-testid': 'login-submit' }, 'Log in');
  const form = h('form', { method: 'dialog' },
    h('h2', {}, 'Log in to drover'),
    h('p', { class: 'muted' }, 'Paste the API token (',
      h('code', {}, '<home>/api-token'), '; ', h('code', {}, 'drover standalone'), ' prints a login link).'),
    message,
    input,
    h('div', { class: 'buttons' },
      h('button', { type: 'button', onclick: () => dialog.close() }, 'Cancel'),
      submit));
  form.addEventListener('submit', async ev => {
    ev.preventDefault();
    submit.disabled = true;
    try {
      await login(input.value.trim());
      input.value = '';
      dialog.close();
    } catch (e) {
      fill(message, e.detail || String(e));
      message.hidden = false;
    } finally {
      submit.disabled = false;
    }
  });
  dialog = h('dialog', { class: 'login', 'data-testid': 'login-dialog' }, form);
  document.body.append(dialog);
}

/** Shows the login form, with why (a 401's detail) when there is a reason. */
export function openLogin(reason) {
  if (!dialog) buildDialog();
  fill(message, reason || '');
  message.hidden = !reason;
  if (!dialog.open) dialog.showModal();
  input.focus();
}

/** The header's login state: a "Log in" button or who is logged in and "Log out". */
export function renderStatus() {
  const el = document.getElementById('auth');
  if (!el) return;
  if (session.authenticated) {
    fill(el,
      h('span', { class: 'who', 'data-testid': 'auth-state' }, 'logged in'),
      h('button', { type: 'button', class: 'link', 'data-testid': 'logout', onclick: () => logout().catch(() => {}) }, 'Log out'));
  } else {
    fill(el, h('button', { type: 'button', class: 'link', 'data-testid': 'login-open', onclick: () => openLogin() }, 'Log in'));
  }
}
