// terminal-js against the REAL pos-backend in simulator mode (npm run test:backend with
// POS_BACKEND_URL). Fails with a clear message when POS_BACKEND_URL is not set.
import test from 'node:test';
import assert from 'node:assert/strict';
import { createPosTerminal, createSimulatedStripeTerminal } from '../src/index.js';
import { BACKEND_URL, requireBackend, backendSession, unique } from './support/backend-env.js';

if (requireBackend('integration.test.js')) {
  const session = await backendSession();

  const makePos = async (simulator = {}, options = {}) => {
    const pos = createPosTerminal({
      backendUrl: BACKEND_URL,
      getAuthToken: () => session.token,
      externalAccountId: session.external_account_id,
      terminal: createSimulatedStripeTerminal({ backendUrl: BACKEND_URL, stripeApiBase: session.stripe_api_base, ...simulator }),
      retryDelayMs: 50,
      verifyIntervalMs: 200,
      verifyTimeoutMs: 10_000,
      ...options,
    });
    await pos.connect({ simulated: true });
    return pos;
  };

  test('connection tokens are fresh on every call', async () => {
    const pos = await makePos();
    const a = await pos.fetchConnectionToken();
    const b = await pos.fetchConnectionToken();
    assert.match(a, /^pst_/);
    assert.notEqual(a, b);
  });

  test('seed flow: 12.99 with save card → captured, card on file, listed', async () => {
    const pos = await makePos();
    const customer = unique('cust');
    const steps = [];
    const result = await pos.charge({
      amount: '12.99', external_transaction_id: unique('txn'), external_customer_id: customer, saveCard: true,
      onStep: (s) => steps.push(s.step),
    });
    assert.deepEqual(steps, ['intent', 'collect', 'process', 'capture', 'save_card', 'done']);
    assert.equal(result.payment.status, 'succeeded');
    assert.equal(result.payment.amount, '12.99');
    assert.match(result.paymentIntentId, /^pi_/);
    assert.equal(result.card.brand, 'visa');
    assert.equal(result.card.last4, '4242');
    assert.match(result.card.payment_method_id, /^pm_/);
    assert.equal(result.card.external_customer_id, customer);
    assert.equal((await pos.getPayment(result.paymentIntentId)).status, 'succeeded');
    const cards = await pos.listCards(customer);
    assert.ok(cards.some((c) => c.id === result.card.id && c.last4 === '4242'));

    // The same sale again is the same payment: nothing is charged twice, no card is read.
    const again = await pos.charge({
      amount: '12.99', external_transaction_id: result.intent.external_transaction_id, external_customer_id: customer, saveCard: true,
    });
    assert.equal(again.paymentIntentId, result.paymentIntentId);
    assert.equal(again.attempts, 0);
    assert.equal(again.card.id, result.card.id);
  });

  test('decline, then another card on the same intent (onDecline)', async () => {
    const pos = await makePos();
    pos.terminal.setSimulatorConfiguration({ testCardNumber: '4000000000000002' });
    const declines = [];
    const result = await pos.charge({
      amount: '25.00', external_transaction_id: unique('txn'),
      onDecline: (e) => {
        declines.push(e);
        pos.terminal.setSimulatorConfiguration({ testCardNumber: '5555555555554444' });
        return true;
      },
    });
    assert.equal(declines.length, 1);
    assert.equal(declines[0].kind, 'declined');
    assert.equal(declines[0].declineCode, 'generic_decline');
    assert.equal(declines[0].paymentIntentId, result.paymentIntentId);
    assert.equal(result.payment.status, 'succeeded');
    assert.equal(result.attempts, 2);
  });

  test('decline thrown, then charge() again with the same transaction resumes it', async () => {
    const pos = await makePos();
    const txn = unique('txn');
    pos.terminal.setSimulatorConfiguration({ testCardNumber: '4000000000009995' });
    const e = await pos.charge({ amount: '7.10', external_transaction_id: txn }).catch((x) => x);
    assert.equal(e.kind, 'declined', String(e?.stack ?? e));
    assert.equal(e.declineCode, 'insufficient_funds');
    assert.equal((await pos.getPayment(e.paymentIntentId)).status, 'requires_payment_method');
    const result = await pos.charge({ amount: '7.10', external_transaction_id: txn });
    assert.equal(result.paymentIntentId, e.paymentIntentId);
    assert.equal(result.payment.status, 'succeeded');
  });

  test('other declining cards are typed declines', async () => {
    const pos = await makePos();
    for (const [card, code] of [['4000000000000069', 'expired_card'], ['4000000000000119', 'processing_error']]) {
      pos.terminal.setSimulatorConfiguration({ testCardNumber: card });
      const e = await pos.charge({ amount: '1.50', external_transaction_id: unique('txn') }).catch((x) => x);
      assert.equal(e.kind, 'declined', `${card}: ${e?.message}`);
      assert.equal(e.declineCode, code, card);
    }
  });

  test('wallet tap: paid, card not saveable (reported, not thrown)', async () => {
    const pos = await makePos();
    pos.terminal.setSimulatorConfiguration({ testCardNumber: '4111111111111111' });
    const result = await pos.charge({
      amount: '4.20', external_transaction_id: unique('txn'), external_customer_id: unique('cust'), saveCard: true,
    });
    assert.equal(result.payment.status, 'succeeded');
    assert.equal(result.card, null);
    assert.equal(result.cardError.status, 409);
    assert.equal(result.cardError.code, 'card_not_saveable');
  });

  test('lost processPayment answer → backend status check → captured', async () => {
    const pos = await makePos();
    pos.terminal.simulateFault({ operation: 'process', code: 'network_timeout', reachServer: true });
    const steps = [];
    const result = await pos.charge({ amount: '15.00', external_transaction_id: unique('txn'), onStep: (s) => steps.push(s.step) });
    assert.ok(steps.includes('verify'));
    assert.equal(result.recovered, true);
    assert.equal(result.payment.status, 'succeeded');
  });

  test('cancel() while waiting for the card cancels the payment at the backend', async () => {
    const pos = await makePos({ readerDelayMs: 5_000 });
    let atCollect;
    const collecting = new Promise((r) => { atCollect = r; });
    const charging = pos.charge({
      amount: '3.00', external_transaction_id: unique('txn'), onStep: (s) => { if (s.step === 'collect') atCollect(); },
    });
    await collecting;
    assert.equal(await pos.cancel(), true);
    const e = await charging.catch((x) => x);
    assert.equal(e.kind, 'cancelled');
    assert.equal((await pos.getPayment(e.paymentIntentId)).status, 'canceled');
  });

  test('backend validation errors are typed (400 naming amount)', async () => {
    const pos = await makePos();
    const e = await pos.charge({ amount: '12.999', external_transaction_id: unique('txn') }).catch((x) => x);
    assert.equal(e.kind, 'backend');
    assert.equal(e.status, 400);
    assert.equal(e.param, 'amount');
  });
}
