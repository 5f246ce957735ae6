// processPayment fails without a clear answer: charge() asks the backend for the true status, so a
// paid customer is never told the payment failed.
import test from 'node:test';
import assert from 'node:assert/strict';
import { setup, txn } from '../support/setup.js';

const idOf = (clientSecretOrPi) => (typeof clientSecretOrPi === 'string'
  ? clientSecretOrPi.split('_secret_')[0] : clientSecretOrPi.id);

test('timeout after the payment went through → backend says requires_capture → captured', async (t) => {
  const env = await setup();
  t.after(() => env.close());
  env.sdk.simulateFault({ operation: 'process', code: 'network_timeout', reachServer: true });
  const seen = [];
  const result = await env.pos.charge({
    amount: '12.99', external_transaction_id: txn(), external_customer_id: 'c-t', saveCard: true,
    onStep: (s) => seen.push(s.step),
  });
  assert.deepEqual(seen, ['intent', 'collect', 'process', 'verify', 'capture', 'save_card', 'done']);
  assert.equal(result.recovered, true);
  assert.equal(result.payment.status, 'succeeded');
  assert.equal(result.card.last4, '4242');
  assert.ok(env.fake.requests.some((r) => r.method === 'GET' && r.path === `/v1/payment/${result.paymentIntentId}`));
});

test('the reader disconnects while processing, the payment went through → captured', async (t) => {
  const env = await setup();
  t.after(() => env.close());
  env.sdk.simulateFault({ operation: 'process', code: 'reader_connection_error', reachServer: true, disconnect: true });
  const result = await env.pos.charge({ amount: '4.00', external_transaction_id: txn() });
  assert.equal(result.payment.status, 'succeeded');
  assert.equal(result.recovered, true);
});

test('processPayment never answers → client timeout → backend status → captured', async (t) => {
  const env = await setup({
    terminal: 'fake',
    processTimeoutMs: 100,
    script: {
      process(pi) {
        env.fake.setStatus(idOf(pi), 'requires_capture'); // Stripe authorised it…
        return new Promise(() => {}); // …but the SDK never answers
      },
    },
  });
  t.after(() => env.close());
  const result = await env.pos.charge({ amount: '7.00', external_transaction_id: txn() });
  assert.equal(result.payment.status, 'succeeded');
  assert.equal(result.recovered, true);
});

// The auditor's scenario (issue 7): the reader is slower than processTimeoutMs and authorises the
// card after charge() gave up waiting. charge() must never say "not charged" then.
// `slowReader` only plays a reader slower than processTimeoutMs: these tests are about timing itself,
// and no test waits on it for something to happen.
const slowReader = (ms) => new Promise((r) => setTimeout(r, ms));
const collectedTo = (env, status) => (secret) => {
  env.fake.setStatus(idOf(secret), status);
  return { paymentIntent: { id: idOf(secret), client_secret: secret, status } };
};
const captures = (env) => env.fake.requests.filter((r) => r.path === '/v1/payment/capture').length;

test('slow reader: timeout → cancelProcessPayment too late → its late approval is used → captured', async (t) => {
  const env = await setup({
    terminal: 'fake',
    processTimeoutMs: 50,
    processCancelTimeoutMs: 1_000,
    script: {
      collect: (secret) => collectedTo(env, 'requires_confirmation')(secret),
      async process(pi) {
        await slowReader(150); // slower than processTimeoutMs (50)
        env.fake.setStatus(pi.id, 'requires_capture');
        return { paymentIntent: { ...pi, status: 'requires_capture' } };
      },
      cancelProcess: () => ({ error: { code: 'reader_busy', message: 'too late to cancel' } }),
    },
  });
  t.after(() => env.close());
  const result = await env.pos.charge({ amount: '6.50', external_transaction_id: txn() });
  assert.equal(env.sdk.count('cancelProcessPayment'), 1);
  assert.equal(result.payment.status, 'succeeded');
  assert.equal(result.payment.amount_captured, '6.50');
});

