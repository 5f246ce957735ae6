// Runs inside the scratch project test/pack.test.js builds (not in this repository): the packed
// tarball installed from npm's point of view, imported by its public names only.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as root from '@pos-backend/terminal-js';
import * as simulated from '@pos-backend/terminal-js/simulated';
import { loadStripeTerminal } from '@stripe/terminal-js';

const here = realpathSync(process.cwd());
const installed = realpathSync(fileURLToPath(import.meta.resolve('@pos-backend/terminal-js')));
assert.equal(installed, `${here}/node_modules/@pos-backend/terminal-js/src/index.js`,
  'the package must come from the scratch project\'s node_modules');

// package.json is exported (tools read the version); the modules behind the entry points are not.
const pkg = createRequire(import.meta.url)('@pos-backend/terminal-js/package.json');
assert.equal(pkg.name, '@pos-backend/terminal-js');
await assert.rejects(import('@pos-backend/terminal-js/src/backend.js'), { code: 'ERR_PACKAGE_PATH_NOT_EXPORTED' });

// Both entry points share one module graph: an error made through one is an instance for the other.
assert.equal(root.createSimulatedTerminal, simulated.createSimulatedTerminal);
assert.equal(root.createSimulatedStripeTerminal, simulated.createSimulatedStripeTerminal);
assert.equal(root.TEST_CARDS, simulated.TEST_CARDS);

// Pure functions through the public API.
assert.equal(root.paymentIntentIdFromSecret('pi_3Abc_secret_xyz'), 'pi_3Abc');
const declined = root.fromHttpError(402, { error: { code: 'card_declined', decline_code: 'insufficient_funds', message: 'Your card has insufficient funds.' } });
assert.ok(declined instanceof root.PosTerminalError);
assert.equal(declined.kind, root.ErrorKinds.DECLINED);
assert.equal(declined.declineCode, 'insufficient_funds');
assert.ok(root.isPosTerminalError(root.normalizeError(new Error('boom'))));
assert.deepEqual(simulated.TEST_CARDS.find((c) => c.number === '4242424242424242')?.brand, 'visa');

// A simulated terminal on its own: the SDK's shape, not connected, two readers to discover.
const alone = simulated.createSimulatedTerminal({ onFetchConnectionToken: async () => 'pst_test_unused' });
assert.equal(alone.getConnectionStatus(), 'not_connected');
const { discoveredReaders } = await alone.discoverReaders({ simulated: true });
assert.equal(discoveredReaders.length, 2);

// createPosTerminal + the simulated StripeTerminal namespace, against a fetch that answers the two
// requests of a connect as pos-backend does: a connection token, then the simulator's reader session.
const requests = [];
const json = (status, body) => new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
const fakeFetch = async (url, init = {}) => {
  const path = new URL(url).pathname;
  requests.push({ method: init.method ?? 'GET', path, authorization: init.headers?.Authorization ?? null, body: init.body ? JSON.parse(init.body) : null });
  if (path === '/v1/terminal/connection_token') return json(200, { secret: 'pst_test_secret' });
  if (path === '/sim/stripe/_sim/terminal/sessions') return json(200, { session: 'sess_1' });
  if (path === '/v1/payment/pi_missing') return json(404, { error: { code: 'resource_missing', message: 'No such payment: pi_missing' } });
  return json(500, { error: { message: `unexpected ${path}` } });
};
const pos = root.createPosTerminal({
  backendUrl: 'http://pos.test',
  getAuthToken: () => 'jwt-1',
  externalAccountId: 'demo-merchant',
  fetch: fakeFetch,
  requestRetries: 0,
  terminal: simulated.createSimulatedStripeTerminal({ backendUrl: 'http://pos.test', fetch: fakeFetch }),
});
const reader = await pos.connect({ simulated: true });
assert.equal(typeof reader.id, 'string');
assert.equal(pos.isReaderConnected(), true);
assert.deepEqual(requests.map((r) => `${r.method} ${r.path}`), [
  'POST /v1/terminal/connection_token',
  'POST /sim/stripe/_sim/terminal/sessions',
]);
assert.equal(requests[0].authorization, 'Bearer jwt-1');
assert.equal(requests[0].body.external_account_id, 'demo-merchant');
assert.equal(requests[1].body.connection_token, 'pst_test_secret');

const missing = await pos.getPayment('pi_missing').then(() => null, (e) => e);
assert.ok(missing instanceof root.PosTerminalError, 'backend errors are PosTerminalError');
assert.equal(missing.kind, 'backend');
assert.equal(missing.status, 404);
assert.equal(missing.code, 'resource_missing');

// The peer dependency resolves next to the package; outside a browser its loader finds no window.
assert.equal(await loadStripeTerminal(), null);

console.log(`consumer.mjs: ${pkg.name}@${pkg.version} imported and used from ${installed}`);
