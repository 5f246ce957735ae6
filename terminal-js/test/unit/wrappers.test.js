import test from 'node:test';
import assert from 'node:assert/strict';
import { setup, txn, FAKE_ACCOUNT, FAKE_TOKEN } from '../support/setup.js';
import { createPosTerminal, createConnectionTokenFetcher, createSimulatedTerminal } from '../../src/index.js';
import { createFakeTerminal } from '../support/fake-terminal.js';
import { startFakeBackend } from '../support/fake-backend.js';

test('onFetchConnectionToken fetches a fresh token from the backend on every call', async (t) => {
  const env = await setup({ terminal: 'fake', connect: false });
  t.after(() => env.close());
  const fetchToken = env.sdk.props.onFetchConnectionToken;
  assert.equal(typeof fetchToken, 'function');
  const a = await fetchToken();
  const b = await fetchToken();
  const c = await env.pos.fetchConnectionToken();
  assert.equal(new Set([a, b, c]).size, 3);
  assert.equal(env.fake.state.connectionTokenCalls, 3);
  const bodies = env.fake.requests.filter((r) => r.path === '/v1/terminal/connection_token').map((r) => r.body);
  assert.deepEqual(bodies[0], { external_account_id: FAKE_ACCOUNT });
});

test('the simulated terminal redeems a fresh token for each session', async (t) => {
  const env = await setup();
  t.after(() => env.close());
  assert.equal(env.fake.state.connectionTokenCalls, 1);
  await env.sdk.clearCachedCredentials();
  await env.pos.charge({ amount: '1.00', external_transaction_id: txn() });
  assert.equal(env.fake.state.connectionTokenCalls, 2, 'the cleared session needed a new token');
  await env.sdk.disconnectReader();
  await env.pos.connect({ simulated: true });
  assert.equal(env.fake.state.connectionTokenCalls, 3);
  const redeemed = [...env.fake.state.connectionTokens.values()].filter((x) => x.redeemed).length;
  assert.equal(redeemed, 3);
});

test('a failing token endpoint makes connect fail with a typed error', async (t) => {
  const env = await setup({ connect: false, getAuthToken: () => 'not-a-valid-jwt' });
  t.after(() => env.close());
  await assert.rejects(env.pos.connect({ simulated: true }),
    (e) => e.kind === 'terminal' && e.code === 'failed_fetch_connection_token' && /401|token/i.test(e.message));
});

test('collectPaymentMethod wrapper passes allow_redisplay when saving and returns the SDK intent', async (t) => {
  const env = await setup({ terminal: 'fake' });
  t.after(() => env.close());
  const pi = await env.pos.collectPaymentMethod('pi_1_secret_2', { saveCard: true });
  assert.equal(pi.id, 'pi_1');
  const [secret, options] = env.sdk.calls.find((c) => c.name === 'collectPaymentMethod').args;
  assert.equal(secret, 'pi_1_secret_2');
  assert.deepEqual(options, { config_override: { allow_redisplay: 'limited' } });

  await env.pos.collectPaymentMethod('pi_1_secret_2');
  assert.equal(env.sdk.calls.filter((c) => c.name === 'collectPaymentMethod')[1].args[1], undefined);

  await env.pos.collectPaymentMethod('pi_1_secret_2', { config_override: { skip_tipping: true }, allowRedisplay: 'limited' });
  assert.deepEqual(env.sdk.calls.filter((c) => c.name === 'collectPaymentMethod')[2].args[1],
    { config_override: { skip_tipping: true, allow_redisplay: 'limited' } });

  await assert.rejects(env.pos.collectPaymentMethod(''), (e) => e.kind === 'invalid_request');
});

test('processPayment wrapper: success, decline and SDK errors', async (t) => {
  const answers = [
    (pi) => ({ paymentIntent: { ...pi, status: 'requires_capture' } }),
    (pi) => ({ error: { type: 'card_error', code: 'card_declined', decline_code: 'generic_decline', message: 'declined', payment_intent: { ...pi, status: 'requires_payment_method' } } }),
    () => ({ error: { code: 'no_established_connection', message: 'no reader' } }),
    () => { throw new Error('sdk bug'); },
  ];
  const env = await setup({ terminal: 'fake', script: { process: (pi) => answers.shift()(pi) } });
  t.after(() => env.close());
  const pi = { id: 'pi_7', status: 'requires_confirmation' };
  assert.equal((await env.pos.processPayment(pi)).status, 'requires_capture');
  await assert.rejects(env.pos.processPayment(pi),
    (e) => e.kind === 'declined' && e.declineCode === 'generic_decline' && e.paymentIntentId === 'pi_7');
  await assert.rejects(env.pos.processPayment(pi), (e) => e.kind === 'reader_disconnected' && e.paymentIntentId === 'pi_7');
  await assert.rejects(env.pos.processPayment(pi), (e) => e.kind === 'terminal' && e.message === 'sdk bug');
});

