// The simulated terminal answers like the real SDK: promises that resolve to results or {error}.
import test from 'node:test';
import assert from 'node:assert/strict';
import { createSimulatedTerminal, createSimulatedStripeTerminal, createBackendClient, TEST_CARDS } from '../../src/index.js';
import { startFakeBackend, FAKE_ACCOUNT, FAKE_TOKEN } from '../support/fake-backend.js';
import { txn } from '../support/setup.js';
import { until } from '../support/until.js';

async function env(t, extra = {}) {
  const fake = await startFakeBackend();
  t.after(() => fake.close());
  const api = createBackendClient({ backendUrl: fake.url, getAuthToken: () => FAKE_TOKEN });
  const events = [];
  const terminal = createSimulatedTerminal({
    backendUrl: fake.url,
    onFetchConnectionToken: () => api.connectionToken({ external_account_id: FAKE_ACCOUNT }),
    onPaymentStatusChange: (e) => events.push(`payment:${e.status}`),
    onConnectionStatusChange: (e) => events.push(`connection:${e.status}`),
    ...extra,
  });
  const intent = (customer) => api.createIntent({
    external_account_id: FAKE_ACCOUNT, amount: '12.99', external_transaction_id: txn(), external_customer_id: customer,
  });
  return { fake, api, terminal, events, intent };
}

test('needs onFetchConnectionToken, like StripeTerminal.create', () => {
  assert.throws(() => createSimulatedTerminal({ backendUrl: 'http://x' }), TypeError);
});

test('discover, connect, collect, process: SDK-shaped results and status events', async (t) => {
  const { terminal, events, intent, fake } = await env(t);
  assert.equal(terminal.getConnectionStatus(), 'not_connected');
  const { discoveredReaders } = await terminal.discoverReaders({ simulated: true });
  assert.ok(discoveredReaders.length >= 1);
  assert.equal(discoveredReaders[0].object, 'terminal.reader');
  const { reader } = await terminal.connectReader(discoveredReaders[0]);
  assert.equal(reader.id, discoveredReaders[0].id);
  assert.equal(terminal.getConnectionStatus(), 'connected');
  assert.equal(terminal.getConnectedReader().id, reader.id);

  const pi = await intent();
  const collected = await terminal.collectPaymentMethod(pi.client_secret);
  assert.equal(collected.paymentIntent.id, pi.id);
  assert.equal(collected.paymentIntent.status, 'requires_confirmation');
  assert.equal(collected.paymentIntent.sdk_payment_details.card_present.last4, '4242');
  const processed = await terminal.processPayment(collected.paymentIntent);
  assert.equal(processed.paymentIntent.status, 'requires_capture');
  assert.equal(fake.state.intents.get(pi.id).status, 'requires_capture');
  assert.deepEqual(events, [
    'connection:connecting', 'connection:connected', 'payment:ready',
    'payment:waiting_for_input', 'payment:ready', 'payment:processing', 'payment:ready',
  ]);
});

test('errors resolve as {error} with the SDK codes', async (t) => {
  const { terminal, intent } = await env(t);
  const pi = await intent();
  assert.equal((await terminal.collectPaymentMethod(pi.client_secret)).error.code, 'no_established_connection');
  assert.equal((await terminal.processPayment({ id: pi.id })).error.code, 'no_established_connection');
  assert.equal((await terminal.cancelCollectPaymentMethod()).error.code, 'no_active_collect_payment_method_attempt');
  const [reader] = (await terminal.discoverReaders()).discoveredReaders;
  await terminal.connectReader(reader);
  assert.equal((await terminal.connectReader(reader)).error.code, 'already_connected');
  assert.equal((await terminal.collectPaymentMethod('nope')).error.code, 'invalid_payment_intent_client_secret');
  assert.equal((await terminal.processPayment({ id: 'pi_unknown' })).error.code, 'invalid_payment_intent_input_shape');
});

