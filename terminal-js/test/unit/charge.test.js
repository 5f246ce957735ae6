import test from 'node:test';
import assert from 'node:assert/strict';
import { setup, txn, FAKE_ACCOUNT } from '../support/setup.js';

const steps = () => {
  const seen = [];
  return { seen, onStep: (s) => seen.push(s.step) };
};

test('charge: intent → collect → process → capture, without a customer', async (t) => {
  const env = await setup();
  t.after(() => env.close());
  const s = steps();
  const result = await env.pos.charge({ amount: '12.99', external_transaction_id: txn(), onStep: s.onStep });
  assert.deepEqual(s.seen, ['intent', 'collect', 'process', 'capture', 'done']);
  assert.equal(result.payment.status, 'succeeded');
  assert.equal(result.payment.amount, '12.99');
  assert.equal(result.payment.amount_captured, '12.99');
  assert.equal(result.payment.currency, 'usd');
  assert.match(result.paymentIntentId, /^pi_/);
  assert.equal(result.card, null);
  assert.equal(result.cardError, null);
  assert.equal(result.attempts, 1);
  assert.equal(result.recovered, false);
  assert.equal(env.fake.state.collects[0].allow_redisplay, null, 'no allow_redisplay without a customer');
  const intentReq = env.fake.requests.find((r) => r.path === '/v1/payment/intent');
  assert.equal(intentReq.body.payment_method_types, 'card_present');
  assert.equal(intentReq.body.capture_method, 'manual');
});

test('charge with saveCard: allow_redisplay limited, card saved, listed, and not duplicated', async (t) => {
  const env = await setup();
  t.after(() => env.close());
  const s = steps();
  const customer = `cust-${txn()}`;
  const first = await env.pos.charge({
    amount: 12.99, currency: 'usd', external_transaction_id: txn(), external_customer_id: customer, saveCard: true,
    onStep: s.onStep,
  });
  assert.deepEqual(s.seen, ['intent', 'collect', 'process', 'capture', 'save_card', 'done']);
  assert.equal(env.fake.state.collects[0].allow_redisplay, 'limited');
  assert.equal(first.card.brand, 'visa');
  assert.equal(first.card.last4, '4242');
  assert.equal(first.card.external_customer_id, customer);
  assert.match(first.card.payment_method_id, /^pm_/);
  assert.equal(first.card.customer_id, first.payment.customer_id);

  const second = await env.pos.charge({
    amount: '3.50', external_transaction_id: txn(), external_customer_id: customer, saveCard: true,
  });
  assert.equal(second.card.id, first.card.id, 'the same physical card is the same saved card');
  const cards = await env.pos.listCards(customer);
  assert.equal(cards.length, 1);
  assert.equal(cards[0].last4, '4242');
});

test('a customer without saveCard: allow_redisplay limited and no card saved', async (t) => {
  const env = await setup();
  t.after(() => env.close());
  const result = await env.pos.charge({ amount: '1.00', external_transaction_id: txn(), external_customer_id: 'c-1' });
  assert.equal(env.fake.state.collects[0].allow_redisplay, 'limited');
  assert.equal(result.card, null);
  assert.equal(env.fake.requests.filter((r) => r.path === '/v1/customer/card').length, 0);
});

test('a decline lets the customer try another card on the same intent (onDecline)', async (t) => {
  const env = await setup();
  t.after(() => env.close());
  const s = steps();
  env.sdk.setSimulatorConfiguration({ testCardNumber: '4000000000000002' });
  const seenDeclines = [];
  const result = await env.pos.charge({
    amount: '12.99', external_transaction_id: txn(), external_customer_id: 'c-2', saveCard: true,
    onStep: s.onStep,
    onDecline: async (error, { attempt, paymentIntentId }) => {
      seenDeclines.push({ kind: error.kind, declineCode: error.declineCode, status: error.paymentStatus, attempt, paymentIntentId });
      env.sdk.setSimulatorConfiguration({ testCardNumber: '5555555555554444' });
      return true;
    },
  });
  assert.equal(seenDeclines.length, 1);
  assert.deepEqual(seenDeclines[0], {
    kind: 'declined', declineCode: 'generic_decline', status: 'requires_payment_method', attempt: 1,
    paymentIntentId: result.paymentIntentId,
  });
  assert.deepEqual(s.seen, ['intent', 'collect', 'process', 'declined', 'collect', 'process', 'capture', 'save_card', 'done']);
  assert.equal(result.attempts, 2);
  assert.equal(result.declines.length, 1);
  assert.equal(result.payment.status, 'succeeded');
  assert.equal(result.card.brand, 'mastercard');
  assert.deepEqual(result.cardPresent, { brand: 'mastercard', last4: '4444', exp_month: 12, exp_year: 2034, wallet: null });
  assert.equal(result.paymentIntent.status, 'requires_capture');
  assert.equal(env.fake.state.intents.size, 1, 'one PaymentIntent for the whole sale');
});

test('without onDecline the decline is thrown; charge() again with the same transaction resumes', async (t) => {
  const env = await setup();
  t.after(() => env.close());
  const id = txn();
  env.sdk.setSimulatorConfiguration({ testCardNumber: '4000000000009995' });
  const declined = await env.pos.charge({ amount: '20.00', external_transaction_id: id }).catch((e) => e);
  assert.equal(declined.kind, 'declined');
  assert.equal(declined.declineCode, 'insufficient_funds');
  assert.equal(declined.paymentStatus, 'requires_payment_method');
  assert.match(declined.paymentIntentId, /^pi_/);

  // The simulated reader reverted to its default card (4242) after processPayment, like Stripe's.
  const result = await env.pos.charge({ amount: '20.00', external_transaction_id: id });
  assert.equal(result.paymentIntentId, declined.paymentIntentId);
  assert.equal(result.payment.status, 'succeeded');
  assert.equal(env.fake.state.intents.size, 1);
});