test('slow reader that authorises after charge() gave up → unknown_outcome, never "not charged"; resume captures', async (t) => {
  let authorised;
  const authorisedLater = new Promise((r) => { authorised = r; });
  const env = await setup({
    terminal: 'fake',
    processTimeoutMs: 50,
    processCancelTimeoutMs: 20,
    script: {
      collect: (secret) => collectedTo(env, 'requires_confirmation')(secret),
      process(pi) {
        setTimeout(() => { env.fake.setStatus(pi.id, 'requires_capture'); authorised(); }, 200); // Stripe authorises later…
        return new Promise(() => {}); // …and the SDK never answers, cancel or not
      },
      cancelProcess: () => ({ error: { code: 'reader_busy', message: 'too late to cancel' } }),
    },
  });
  t.after(() => env.close());
  const id = txn();
  const e = await env.pos.charge({ amount: '9.10', external_transaction_id: id }).catch((x) => x);
  assert.equal(e.kind, 'unknown_outcome', String(e?.stack ?? e));
  assert.equal(e.code, 'process_outcome_unknown');
  assert.match(e.paymentIntentId, /^pi_/);
  assert.equal(e.paymentStatus, 'requires_confirmation');
  assert.match(e.message, /Check the payment before charging the customer again/);
  assert.match(e.message, new RegExp(e.paymentIntentId));
  assert.doesNotMatch(e.message, /not (been )?charged/);
  assert.equal(e.cause.code, 'process_timeout');
  assert.equal(env.sdk.count('cancelProcessPayment'), 1);
  assert.equal(env.sdk.count('processPayment'), 1, 'a timed-out process is not retried blindly');
  assert.equal(captures(env), 0);

  await authorisedLater; // the late authorisation has happened (no fixed wait)
  assert.equal((await env.pos.getPayment(e.paymentIntentId)).status, 'requires_capture', 'the card was authorised');
  const steps = [];
  const result = await env.pos.charge({ amount: '9.10', external_transaction_id: id, onStep: (s) => steps.push(s.step) });
  assert.deepEqual(steps, ['intent', 'capture', 'done'], 'captured, no second card read');
  assert.equal(result.paymentIntentId, e.paymentIntentId);
  assert.equal(result.payment.status, 'succeeded');
});

test('timeout, cancelProcessPayment stops the reader, Stripe has no answer → unknown_outcome; the same sale resumes', async (t) => {
  let calls = 0;
  const env = await setup({
    terminal: 'fake',
    processTimeoutMs: 50,
    script: {
      collect: (secret) => collectedTo(env, 'requires_confirmation')(secret),
      process(pi) {
        calls += 1;
        if (calls === 1) return new Promise(() => {}); // silent until cancelled
        env.fake.setStatus(pi.id, 'requires_capture');
        return { paymentIntent: { ...pi, status: 'requires_capture' } };
      },
    },
  });
  t.after(() => env.close());
  const id = txn();
  const e = await env.pos.charge({ amount: '3.30', external_transaction_id: id }).catch((x) => x);
  assert.equal(e.kind, 'unknown_outcome');
  assert.equal(e.paymentStatus, 'requires_confirmation');
  assert.equal(e.cause.cause.code, 'canceled', 'the SDK call ended with canceled');
  assert.equal(env.sdk.count('cancelProcessPayment'), 1);
  const result = await env.pos.charge({ amount: '3.30', external_transaction_id: id });
  assert.equal(result.paymentIntentId, e.paymentIntentId);
  assert.equal(result.payment.status, 'succeeded');
});

test('timeout, then the late answer is a decline → reported as the decline', async (t) => {
  const env = await setup({
    terminal: 'fake',
    processTimeoutMs: 30,
    script: {
      collect: (secret) => collectedTo(env, 'requires_confirmation')(secret),
      async process(pi) {
        await slowReader(80); // slower than processTimeoutMs (30)
        env.fake.setStatus(pi.id, 'requires_payment_method');
        return { error: { type: 'card_error', code: 'card_declined', decline_code: 'insufficient_funds', message: 'declined', payment_intent: { id: pi.id, status: 'requires_payment_method' } } };
      },
      cancelProcess: () => ({ error: { code: 'reader_busy', message: 'too late to cancel' } }),
    },
  });
  t.after(() => env.close());
  const e = await env.pos.charge({ amount: '3.30', external_transaction_id: txn() }).catch((x) => x);
  assert.equal(e.kind, 'declined');
  assert.equal(e.declineCode, 'insufficient_funds');
});