test('a decline carries type, code, decline_code and the updated payment_intent', async (t) => {
  const { terminal, intent } = await env(t);
  await terminal.connectReader((await terminal.discoverReaders()).discoveredReaders[0]);
  const pi = await intent();
  terminal.setSimulatorConfiguration({ testCardNumber: '4000000000009995' });
  assert.deepEqual(terminal.getSimulatorConfiguration(), { testCardNumber: '4000000000009995' });
  const collected = await terminal.collectPaymentMethod(pi.client_secret);
  const { error } = await terminal.processPayment(collected.paymentIntent);
  assert.equal(error.type, 'card_error');
  assert.equal(error.code, 'card_declined');
  assert.equal(error.decline_code, 'insufficient_funds');
  assert.equal(error.payment_intent.id, pi.id);
  assert.equal(error.payment_intent.status, 'requires_payment_method');
  assert.deepEqual(terminal.getSimulatorConfiguration(), {}, 'the configuration resets after processPayment');

  // Another card on the same intent, chosen per call.
  const again = await terminal.collectPaymentMethod(pi.client_secret, { testCardNumber: '5555555555554444' });
  assert.equal(again.paymentIntent.sdk_payment_details.card_present.brand, 'mastercard');
  assert.equal((await terminal.processPayment(again.paymentIntent)).paymentIntent.status, 'requires_capture');
});

test('allow_redisplay from config_override reaches the simulator', async (t) => {
  const { terminal, intent, fake } = await env(t);
  await terminal.connectReader((await terminal.discoverReaders()).discoveredReaders[0]);
  const pi = await intent('cust-1');
  await terminal.collectPaymentMethod(pi.client_secret, { config_override: { allow_redisplay: 'always' } });
  assert.equal(fake.state.collects.at(-1).allow_redisplay, 'always');
});

test('cancelCollectPaymentMethod during the card wait resolves collect with canceled', async (t) => {
  const { terminal, intent, fake } = await env(t, { readerDelayMs: 5_000 });
  await terminal.connectReader((await terminal.discoverReaders()).discoveredReaders[0]);
  const pi = await intent();
  const collecting = terminal.collectPaymentMethod(pi.client_secret);
  await until(() => terminal.getPaymentStatus() === 'waiting_for_input', 'the reader waiting for a card');
  assert.equal((await terminal.collectPaymentMethod(pi.client_secret)).error.code, 'command_already_in_progress');
  assert.deepEqual(await terminal.cancelCollectPaymentMethod(), {});
  assert.equal((await collecting).error.code, 'canceled');
  assert.equal(terminal.getPaymentStatus(), 'ready');
  assert.equal(fake.state.intents.get(pi.id).status, 'requires_payment_method');
});

test('an expired simulator session is re-opened with a fresh token', async (t) => {
  const { terminal, intent, fake } = await env(t);
  await terminal.connectReader((await terminal.discoverReaders()).discoveredReaders[0]);
  fake.state.sessions.clear();
  const pi = await intent();
  const collected = await terminal.collectPaymentMethod(pi.client_secret);
  assert.equal(collected.paymentIntent.status, 'requires_confirmation');
  assert.equal(fake.state.connectionTokenCalls, 2);
});

test('an unreachable simulator is a network_error, never a rejection', async (t) => {
  const terminal = createSimulatedTerminal({
    backendUrl: 'http://127.0.0.1:9', onFetchConnectionToken: async () => 'pst_test_x',
  });
  const result = await terminal.connectReader((await terminal.discoverReaders()).discoveredReaders[0]);
  assert.equal(result.error.code, 'network_error');
  assert.equal(terminal.getConnectionStatus(), 'not_connected');
});

