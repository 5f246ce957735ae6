// Shared set-up for the tests that run against a REAL pos-backend (simulator mode):
// test/integration.test.js and test/browser.test.js (npm run test:backend).
import test from 'node:test';
import assert from 'node:assert/strict';

export const BACKEND_URL = (process.env.POS_BACKEND_URL ?? '').replace(/\/+$/, '');

/**
 * When POS_BACKEND_URL is missing, registers one failing test with a clear message (these files
 * must never pass silently) and returns false.
 */
export function requireBackend(file) {
  if (BACKEND_URL) return true;
  test(`${file}: POS_BACKEND_URL is required`, () => {
    assert.fail(
      'POS_BACKEND_URL is not set. These tests run against a real pos-backend in simulator mode:\n' +
      '  cargo run   (no Stripe key → simulator mode, serves /pos and /sim/stripe)\n' +
      '  cd terminal-js && POS_BACKEND_URL=http://127.0.0.1:8080 npm run test:backend\n' +
      '(npm test runs the self-contained unit tests.)',
    );
  });
  return false;
}

/**
 * Credentials: POS_BACKEND_TOKEN + POS_ACCOUNT_ID when given, else the demo-only POST /pos/token.
 * @returns {Promise<{token: string, external_account_id: string, stripe_api_base: string}>}
 */
export async function backendSession() {
  if (process.env.POS_BACKEND_TOKEN) {
    return {
      token: process.env.POS_BACKEND_TOKEN,
      external_account_id: process.env.POS_ACCOUNT_ID ?? 'demo-merchant',
      stripe_api_base: process.env.POS_STRIPE_API_BASE ?? '/sim/stripe',
    };
  }
  const res = await fetch(`${BACKEND_URL}/pos/token`, { method: 'POST', headers: { Accept: 'application/json' } });
  const text = await res.text();
  assert.equal(res.status, 200, `POST /pos/token → ${res.status}: ${text}`);
  const body = JSON.parse(text);
  assert.equal(typeof body.token, 'string', 'POST /pos/token returns a token');
  assert.equal(typeof body.external_account_id, 'string', 'POST /pos/token returns external_account_id');
  return { stripe_api_base: '/sim/stripe', ...body };
}

/** Unique per run: the backend's database outlives test runs. */
export const unique = (label) => `${label}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
