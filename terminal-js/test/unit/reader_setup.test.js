// saveCardOnReader: a card saved without a sale, through the SDK (collectSetupIntentPaymentMethod +
// confirmSetupIntent) or a smart reader (the backend's setup polled), with a scripted terminal and
// an in-memory backend.
import test from 'node:test';
import assert from 'node:assert/strict';
import { createPosTerminal } from '../../src/index.js';

const CARD = { id: 'card_1', payment_method_id: 'pm_1', customer_id: 'cus_1', external_customer_id: 'member-1',
  brand: 'visa', last4: '4242', exp_month: 12, exp_year: 2030, created_at: '2026-12-09T00:00:00Z' };

function setupRecord(overrides = {}) {
  return { id: 'set_1', object: 'card_setup', status: 'in_progress', external_customer_id: 'member-1',
    customer_id: 'cus_1', reader_id: null, setup_intent_id: 'seti_1', allow_redisplay: 'limited',
    client_secret: null, card: null, failure: null, created_at: '2026-12-09T00:00:00Z', ...overrides };
}

/** A backend whose reads answer `reads` in turn (the last one repeats). */
function fakeBackend({ started, reads = [] }) {
  const calls = [];
  let read = 0;
  return {
    calls,
    async connectionToken() { return 'pst_test_1'; },
    async startReaderSetup(params) { calls.push(['start', params]); return started; },
    async getReaderSetup(params) {
      calls.push(['get', params]);
      const answer = reads[Math.min(read, reads.length - 1)];
      read += 1;
      return answer;
    },
    async cancelReaderSetup(params) {
      calls.push(['cancel', params]);
      return { ...started, client_secret: null, status: 'canceled' };
    },
  };
}

/** A terminal with the SDK's setup methods, answering `collect` / `confirm` as given. */
function fakeTerminal({ collect, confirm }) {
  const calls = [];
  return {
    calls,
    async collectPaymentMethod() { return { error: { code: 'unexpected', message: 'no payments here' } }; },
    async processPayment() { return { error: { code: 'unexpected', message: 'no payments here' } }; },
    async cancelCollectPaymentMethod() { return {}; },
    async collectSetupIntentPaymentMethod(secret, allowRedisplay, config) {
      calls.push(['collect', secret, allowRedisplay, config]);
      return collect(secret);
    },
    async confirmSetupIntent(setupIntent) {
      calls.push(['confirm', setupIntent]);
      return confirm(setupIntent);
    },
  };
}

const pos = (backend, terminal) => createPosTerminal({
  backend, terminal, externalAccountId: 'acme', verifyIntervalMs: 1,
});

test('the SDK reads the card for the setup client secret; the backend has the card', async () => {
  const backend = fakeBackend({
    started: setupRecord({ client_secret: 'seti_1_secret_x' }),
    reads: [setupRecord({ status: 'succeeded', card: CARD })],
  });
  const terminal = fakeTerminal({
    collect: () => ({ setupIntent: { id: 'seti_1', status: 'requires_confirmation' } }),
    confirm: (si) => ({ setupIntent: { ...si, status: 'succeeded' } }),
  });
  const result = await pos(backend, terminal).saveCardOnReader({ externalCustomerId: 'member-1', testCardNumber: '4242424242424242' });
  assert.equal(result.card.last4, '4242');
  assert.equal(result.setup.status, 'succeeded');
  assert.deepEqual(backend.calls[0], ['start', {
    external_account_id: 'acme', external_customer_id: 'member-1', reader_id: undefined, allow_redisplay: 'limited',
  }]);
  // The SDK's positional consent (default limited), then the collected intent confirmed.
  assert.deepEqual(terminal.calls[0], ['collect', 'seti_1_secret_x', 'limited', { testCardNumber: '4242424242424242' }]);
  assert.equal(terminal.calls[1][0], 'confirm');
  assert.equal(terminal.calls[1][1].id, 'seti_1');
});