test('createSimulatedStripeTerminal looks like the StripeTerminal namespace; absolute stripeApiBase works', async (t) => {
  const fake = await startFakeBackend();
  t.after(() => fake.close());
  const ns = createSimulatedStripeTerminal({ backendUrl: 'http://ignored.invalid', stripeApiBase: `${fake.url}/sim/stripe` });
  assert.equal(ns.PaymentStatus.WAITING_FOR_INPUT, 'waiting_for_input');
  assert.equal(ns.ConnectionStatus.CONNECTED, 'connected');
  const api = createBackendClient({ backendUrl: fake.url, getAuthToken: () => FAKE_TOKEN });
  const terminal = ns.create({ onFetchConnectionToken: () => api.connectionToken({ external_account_id: FAKE_ACCOUNT }) });
  const { reader } = await terminal.connectReader((await terminal.discoverReaders()).discoveredReaders[0]);
  assert.ok(reader);
});

test('TEST_CARDS lists the simulator cards', () => {
  const numbers = TEST_CARDS.map((c) => c.number);
  for (const n of ['4242424242424242', '5555555555554444', '4000000000000002', '4000000000009995',
    '4000000000000069', '4000000000000119', '4111111111111111']) assert.ok(numbers.includes(n), n);
  assert.ok(Object.isFrozen(TEST_CARDS));
});

test('sdk_payment_details falls back to the card the reader read when payment_method is not expanded', async (t) => {
  // A simulator that answers collect with payment_method as an id, as Stripe does unless expanded.
  const unexpanding = async (url, init) => {
    const res = await fetch(url, init);
    if (!String(url).endsWith('/_sim/terminal/collect') || !res.ok) return res;
    const pi = await res.json();
    return new Response(JSON.stringify({ ...pi, payment_method: pi.payment_method.id }), { status: 200 });
  };
  const { terminal, intent } = await env(t, { fetch: unexpanding });
  await terminal.connectReader((await terminal.discoverReaders()).discoveredReaders[0]);
  const pi = await intent();
  const collected = await terminal.collectPaymentMethod(pi.client_secret, { testCardNumber: '4111111111111111' });
  assert.equal(typeof collected.paymentIntent.payment_method, 'string');
  assert.deepEqual(collected.paymentIntent.sdk_payment_details.card_present,
    { brand: 'visa', last4: '1111', exp_month: null, exp_year: null, wallet: { type: 'apple_pay' } });
});

test('a card collected earlier but never processed is replaced by a new read (another reader session)', async (t) => {
  const { terminal, intent, fake, api } = await env(t);
  await terminal.connectReader((await terminal.discoverReaders()).discoveredReaders[0]);
  const pi = await intent();
  assert.equal((await terminal.collectPaymentMethod(pi.client_secret, { testCardNumber: '4242424242424242' })).paymentIntent.status,
    'requires_confirmation');
  // A new tablet session (reload) never saw that collection and reads another card.
  const other = createSimulatedTerminal({
    backendUrl: fake.url, onFetchConnectionToken: () => api.connectionToken({ external_account_id: FAKE_ACCOUNT }),
  });
  await other.connectReader((await other.discoverReaders()).discoveredReaders[0]);
  const collected = await other.collectPaymentMethod(pi.client_secret, { testCardNumber: '5555555555554444' });
  assert.equal(collected.paymentIntent.status, 'requires_confirmation', JSON.stringify(collected.error));
  assert.equal(collected.paymentIntent.sdk_payment_details.card_present.last4, '4444');
  const processed = await other.processPayment(collected.paymentIntent);
  assert.equal(processed.paymentIntent.status, 'requires_capture');
  assert.equal(fake.state.intents.get(pi.id).charge.card.last4, '4444');
});

test('a paid intent is never re-collected: the unexpected-state error comes through', async (t) => {
  const { terminal, intent, fake } = await env(t);
  await terminal.connectReader((await terminal.discoverReaders()).discoveredReaders[0]);
  const pi = await intent();
  const collected = await terminal.collectPaymentMethod(pi.client_secret);
  await terminal.processPayment(collected.paymentIntent);
  const again = await terminal.collectPaymentMethod(pi.client_secret);
  assert.equal(again.error.code, 'payment_intent_unexpected_state');
  assert.equal(fake.state.intents.get(pi.id).status, 'requires_capture');
});