test('the reader drops mid-process and Stripe has no answer → unknown_outcome (the reader may still authorise)', async (t) => {
  const env = await setup({
    terminal: 'fake',
    script: {
      collect: (secret) => collectedTo(env, 'requires_confirmation')(secret),
      process: () => ({ error: { code: 'reader_connection_error', message: 'The connection to the reader was lost.' } }),
    },
  });
  t.after(() => env.close());
  const e = await env.pos.charge({ amount: '5.00', external_transaction_id: txn() }).catch((x) => x);
  assert.equal(e.kind, 'unknown_outcome');
  assert.equal(e.cause.kind, 'reader_disconnected');
  assert.equal(env.sdk.count('processPayment'), 1);
});

test('simulated reader hangs → timeout cancels it → unknown_outcome; the same PosTerminal resumes the sale', async (t) => {
  const env = await setup({ processTimeoutMs: 50 });
  t.after(() => env.close());
  env.sdk.simulateFault({ operation: 'process', hang: true });
  const id = txn();
  const e = await env.pos.charge({ amount: '9.10', external_transaction_id: id }).catch((x) => x);
  assert.equal(e.kind, 'unknown_outcome', String(e?.stack ?? e));
  assert.equal(env.sdk.getPaymentStatus(), 'ready', 'the reader is not left busy');
  const result = await env.pos.charge({ amount: '9.10', external_transaction_id: id });
  assert.equal(result.paymentIntentId, e.paymentIntentId);
  assert.equal(result.payment.status, 'succeeded');
});

test('the request never reached Stripe (requires_confirmation) → processPayment is retried', async (t) => {
  const env = await setup();
  t.after(() => env.close());
  env.sdk.simulateFault({ operation: 'process', code: 'network_error', reachServer: false });
  const result = await env.pos.charge({ amount: '5.00', external_transaction_id: txn() });
  assert.equal(result.payment.status, 'succeeded');
  assert.equal(result.recovered, true);
});

test('an SDK error carrying requires_confirmation is retried directly, as Stripe recommends', async (t) => {
  let calls = 0;
  const env = await setup({
    terminal: 'fake',
    script: {
      process(pi) {
        calls += 1;
        if (calls === 1) {
          return { error: { code: 'network_error', message: 'offline', payment_intent: { id: pi.id, status: 'requires_confirmation' } } };
        }
        env.fake.setStatus(pi.id, 'requires_capture');
        return { paymentIntent: { ...pi, status: 'requires_capture' } };
      },
    },
  });
  t.after(() => env.close());
  const result = await env.pos.charge({ amount: '5.00', external_transaction_id: txn() });
  assert.equal(calls, 2);
  assert.equal(result.recovered, false);
  assert.equal(result.payment.status, 'succeeded');
});

test('Stripe still "processing" is polled until it settles', async (t) => {
  const env = await setup({
    terminal: 'fake',
    script: {
      process(pi) {
        env.fake.setStatus(pi.id, 'processing');
        setTimeout(() => env.fake.setStatus(pi.id, 'requires_capture'), 60);
        return { error: { code: 'network_timeout', message: 'timed out' } };
      },
    },
  });
  t.after(() => env.close());
  const result = await env.pos.charge({ amount: '5.00', external_transaction_id: txn() });
  assert.equal(result.payment.status, 'succeeded');
  const gets = env.fake.requests.filter((r) => r.method === 'GET' && r.path.startsWith('/v1/payment/'));
  assert.ok(gets.length >= 2, `polled ${gets.length} times`);
});

test('a 409 / unexpected state from processPayment is checked with the backend too', async (t) => {
  const env = await setup({
    terminal: 'fake',
    script: {
      process(pi) {
        env.fake.setStatus(pi.id, 'succeeded'); // e.g. another till finished it
        return { error: { code: 'payment_intent_unexpected_state', message: 'unexpected state', type: 'invalid_request_error' } };
      },
    },
  });
  t.after(() => env.close());
  const result = await env.pos.charge({ amount: '5.00', external_transaction_id: txn() });
  assert.equal(result.payment.status, 'succeeded');
  assert.equal(env.fake.requests.filter((r) => r.path === '/v1/payment/capture').length, 0, 'already captured: no capture');
});

