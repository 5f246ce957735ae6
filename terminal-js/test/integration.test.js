// terminal-js against the REAL pos-backend in simulator mode (npm run test:backend with
// POS_BACKEND_URL). Fails with a clear message when POS_BACKEND_URL is not set.
import test from 'node:test';
import assert from 'node:assert/strict';
import { createPosTerminal, createSimulatedStripeTerminal } from '../src/index.js';
import { BACKEND_URL, requireBackend, backendSession, unique } from './support/backend-env.js';
import { until } from './support/until.js';

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

  /** A smart reader registered for the session's account, and a card presented on it (Stripe's test helper). */
  const smartReader = async (pos) => {
    const reader = await pos.backend.request('POST', '/v1/terminal/readers', {
      external_account_id: session.external_account_id, registration_code: 'simulated-wpe',
    }, { retry: false });
    const present = async (card) => {
      const res = await fetch(`${BACKEND_URL}${session.stripe_api_base}/v1/test_helpers/terminal/readers/${reader.id}/present_payment_method`, {
        method: 'POST',
        headers: { Authorization: 'Bearer sk_test_simulator', 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ type: 'card_present', 'card_present[number]': card }),
      });
      assert.equal(res.status, 200, await res.text());
    };
    return { id: reader.id, present };
  };

  test('server-driven: the outcome arrives through the reader events, a decline with Stripe\'s code', async () => {
    const pos = await makePos();
    const reader = await smartReader(pos);
    const intent = await pos.backend.createIntent({
      external_account_id: session.external_account_id, amount: '9.40', external_transaction_id: unique('txn'),
    });
    const waiting = pos.processOnReaderAndWait(reader.id, intent.id, { skipTipping: true, deadlineMs: 30_000 });
    // The reader shows the payment (recorded by the process answer), then the card declines.
    await pos.waitForReaderAction(reader.id, { until: (a) => a?.payment_id === intent.id, deadlineMs: 30_000 });
    await reader.present('4000000000009995');
    const outcome = await waiting;
    assert.equal(outcome.status, 'failed');
    assert.equal(outcome.failure_code, 'card_declined');
    assert.equal(outcome.payment_id, intent.id);
  });

  test('server-driven collect: the till inspects the card, then the reader confirms it', async () => {
    const pos = await makePos();
    const reader = await smartReader(pos);
    const intent = await pos.backend.createIntent({
      external_account_id: session.external_account_id, amount: '15.00', external_transaction_id: unique('txn'),
    });
    const collecting = pos.collectOnReader(reader.id, intent.id, { skipTipping: true, deadlineMs: 30_000 });
    await pos.waitForReaderAction(reader.id, {
      until: (a) => a?.type === 'collect_payment_method' && a.payment_id === intent.id, deadlineMs: 30_000,
    });
    await reader.present('4111111111111111');
    const collected = await collecting;
    assert.equal(collected.status, 'succeeded');
    assert.deepEqual([collected.card.brand, collected.card.last4, collected.card.wallet], ['visa', '1111', 'apple_pay']);
    const confirmed = await pos.confirmOnReader(reader.id, intent.id);
    assert.equal(confirmed.action.type, 'confirm_payment_intent');
    assert.equal(confirmed.action.status, 'succeeded');
    await until(async () => (await pos.getPayment(intent.id)).status === 'requires_capture', 'authorised', 10_000);
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

  test('decline answers are clear: no status check, the card read is reported', async () => {
    const pos = await makePos();
    pos.terminal.setSimulatorConfiguration({ testCardNumber: '4000000000000002' });
    const steps = [];
    const result = await pos.charge({
      amount: '2.50', external_transaction_id: unique('txn'), onStep: (s) => steps.push(s.step),
      onDecline: (e) => {
        assert.equal(e.paymentStatus, 'requires_payment_method');
        pos.terminal.setSimulatorConfiguration({ testCardNumber: '5555555555554444' });
        return true;
      },
    });
    assert.deepEqual(steps, ['intent', 'collect', 'process', 'declined', 'collect', 'process', 'capture', 'done']);
    assert.equal(result.recovered, false);
    assert.equal(result.cardPresent.brand, 'mastercard');
    assert.equal(result.cardPresent.last4, '4444');
    assert.equal(result.payment.amount_captured, '2.50');
  });

  test('processPayment fails before reaching Stripe → status check says requires_confirmation → processed again', async () => {
    const pos = await makePos();
    pos.terminal.simulateFault({ operation: 'process', code: 'network_error', reachServer: false });
    const steps = [];
    const result = await pos.charge({ amount: '6.00', external_transaction_id: unique('txn'), onStep: (s) => steps.push(s.step) });
    assert.deepEqual(steps, ['intent', 'collect', 'process', 'verify', 'capture', 'done']);
    assert.equal(result.recovered, true);
    assert.equal(result.attempts, 1, 'the same card, not a second read');
    assert.equal(result.payment.status, 'succeeded');
  });

  test('silent terminal after the payment went through → client timeout → status check → captured', async () => {
    const pos = await makePos({}, { processTimeoutMs: 300 });
    pos.terminal.simulateFault({ operation: 'process', reachServer: true, hang: true });
    const steps = [];
    const result = await pos.charge({ amount: '8.25', external_transaction_id: unique('txn'), onStep: (s) => steps.push(s) });
    const verify = steps.find((s) => s.step === 'verify');
    assert.equal(verify.error.code, 'process_timeout');
    assert.equal(result.recovered, true);
    assert.equal(result.payment.status, 'succeeded');
    assert.equal(result.payment.amount_captured, '8.25');
  });

  test('silent terminal before anything reached Stripe → timeout cancels it → unknown_outcome; the same PosTerminal resumes', async () => {
    const pos = await makePos({}, { processTimeoutMs: 300 });
    pos.terminal.simulateFault({ operation: 'process', reachServer: false, hang: true });
    const txn = unique('txn');
    const e = await pos.charge({ amount: '9.10', external_transaction_id: txn }).catch((x) => x);
    assert.equal(e.kind, 'unknown_outcome', String(e?.stack ?? e));
    assert.equal(e.code, 'process_outcome_unknown');
    assert.equal(e.paymentStatus, 'requires_confirmation');
    assert.match(e.message, /Check the payment/);
    assert.equal(pos.terminal.getPaymentStatus(), 'ready', 'cancelProcessPayment freed the reader');
    const result = await pos.charge({ amount: '9.10', external_transaction_id: txn });
    assert.equal(result.paymentIntentId, e.paymentIntentId);
    assert.equal(result.payment.status, 'succeeded');
  });

  // The auditor's scenario: the reader's request reaches Stripe 1.2 s after it was sent, far past
  // processTimeoutMs, and cannot be called back (it is on the wire: this fetch ignores the abort).
  const slowProcessFetch = (ms) => async (url, init) => {
    if (String(url).endsWith('/_sim/terminal/process')) {
      await new Promise((r) => setTimeout(r, ms));
      return fetch(url, { ...init, signal: undefined });
    }
    return fetch(url, init);
  };

  test('slow reader authorising after the timeout: its late answer counts → captured', async () => {
    const pos = await makePos({ fetch: slowProcessFetch(1_200) }, { processTimeoutMs: 300, processCancelTimeoutMs: 5_000 });
    const result = await pos.charge({ amount: '7.70', external_transaction_id: unique('txn') });
    assert.equal(result.payment.status, 'succeeded');
    assert.equal(result.payment.amount_captured, '7.70');
  });

  test('slow reader authorising after charge() gave up → unknown_outcome, never "not charged"; resume captures', async () => {
    const pos = await makePos({ fetch: slowProcessFetch(1_200) }, { processTimeoutMs: 300, processCancelTimeoutMs: 100 });
    const txn = unique('txn');
    const e = await pos.charge({ amount: '7.80', external_transaction_id: txn }).catch((x) => x);
    assert.equal(e.kind, 'unknown_outcome', String(e?.stack ?? e));
    assert.doesNotMatch(e.message, /not (been )?charged/);
    // The card was authorised after all (the late reader answer reaches Stripe ~1.2 s in).
    await until(
      async () => (await pos.getPayment(e.paymentIntentId)).status === 'requires_capture',
      'the late authorisation',
      10_000,
    );
    const steps = [];
    const result = await pos.charge({ amount: '7.80', external_transaction_id: txn, onStep: (s) => steps.push(s.step) });
    assert.deepEqual(steps, ['intent', 'capture', 'done']);
    assert.equal(result.paymentIntentId, e.paymentIntentId);
    assert.equal(result.payment.status, 'succeeded');
  });

  test('reader drops while processing, after Stripe authorised → status check → captured', async () => {
    const disconnects = [];
    const pos = await makePos({}, { onUnexpectedReaderDisconnect: (ev) => disconnects.push(ev) });
    pos.terminal.simulateFault({ operation: 'process', code: 'reader_connection_error', reachServer: true, disconnect: true });
    const result = await pos.charge({ amount: '11.00', external_transaction_id: unique('txn') });
    assert.equal(result.recovered, true);
    assert.equal(result.payment.status, 'succeeded');
    assert.equal(disconnects.length, 1);
    assert.equal(pos.isReaderConnected(), false);
  });

  test('capture keeps failing at Stripe → authorised-not-captured error; charge() again captures only', async (t) => {
    const pos = await makePos({}, { requestRetries: 0 });
    const sim = `${BACKEND_URL}${session.stripe_api_base}/_sim/faults`;
    const fault = await fetch(sim, {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ method: 'POST', path: '/v1/payment_intents/*/capture', error_rate: 1, error_status: 503 }),
    });
    assert.equal(fault.status, 200, await fault.text());
    let cleared = false;
    const clear = async () => {
      if (!cleared) await fetch(sim, { method: 'DELETE' });
      cleared = true;
    };
    t.after(clear);
    const txn = unique('txn');
    const e = await pos.charge({ amount: '13.37', external_transaction_id: txn }).catch((x) => x);
    assert.equal(e.kind, 'backend', String(e?.stack ?? e));
    assert.ok(e.status >= 500, `status ${e.status}`);
    assert.equal(e.paymentStatus, 'requires_capture');
    assert.match(e.message, /authorised but not captured/);
    assert.equal((await pos.getPayment(e.paymentIntentId)).status, 'requires_capture');
    await clear();
    const steps = [];
    const result = await pos.charge({ amount: '13.37', external_transaction_id: txn, onStep: (s) => steps.push(s.step) });
    assert.deepEqual(steps, ['intent', 'capture', 'done']);
    assert.equal(result.attempts, 0);
    assert.equal(result.paymentIntentId, e.paymentIntentId);
    assert.equal(result.payment.status, 'succeeded');
  });

  test('cancel() while onDecline is pending cancels the payment at the backend', async () => {
    const pos = await makePos();
    pos.terminal.setSimulatorConfiguration({ testCardNumber: '4000000000000002' });
    let declined;
    const atDecline = new Promise((r) => { declined = r; });
    const charging = pos.charge({
      amount: '4.00', external_transaction_id: unique('txn'),
      onDecline: (_e, { signal }) => {
        declined();
        return new Promise((resolve) => signal.addEventListener('abort', () => resolve(false)));
      },
    });
    await atDecline;
    assert.equal(await pos.cancel(), true);
    const e = await charging.catch((x) => x);
    assert.equal(e.kind, 'cancelled');
    assert.equal(e.paymentStatus, 'canceled');
    assert.equal((await pos.getPayment(e.paymentIntentId)).status, 'canceled');
    // A canceled sale cannot be rung again under the same transaction id.
    const again = await pos.charge({ amount: '4.00', external_transaction_id: (await pos.getPayment(e.paymentIntentId)).external_transaction_id }).catch((x) => x);
    assert.equal(again.kind, 'cancelled');
    assert.equal(again.code, 'payment_canceled');
  });

  test('a token the backend rejects is a typed 401, and the reader cannot connect', async () => {
    const pos = createPosTerminal({
      backendUrl: BACKEND_URL,
      getAuthToken: () => `${session.token}x`,
      externalAccountId: session.external_account_id,
      terminal: createSimulatedStripeTerminal({ backendUrl: BACKEND_URL, stripeApiBase: session.stripe_api_base }),
      requestRetries: 0,
    });
    const e = await pos.fetchConnectionToken().catch((x) => x);
    assert.equal(e.kind, 'backend');
    assert.equal(e.status, 401);
    assert.equal(e.code, 'token_invalid');
    const c = await pos.connect({ simulated: true }).catch((x) => x);
    assert.equal(c.kind, 'terminal');
    assert.equal(c.code, 'failed_fetch_connection_token');
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

  test('an Interac sale refunded on the reader through the SDK: in part, then the wrong card, then the rest', async () => {
    const pos = await makePos();
    const account = session.external_account_id;
    const intent = await pos.backend.createIntent({
      external_account_id: account, amount: '20.00', currency: 'cad',
      payment_method_types: ['card_present', 'interac_present'], external_transaction_id: unique('interac'),
    });
    const collected = await pos.terminal.collectPaymentMethod(intent.client_secret, { testCardNumber: '4506445006931933' });
    assert.equal(collected.error, undefined, JSON.stringify(collected.error));
    const processed = await pos.terminal.processPayment(collected.paymentIntent);
    assert.equal(processed.paymentIntent?.status, 'succeeded', 'Interac captures at once');
    // The till reads the sale back (the backend asks Stripe), as after any sale.
    assert.equal((await pos.getPayment(intent.id)).status, 'succeeded');
    // The API refuses it: in person only.
    const refused = await pos.backend.request('POST', '/v1/payment/refund', { payment_id: intent.id, external_account_id: account })
      .catch((e) => e);
    assert.equal(refused.status, 409);
    assert.equal(refused.code, 'refund_on_reader_required');

    const first = await pos.refundOnReader({ paymentId: intent.id, amount: '5.00' });
    assert.equal(first.readerRefund.status, 'succeeded');
    assert.equal(first.readerRefund.mode, 'sdk');
    assert.equal(first.refund.amount, 500);
    assert.equal(first.readerRefund.stripe_refund_id, first.refund.id);
    assert.equal(first.readerRefund.payment.amount_refunded, '5.00');

    // A card that is not the payment's: the simulated reader refuses it, nothing is refunded.
    pos.terminal.setSimulatorConfiguration({ testCardNumber: '4242424242424242' });
    const wrong = await pos.refundOnReader({ paymentId: intent.id }).catch((e) => e);
    assert.equal(wrong.kind, 'terminal', String(wrong));
    assert.equal(wrong.paymentIntentId, intent.id);
    pos.terminal.setSimulatorConfiguration({});

    const rest = await pos.refundOnReader({ paymentId: intent.id });
    assert.equal(rest.readerRefund.status, 'succeeded');
    assert.equal(rest.readerRefund.amount, '15.00');
    assert.equal(rest.readerRefund.payment.amount_refunded, '20.00');
    await until(async () => (await pos.getPayment(intent.id)).amount_refunded === '20.00', 'the payment fully refunded');
  });

  // ---- saving a card without a sale (POST /v1/customer/card/reader) ----

  test('saveCardOnReader with the simulated SDK saves the card, once per physical card', async () => {
    const pos = await makePos();
    const customer = unique('member');
    const first = await pos.saveCardOnReader({ externalCustomerId: customer, allowRedisplay: 'always' });
    assert.equal(first.setup.status, 'succeeded');
    assert.equal(first.card.last4, '4242');
    assert.equal(first.card.external_customer_id, customer);
    assert.match(first.setup.setup_intent_id, /^seti_/);
    assert.equal(first.setup.allow_redisplay, 'always');
    // The same card again: the card already saved, not a second one.
    const again = await pos.saveCardOnReader({ externalCustomerId: customer });
    assert.equal(again.card.id, first.card.id);
    assert.notEqual(again.setup.id, first.setup.id);
    const cards = await pos.listCards(customer);
    assert.equal(cards.length, 1);
    // Charged later, the customer gone.
    const charged = await pos.backend.request('POST', '/v1/payment/charge', {
      external_account_id: session.external_account_id, external_transaction_id: unique('gym-fee'),
      external_customer_id: customer, card_id: first.card.id, amount: '30.00',
    });
    assert.equal(charged.status, 'succeeded');
  });

  test('saveCardOnReader: a declined card rejects with the decline code; the setup is failed', async () => {
    const pos = await makePos();
    const customer = unique('member');
    const e = await pos.saveCardOnReader({ externalCustomerId: customer, testCardNumber: '4000000000009995' })
      .catch((x) => x);
    assert.equal(e.kind, 'declined', String(e));
    assert.equal(e.declineCode, 'insufficient_funds');
    assert.equal(e.setup.status, 'failed');
    assert.equal((await pos.getReaderSetup(e.setup.id)).failure.decline_code, 'insufficient_funds');
    assert.deepEqual(await pos.listCards(customer), []);
  });

  test('saveCardOnReader on a smart reader (server-driven), and cancelReaderSetup', async () => {
    const pos = await makePos();
    const account = session.external_account_id;
    const reader = await pos.backend.request('POST', '/v1/terminal/readers', {
      external_account_id: account, registration_code: 'simulated-wpe', label: unique('gym-desk'),
    });
    const customer = unique('member');
    const saving = pos.saveCardOnReader({ externalCustomerId: customer, readerId: reader.id, pollIntervalMs: 50, timeoutMs: 20_000 });
    // The reader waits for the card; the member taps it (Stripe's test helper on the simulator).
    await until(async () => (await pos.getReader(reader.id)).action?.type === 'process_setup_intent', 'the reader to wait for the card', 10_000);
    const tapped = await fetch(`${BACKEND_URL}${session.stripe_api_base}/v1/test_helpers/terminal/readers/${reader.id}/present_payment_method`, {
      method: 'POST',
      headers: { Authorization: 'Bearer sk_test_simulator', 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'card_present[number]=5555555555554444',
    });
    assert.equal(tapped.status, 200, await tapped.text());
    const saved = await saving;
    assert.equal(saved.card.brand, 'mastercard');
    assert.equal(saved.setup.reader_id, reader.id);

    // Another setup, canceled at the till before the card: the reader is free again.
    const started = await pos.backend.startReaderSetup({
      external_account_id: account, external_customer_id: customer, reader_id: reader.id,
    });
    const canceled = await pos.cancelReaderSetup(started.id);
    assert.equal(canceled.status, 'canceled');
    assert.equal((await pos.getReader(reader.id)).action ?? null, null);
  });
}
