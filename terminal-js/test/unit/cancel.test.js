import test from 'node:test';
import assert from 'node:assert/strict';
import { setup, txn } from '../support/setup.js';
import { until } from '../support/until.js';

test('cancel() while the reader waits for a card: collection and intent are cancelled', async (t) => {
  const env = await setup({ simulator: { readerDelayMs: 10_000 } });
  t.after(() => env.close());
  const id = txn();
  let collecting;
  const atCollect = new Promise((resolve) => { collecting = resolve; });
  const seen = [];
  const charging = env.pos.charge({
    amount: '3.00', external_transaction_id: id,
    onStep: (s) => { seen.push(s.step); if (s.step === 'collect') collecting(); },
  });
  await atCollect;
  assert.equal(env.pos.getState().phase, 'collect');
  assert.equal(await env.pos.cancel(), true);
  const e = await charging.catch((x) => x);
  assert.equal(e.kind, 'cancelled');
  assert.equal(e.code, 'charge_cancelled');
  assert.equal(e.paymentStatus, 'canceled');
  assert.deepEqual(seen, ['intent', 'collect', 'cancelled']);
  assert.equal(env.fake.state.intents.get(e.paymentIntentId).status, 'canceled');
  assert.equal(env.fake.state.collects.length, 0, 'no card was read');
  assert.equal(env.pos.getState(), null);

  // The transaction is over: the same id does not charge again.
  await assert.rejects(env.pos.charge({ amount: '3.00', external_transaction_id: id }),
    (x) => x.kind === 'cancelled' && x.code === 'payment_canceled');
});

test('cancel() while the intent is being created cancels it as soon as it exists', async (t) => {
  let release;
  const gate = new Promise((resolve) => { release = resolve; });
  const env = await setup({
    terminal: 'fake',
    fetch: async (url, init) => {
      if (String(url).endsWith('/v1/payment/intent')) await gate;
      return fetch(url, init);
    },
  });
  t.after(() => env.close());
  const charging = env.pos.charge({ amount: '3.00', external_transaction_id: txn() });
  await until(() => env.pos.getState().phase === 'intent', 'the intent phase');
  const cancelled = env.pos.cancel();
  release();
  assert.equal(await cancelled, true);
  const e = await charging.catch((x) => x);
  assert.equal(e.kind, 'cancelled');
  assert.equal(env.sdk.count('collectPaymentMethod'), 0);
  assert.equal(env.fake.state.intents.get(e.paymentIntentId).status, 'canceled');
});

test('cancel() while waiting on onDecline stops the sale', async (t) => {
  const env = await setup();
  t.after(() => env.close());
  env.sdk.setSimulatorConfiguration({ testCardNumber: '4000000000000002' });
  let declined;
  const atDecline = new Promise((resolve) => { declined = resolve; });
  let signalAborted = null;
  const charging = env.pos.charge({
    amount: '3.00', external_transaction_id: txn(),
    onDecline: (_e, { signal }) => {
      signal.addEventListener('abort', () => { signalAborted = true; });
      declined();
      return new Promise(() => {}); // the cashier never answers
    },
  });
  await atDecline;
  assert.equal(await env.pos.cancel(), true);
  const e = await charging.catch((x) => x);
  assert.equal(e.kind, 'cancelled');
  assert.equal(signalAborted, true);
  assert.equal(env.fake.state.intents.get(e.paymentIntentId).status, 'canceled');
});

test('cancel() once processing started is refused and the payment completes', async (t) => {
  // The reader finishes processing only once cancel() has been asked (during processing).
  let cancelAsked;
  const asked = new Promise((r) => { cancelAsked = r; });
  const env = await setup({
    terminal: 'fake',
    script: {
      async process(pi) {
        await asked;
        env.fake.setStatus(pi.id, 'requires_capture');
        return { paymentIntent: { ...pi, status: 'requires_capture' } };
      },
    },
  });
  t.after(() => env.close());
  let cancelResult;
  const result = await env.pos.charge({
    amount: '3.00', external_transaction_id: txn(),
    onStep: (s) => {
      if (s.step === 'process') {
        cancelResult = env.pos.cancel();
        cancelAsked();
      }
    },
  });
  assert.equal(await cancelResult, false);
  assert.equal(result.payment.status, 'succeeded');
  assert.equal(env.sdk.count('cancelCollectPaymentMethod'), 0);
});

test('cancel() with nothing in progress is false', async (t) => {
  const env = await setup();
  t.after(() => env.close());
  assert.equal(await env.pos.cancel(), false);
});

test('cancel() also stops a bare collectPaymentMethod() call', async (t) => {
  const env = await setup({ terminal: 'fake', script: { collect: () => new Promise(() => {}) } });
  t.after(() => env.close());
  const intent = await env.pos.backend.createIntent({ external_account_id: 'acct-test', amount: '1.00', external_transaction_id: txn() });
  const collecting = env.pos.collectPaymentMethod(intent.client_secret);
  await new Promise((r) => setImmediate(r));
  assert.equal(await env.pos.cancel(), true);
  await assert.rejects(collecting, (e) => e.kind === 'cancelled' && e.paymentIntentId === intent.id);
});