test('timeout and the backend says not charged → the error says so, nothing is captured', async (t) => {
  const env = await setup({
    terminal: 'fake',
    script: {
      collect(secret) {
        env.fake.setStatus(idOf(secret), 'requires_confirmation');
        return { paymentIntent: { id: idOf(secret), client_secret: secret, status: 'requires_confirmation' } };
      },
      process: () => ({ error: { code: 'network_timeout', message: 'The request timed out.' } }),
    },
  });
  t.after(() => env.close());
  // The fake SDK never reached Stripe: the intent stays requires_confirmation → one retry, then the error.
  const e = await env.pos.charge({ amount: '5.00', external_transaction_id: txn() }).catch((x) => x);
  assert.equal(e.kind, 'timeout');
  assert.equal(e.paymentStatus, 'requires_confirmation');
  assert.match(e.message, /not been charged/);
  assert.equal(env.sdk.count('processPayment'), 2);
  assert.equal(env.fake.requests.filter((r) => r.path === '/v1/payment/capture').length, 0);
});

test('timeout hiding a decline → reported as the decline it was', async (t) => {
  const env = await setup({
    terminal: 'fake',
    script: {
      process(pi) {
        env.fake.setStatus(pi.id, 'requires_payment_method');
        return { error: { code: 'network_timeout', message: 'timed out' } };
      },
    },
  });
  t.after(() => env.close());
  const e = await env.pos.charge({ amount: '5.00', external_transaction_id: txn() }).catch((x) => x);
  assert.equal(e.kind, 'timeout');
  assert.equal(e.paymentStatus, 'requires_payment_method');
  assert.match(e.message, /not charged/);
});

test('the backend cannot tell either → unknown_outcome (never "failed")', async (t) => {
  const env = await setup({
    terminal: 'fake',
    script: {
      process(pi) {
        env.fake.setStatus(pi.id, 'requires_capture');
        env.fake.failNext('GET /v1/payment/', { status: 503, times: 1000 });
        return { error: { code: 'network_timeout', message: 'timed out' } };
      },
    },
    verifyTimeoutMs: 150,
  });
  t.after(() => env.close());
  const e = await env.pos.charge({ amount: '5.00', external_transaction_id: txn() }).catch((x) => x);
  assert.equal(e.kind, 'unknown_outcome');
  assert.equal(e.code, 'payment_outcome_unknown');
  assert.match(e.paymentIntentId, /^pi_/);
  assert.equal(e.retryable, true);
  assert.match(e.message, /same external_transaction_id/);
});

test('capture keeps failing → error with requires_capture; charge() again resumes without a new card', async (t) => {
  const env = await setup();
  t.after(() => env.close());
  const id = txn();
  env.fake.failNext('POST /v1/payment/capture', { status: 503, times: 3 });
  const e = await env.pos.charge({ amount: '8.00', external_transaction_id: id }).catch((x) => x);
  assert.equal(e.kind, 'backend');
  assert.equal(e.status, 503);
  assert.equal(e.paymentStatus, 'requires_capture');
  assert.match(e.message, /authorised but not captured/);
  const collectsBefore = env.fake.state.collects.length;
  const s = [];
  const result = await env.pos.charge({ amount: '8.00', external_transaction_id: id, onStep: (x) => s.push(x.step) });
  assert.deepEqual(s, ['intent', 'capture', 'done']);
  assert.equal(env.fake.state.collects.length, collectsBefore, 'no second card read');
  assert.equal(result.payment.status, 'succeeded');
});

test('a capture whose answer was lost is retried safely (the backend returns the same result)', async (t) => {
  const env = await setup();
  t.after(() => env.close());
  env.fake.failNext('POST /v1/payment/capture', { status: 502, times: 1, after: true });
  const result = await env.pos.charge({ amount: '8.00', external_transaction_id: txn() });
  assert.equal(result.payment.status, 'succeeded');
  assert.equal(result.payment.amount_captured, '8.00');
});

test('resuming a sale that already succeeded returns it without touching the reader', async (t) => {
  const env = await setup();
  t.after(() => env.close());
  const id = txn();
  const first = await env.pos.charge({ amount: '8.00', external_transaction_id: id, external_customer_id: 'c-r', saveCard: true });
  const collects = env.fake.state.collects.length;
  const again = await env.pos.charge({ amount: '8.00', external_transaction_id: id, external_customer_id: 'c-r', saveCard: true });
  assert.equal(again.paymentIntentId, first.paymentIntentId);
  assert.equal(again.payment.status, 'succeeded');
  assert.equal(again.card.id, first.card.id);
  assert.equal(env.fake.state.collects.length, collects);
});