test('onDecline returning false stops with the decline', async (t) => {
  const env = await setup();
  t.after(() => env.close());
  env.sdk.setSimulatorConfiguration({ testCardNumber: '4000000000000069' });
  await assert.rejects(
    env.pos.charge({ amount: '2.00', external_transaction_id: txn(), onDecline: () => false }),
    (e) => e.kind === 'declined' && e.declineCode === 'expired_card',
  );
});

test('every declining test card is a typed decline', async (t) => {
  const env = await setup();
  t.after(() => env.close());
  for (const [card, code] of [['4000000000000002', 'generic_decline'], ['4000000000009995', 'insufficient_funds'],
    ['4000000000000069', 'expired_card'], ['4000000000000119', 'processing_error']]) {
    env.sdk.setSimulatorConfiguration({ testCardNumber: card });
    const e = await env.pos.charge({ amount: '1.00', external_transaction_id: txn() }).catch((x) => x);
    assert.equal(e.kind, 'declined', card);
    assert.equal(e.declineCode, code, card);
  }
});

test('a wallet tap is paid but its card cannot be saved: reported, not thrown', async (t) => {
  const env = await setup();
  t.after(() => env.close());
  env.sdk.setSimulatorConfiguration({ testCardNumber: '4111111111111111' });
  const result = await env.pos.charge({
    amount: '9.99', external_transaction_id: txn(), external_customer_id: 'c-wallet', saveCard: true,
  });
  assert.equal(result.payment.status, 'succeeded');
  assert.equal(result.card, null);
  assert.equal(result.cardError.kind, 'backend');
  assert.equal(result.cardError.status, 409);
  assert.equal(result.cardError.code, 'card_not_saveable');
  assert.equal(result.cardError.paymentIntentId, result.paymentIntentId);
});

test('charge validates before any request', async (t) => {
  const env = await setup();
  t.after(() => env.close());
  const before = env.fake.requests.length;
  await assert.rejects(env.pos.charge({ amount: '1.00', external_transaction_id: txn(), saveCard: true }),
    (e) => e.kind === 'invalid_request' && e.param === 'external_customer_id');
  await assert.rejects(env.pos.charge({ external_transaction_id: txn() }),
    (e) => e.kind === 'invalid_request' && e.param === 'amount');
  await assert.rejects(env.pos.charge({ amount: '1.00' }),
    (e) => e.kind === 'invalid_request' && e.param === 'external_transaction_id');
  assert.equal(env.fake.requests.length, before);
});

test('a backend validation error surfaces as kind backend with param', async (t) => {
  const env = await setup();
  t.after(() => env.close());
  await assert.rejects(env.pos.charge({ amount: '0', external_transaction_id: txn() }),
    (e) => e.kind === 'backend' && e.status === 400 && e.param === 'amount');
});

test('one charge at a time', async (t) => {
  const env = await setup({ terminal: 'fake', script: { collect: () => new Promise(() => {}) } });
  t.after(() => env.close());
  const first = env.pos.charge({ amount: '1.00', external_transaction_id: txn() });
  first.catch(() => {});
  await assert.rejects(env.pos.charge({ amount: '1.00', external_transaction_id: txn() }),
    (e) => e.kind === 'invalid_request' && e.code === 'charge_in_progress');
  await env.pos.cancel();
  await assert.rejects(first, (e) => e.kind === 'cancelled');
});

test('no reader connected: kind reader_disconnected and nothing is charged', async (t) => {
  const env = await setup({ connect: false });
  t.after(() => env.close());
  const e = await env.pos.charge({ amount: '1.00', external_transaction_id: txn() }).catch((x) => x);
  assert.equal(e.kind, 'reader_disconnected');
  assert.equal(e.code, 'no_established_connection');
  const pi = [...env.fake.state.intents.values()][0];
  assert.equal(e.paymentIntentId, pi.id);
  assert.equal(pi.status, 'requires_payment_method');
});

test('the reader drops while waiting for the card: reader_disconnected, callback fired', async (t) => {
  const disconnects = [];
  const env = await setup({ onUnexpectedReaderDisconnect: (ev) => disconnects.push(ev) });
  t.after(() => env.close());
  const charging = env.pos.charge({
    amount: '1.00', external_transaction_id: txn(),
    onStep: (s) => { if (s.step === 'collect') setImmediate(() => env.sdk.simulateReaderDisconnect()); },
  });
  await assert.rejects(charging, (e) => e.kind === 'reader_disconnected');
  assert.equal(disconnects.length, 1);
  assert.equal(env.pos.isReaderConnected(), false);
});

test("allowRedisplay 'always' reaches collection; 'unspecified' with a customer is refused before any call", async (t) => {
  const env = await setup();
  t.after(() => env.close());
  const customer = `cust-${txn()}`;
  const result = await env.pos.charge({
    amount: '2.00', external_transaction_id: txn(), external_customer_id: customer, saveCard: true, allowRedisplay: 'always',
  });
  assert.equal(result.payment.status, 'succeeded');
  assert.equal(env.fake.state.collects.at(-1).allow_redisplay, 'always');

  const requests = env.fake.requests.length;
  for (const allowRedisplay of ['unspecified', 'sometimes']) {
    await assert.rejects(env.pos.charge({
      amount: '2.00', external_transaction_id: txn(), external_customer_id: customer, allowRedisplay,
    }), (e) => e.kind === 'invalid_request' && e.param === 'allowRedisplay');
  }
  assert.equal(env.fake.requests.length, requests, 'no backend call');
});
