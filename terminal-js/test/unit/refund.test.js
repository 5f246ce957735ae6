import test from 'node:test';
import assert from 'node:assert/strict';
import { setup, txn, FAKE_ACCOUNT } from '../support/setup.js';

/** A captured payment of `amount` on the fake backend (paid at a till these tests do not drive); its id. */
async function paid(env, amount = '12.00') {
  const created = await env.pos.backend.createIntent({ external_account_id: FAKE_ACCOUNT, amount, external_transaction_id: txn() });
  const pi = env.fake.state.intents.get(created.id);
  pi.status = 'succeeded';
  pi.amount_captured = pi.amount;
  pi.charge = { id: `ch_${pi.id.slice(3)}` };
  return created.id;
}

test('refundOnReader without a reader: the SDK collects the card of the charge, then the outcome is read back', async (t) => {
  let env;
  env = await setup({
    terminal: 'fake',
    script: {
      processRefund: () => {
        // Stripe's events reach the backend while the SDK answers.
        const [id] = [...env.fake.state.readerRefunds.keys()];
        env.fake.completeReaderRefund(id, 're_fake_1');
        return { refund: { id: 're_fake_1', amount: 450, status: 'succeeded' } };
      },
    },
  });
  t.after(() => env.close());
  const paymentId = await paid(env);
  const { readerRefund, refund } = await env.pos.refundOnReader({ paymentId, amount: '4.50' });
  assert.equal(readerRefund.status, 'succeeded');
  assert.equal(readerRefund.stripe_refund_id, 're_fake_1');
  assert.equal(refund.id, 're_fake_1');
  const [chargeId, amount, currency] = env.sdk.calls.find((c) => c.name === 'collectRefundPaymentMethod').args;
  assert.equal(chargeId, readerRefund.sdk.charge_id);
  assert.deepEqual([amount, currency], [450, 'usd'], 'minor units, as the SDK takes them');
  assert.equal(env.sdk.count('processRefund'), 1);
  const post = env.fake.requests.find((r) => r.path === '/v1/payment/refund/reader');
  assert.deepEqual(post.body, { payment_id: paymentId, external_account_id: FAKE_ACCOUNT, amount: '4.50' });
});

test('refundOnReader: a card the reader refuses is a typed error and nothing is processed', async (t) => {
  const env = await setup({
    terminal: 'fake',
    script: { collectRefund: () => ({ error: { code: 'card_mismatch', message: 'The card presented does not match.' } }) },
  });
  t.after(() => env.close());
  const paymentId = await paid(env);
  await assert.rejects(env.pos.refundOnReader({ paymentId }),
    (e) => e.code === 'card_mismatch' && e.paymentIntentId === paymentId);
  assert.equal(env.sdk.count('processRefund'), 0);
});

test('refundOnReader with a readerId is server-driven: no SDK call, the pending refund is returned', async (t) => {
  const env = await setup({ terminal: 'fake' });
  t.after(() => env.close());
  const paymentId = await paid(env, '5.00');
  const { readerRefund } = await env.pos.refundOnReader({ paymentId, readerId: 'tmr_counter' });
  assert.equal(readerRefund.status, 'pending');
  assert.equal(readerRefund.mode, 'server_driven');
  assert.equal(env.sdk.count('collectRefundPaymentMethod'), 0);
  const again = await env.pos.getReaderRefund(readerRefund.id);
  assert.equal(again.id, readerRefund.id);
});

test('refundOnReader retries its request under one Idempotency-Key: one reader refund', async (t) => {
  const env = await setup({ terminal: 'fake' });
  t.after(() => env.close());
  const paymentId = await paid(env, '5.00');
  env.fake.failNext('POST /v1/payment/refund/reader', { status: 503, after: true });
  const { readerRefund } = await env.pos.refundOnReader({ paymentId, readerId: 'tmr_counter', idempotencyKey: 'k-1' });
  assert.equal(env.fake.state.readerRefunds.size, 1);
  assert.ok(env.fake.state.readerRefunds.has(readerRefund.id));
  await assert.rejects(env.pos.refundOnReader({}), (e) => e.kind === 'invalid_request' && e.param === 'paymentId');
});