test('cancelProcessPayment frees a reader whose processPayment never answers', async (t) => {
  const { terminal, intent } = await env(t);
  assert.equal((await terminal.cancelProcessPayment()).error.code, 'no_active_process_payment_attempt');
  await terminal.connectReader((await terminal.discoverReaders()).discoveredReaders[0]);
  const pi = await intent();
  const collected = await terminal.collectPaymentMethod(pi.client_secret);
  terminal.simulateFault({ operation: 'process', hang: true });
  const processing = terminal.processPayment(collected.paymentIntent);
  await until(() => terminal.getPaymentStatus() === 'processing', 'the reader processing');
  assert.equal((await terminal.processPayment(collected.paymentIntent)).error.code, 'command_already_in_progress');
  assert.deepEqual(await terminal.cancelProcessPayment(), {});
  assert.equal((await processing).error.code, 'canceled');
  assert.equal(terminal.getPaymentStatus(), 'ready');
  assert.equal((await terminal.cancelProcessPayment()).error.code, 'no_active_process_payment_attempt');
  // The reader takes commands again: the same card goes through.
  assert.equal((await terminal.processPayment(collected.paymentIntent)).paymentIntent.status, 'requires_capture');
});

test('a slow reader cancelled before it sends the request charges nothing; uncancelled it goes through', async (t) => {
  const { terminal, intent, fake } = await env(t);
  await terminal.connectReader((await terminal.discoverReaders()).discoveredReaders[0]);
  const pi = await intent();
  const collected = await terminal.collectPaymentMethod(pi.client_secret);
  terminal.simulateFault({ operation: 'process', delayMs: 5_000 });
  const processing = terminal.processPayment(collected.paymentIntent);
  await until(() => terminal.getPaymentStatus() === 'processing', 'the reader processing');
  assert.deepEqual(await terminal.cancelProcessPayment(), {});
  assert.equal((await processing).error.code, 'canceled');
  assert.equal(fake.state.intents.get(pi.id).status, 'requires_confirmation');
  assert.equal(fake.requests.filter((r) => r.path === '/sim/stripe/_sim/terminal/process').length, 0);

  terminal.simulateFault({ operation: 'process', delayMs: 30 });
  assert.equal((await terminal.processPayment(collected.paymentIntent)).paymentIntent.status, 'requires_capture');
});

test('saving a card without a payment: the SDK-shaped checks before the simulator is asked', async (t) => {
  const { terminal, fake } = await env(t);
  const notConnected = await terminal.collectSetupIntentPaymentMethod('seti_1_secret_2', 'limited', null);
  assert.equal(notConnected.error.code, 'no_established_connection');
  const { discoveredReaders } = await terminal.discoverReaders({ simulated: true });
  await terminal.connectReader(discoveredReaders[0]);
  const before = fake.requests.length;
  const paymentSecret = await terminal.collectSetupIntentPaymentMethod('pi_1_secret_2', 'limited', null);
  assert.equal(paymentSecret.error.code, 'invalid_setup_intent_client_secret');
  const consent = await terminal.collectSetupIntentPaymentMethod('seti_1_secret_2', 'sometimes', null);
  assert.equal(consent.error.code, 'invalid_required_parameter');
  const nothingCollected = await terminal.confirmSetupIntent({ id: 'seti_unknown' });
  assert.equal(nothingCollected.error.code, 'invalid_setup_intent_input_shape');
  const noCollect = await terminal.cancelCollectSetupIntentPaymentMethod();
  assert.equal(noCollect.error.code, 'no_active_collect_payment_method_attempt');
  assert.equal(fake.requests.length, before, 'nothing was sent');
});