test('processPayment wrapper times out on a silent terminal', async (t) => {
  const env = await setup({ terminal: 'fake', script: { process: () => new Promise(() => {}) } });
  t.after(() => env.close());
  await assert.rejects(env.pos.processPayment({ id: 'pi_8' }, { timeoutMs: 30 }),
    (e) => e.kind === 'timeout' && e.code === 'process_timeout' && e.paymentIntentId === 'pi_8' &&
      e.cause?.code === 'canceled');
  assert.equal(env.sdk.count('cancelProcessPayment'), 1, 'the reader is told to stop');
});

test('processPayment wrapper: an answer arriving while the timed-out call is cancelled is returned', async (t) => {
  const env = await setup({
    terminal: 'fake',
    processCancelTimeoutMs: 1_000,
    script: {
      process: (pi) => new Promise((r) => setTimeout(() => r({ paymentIntent: { ...pi, status: 'requires_capture' } }), 80)),
      cancelProcess: () => ({ error: { code: 'reader_busy', message: 'too late to cancel' } }),
    },
  });
  t.after(() => env.close());
  assert.equal((await env.pos.processPayment({ id: 'pi_9' }, { timeoutMs: 20 })).status, 'requires_capture');
  assert.equal(env.sdk.count('cancelProcessPayment'), 1);
});

test('discoverReaders / connectReader / connect helpers', async (t) => {
  const env = await setup({ connect: false });
  t.after(() => env.close());
  const readers = await env.pos.discoverReaders({ simulated: true });
  assert.ok(readers.length >= 1);
  assert.equal(env.pos.isReaderConnected(), false);
  const reader = await env.pos.connect({ simulated: true, label: readers[readers.length - 1].label });
  assert.equal(reader.id, readers[readers.length - 1].id);
  assert.equal(env.pos.isReaderConnected(), true);
  assert.equal((await env.pos.connect({ simulated: true })).id, reader.id, 'already connected: same reader');
  await assert.rejects(env.pos.connectReader(readers[0]), (e) => e.kind === 'terminal' && e.code === 'already_connected');
  await env.sdk.disconnectReader();
  await assert.rejects(env.pos.connect({ readerId: 'tmr_nope' }), (e) => e.code === 'no_reader_found');
});

test('terminal may be an instance created by the app, a factory, or a StripeTerminal namespace', async (t) => {
  const fake = await startFakeBackend();
  t.after(() => fake.close());
  const base = { backendUrl: fake.url, getAuthToken: async () => FAKE_TOKEN, externalAccountId: FAKE_ACCOUNT };

  // 1. an instance the app created, wired to a standalone token fetcher
  const onFetchConnectionToken = createConnectionTokenFetcher(base);
  const instance = createSimulatedTerminal({ backendUrl: fake.url, onFetchConnectionToken });
  const pos1 = createPosTerminal({ ...base, terminal: instance });
  assert.equal(pos1.terminal, instance);
  await pos1.connect({ simulated: true });
  assert.equal((await pos1.charge({ amount: '2.00', external_transaction_id: txn() })).payment.status, 'succeeded');

  // 2. a factory
  let props;
  const pos2 = createPosTerminal({ ...base, terminal: (p) => { props = p; return createFakeTerminal(p); } });
  assert.equal(typeof props.onFetchConnectionToken, 'function');
  assert.equal(typeof props.onUnexpectedReaderDisconnect, 'function');
  assert.ok(pos2.terminal.calls);

  // 3. a namespace with create(), plus terminalOptions passed through
  let created;
  createPosTerminal({ ...base, terminalOptions: { logLevel: 'verbose' }, terminal: { create: (p) => { created = p; return createFakeTerminal(p); } } });
  assert.equal(created.logLevel, 'verbose');

  assert.throws(() => createPosTerminal({ ...base, terminal: 42 }), (e) => e.kind === 'invalid_request');
});

test('backend helpers act for the configured account', async (t) => {
  const env = await setup();
  t.after(() => env.close());
  const r = await env.pos.charge({ amount: '6.00', external_transaction_id: txn(), external_customer_id: 'c-h' });
  assert.equal((await env.pos.getPayment(r.paymentIntentId)).status, 'succeeded');
  assert.equal((await env.pos.capturePayment(r.paymentIntentId)).status, 'succeeded');
  const card = await env.pos.saveCard(r.paymentIntentId, 'c-h');
  assert.equal(card.last4, '4242');
  assert.equal((await env.pos.listCards('c-h')).length, 1);
  const other = await env.pos.backend.createIntent({ external_account_id: FAKE_ACCOUNT, amount: '1.00', external_transaction_id: txn() });
  assert.equal((await env.pos.cancelPayment(other.id)).status, 'canceled');
});