test('a declined card rejects kind declined with the decline code and the failed setup', async () => {
  const failure = { code: 'card_declined', decline_code: 'insufficient_funds', message: 'Your card has insufficient funds.' };
  const backend = fakeBackend({
    started: setupRecord({ client_secret: 'seti_1_secret_x' }),
    reads: [setupRecord({ status: 'failed', failure })],
  });
  const terminal = fakeTerminal({
    collect: () => ({ setupIntent: { id: 'seti_1', status: 'requires_confirmation' } }),
    confirm: () => ({ error: { code: 'card_declined', decline_code: 'insufficient_funds', message: 'declined' } }),
  });
  await assert.rejects(pos(backend, terminal).saveCardOnReader({ externalCustomerId: 'member-1', allowRedisplay: 'always' }),
    (e) => e.kind === 'declined' && e.declineCode === 'insufficient_funds' && e.setup.status === 'failed');
  assert.equal(terminal.calls[0][2], 'always');
});

test('a collection cancelled before a card was read cancels the setup', async () => {
  const backend = fakeBackend({
    started: setupRecord({ client_secret: 'seti_1_secret_x' }),
    reads: [setupRecord()],
  });
  const terminal = fakeTerminal({
    collect: () => ({ error: { code: 'canceled', message: 'The command was canceled.' } }),
    confirm: () => assert.fail('nothing collected to confirm'),
  });
  await assert.rejects(pos(backend, terminal).saveCardOnReader({ externalCustomerId: 'member-1' }),
    (e) => e.kind === 'cancelled' && e.setup.status === 'canceled');
  assert.deepEqual(backend.calls.map((c) => c[0]), ['start', 'get', 'cancel']);
});

test('server-driven: the smart reader reads the card, the setup is polled until it ended', async () => {
  const backend = fakeBackend({
    started: setupRecord({ reader_id: 'tmr_1' }),
    reads: [setupRecord({ reader_id: 'tmr_1' }), setupRecord({ reader_id: 'tmr_1', status: 'succeeded', card: CARD })],
  });
  const terminal = fakeTerminal({
    collect: () => assert.fail('the SDK reads nothing'),
    confirm: () => assert.fail('the SDK confirms nothing'),
  });
  const result = await pos(backend, terminal).saveCardOnReader({ externalCustomerId: 'member-1', readerId: 'tmr_1', pollIntervalMs: 1 });
  assert.equal(result.card.id, 'card_1');
  assert.equal(backend.calls[0][1].reader_id, 'tmr_1');
  assert.deepEqual(backend.calls.map((c) => c[0]), ['start', 'get', 'get']);
  assert.equal(terminal.calls.length, 0);
});

test('server-driven: a reader that never finishes times out with the setup', async () => {
  const backend = fakeBackend({ started: setupRecord({ reader_id: 'tmr_1' }), reads: [setupRecord({ reader_id: 'tmr_1' })] });
  const terminal = fakeTerminal({ collect: () => ({}), confirm: () => ({}) });
  await assert.rejects(
    pos(backend, terminal).saveCardOnReader({ externalCustomerId: 'member-1', readerId: 'tmr_1', timeoutMs: 20, pollIntervalMs: 5 }),
    (e) => e.kind === 'timeout' && e.code === 'setup_timeout' && e.setup.id === 'set_1');
});

test('bad input is refused before the backend is asked', async () => {
  const backend = fakeBackend({ started: setupRecord() });
  const terminal = fakeTerminal({ collect: () => ({}), confirm: () => ({}) });
  const p = pos(backend, terminal);
  await assert.rejects(p.saveCardOnReader({}), (e) => e.kind === 'invalid_request' && e.param === 'externalCustomerId');
  await assert.rejects(p.saveCardOnReader({ externalCustomerId: 'm', allowRedisplay: 'sometimes' }),
    (e) => e.kind === 'invalid_request' && e.param === 'allowRedisplay');
  const noSetupSdk = createPosTerminal({
    backend, externalAccountId: 'acme',
    terminal: { collectPaymentMethod: async () => ({}), processPayment: async () => ({}), cancelCollectPaymentMethod: async () => ({}) },
  });
  await assert.rejects(noSetupSdk.saveCardOnReader({ externalCustomerId: 'm' }),
    (e) => e.kind === 'invalid_request' && e.param === 'readerId');
  assert.equal(backend.calls.length, 0);
});
