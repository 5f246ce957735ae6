// The counter-sale helpers: cart on the reader, receipts, tipping options, open tabs
// (incrementAuthorization), the server-driven process with tipping, and exact money. The backend
// and the simulator are a recording fetch here: what goes on the wire is what is checked.
import test from 'node:test';
import assert from 'node:assert/strict';
import {
  createBackendClient, createPosTerminal, createSimulatedTerminal, PosTerminalError,
  toMinorUnits, fromMinorUnits, cartTotal, currencyExponent,
} from '../../src/index.js';

/** A fetch answering from `answer(method, path, body)` ({status, body} or {status, text}), recording every call. */
function recordingFetch(answer) {
  const calls = [];
  const fetch = async (url, init = {}) => {
    const { pathname, search } = new URL(url);
    const body = init.body === undefined ? undefined : JSON.parse(init.body);
    calls.push({ method: init.method, path: pathname, search, body, headers: init.headers });
    const out = (await answer(init.method, pathname, body, search)) ?? { status: 200, body: {} };
    const text = out.text ?? JSON.stringify(out.body);
    return { ok: out.status < 300, status: out.status, text: async () => text };
  };
  return { fetch, calls };
}

const noTerminal = {
  collectPaymentMethod: async () => ({ error: { code: 'unused', message: 'unused' } }),
  processPayment: async () => ({ error: { code: 'unused', message: 'unused' } }),
  discoverReaders: async () => ({ discoveredReaders: [] }),
  connectReader: async () => ({ error: { code: 'unused', message: 'unused' } }),
  cancelCollectPaymentMethod: async () => ({}),
};

function pos(answer, extra = {}) {
  const rec = recordingFetch(answer);
  const p = createPosTerminal({
    backendUrl: 'http://backend.test', getAuthToken: () => 'jwt', externalAccountId: 'acct-1',
    terminal: noTerminal, fetch: rec.fetch, retryDelayMs: 1, ...extra,
  });
  return { pos: p, calls: rec.calls };
}

test('showCart posts the cart to the reader with the exact total; clearCart cancels the display', async () => {
  const { pos: p, calls } = pos(() => ({ status: 200, body: { id: 'tmr_1', action: { type: 'set_reader_display' } } }));
  const reader = await p.showCart('tmr_1', {
    currency: 'usd',
    line_items: [{ description: 'Flat white', amount: '3.10', quantity: 3 }, { description: 'Bagel', amount: 0.2 }],
    tax: '0.70',
  });
  assert.equal(reader.id, 'tmr_1');
  assert.deepEqual(calls[0], {
    method: 'POST', path: '/v1/terminal/readers/tmr_1/display', search: '',
    body: {
      external_account_id: 'acct-1', currency: 'usd',
      line_items: [{ description: 'Flat white', amount: '3.10', quantity: 3 }, { description: 'Bagel', amount: 0.2, quantity: 1 }],
      tax: '0.70', total: '10.20', // 9.30 + 0.20 + 0.70, no float drift
    },
    headers: calls[0].headers,
  });
  assert.equal(calls[0].headers.Authorization, 'Bearer jwt');
  // A total given by the caller is sent as is (the backend checks it).
  await p.showCart('tmr_1', { currency: 'usd', line_items: [{ description: 'Tea', amount: '2.00' }], total: '2.00' });
  assert.equal(calls[1].body.total, '2.00');
  await p.clearCart('tmr_1');
  assert.deepEqual([calls[2].method, calls[2].path, calls[2].body], ['POST', '/v1/terminal/readers/tmr_1/cancel', { external_account_id: 'acct-1' }]);
});

test('showCart refuses a cart without currency or lines, or with a bad amount, before any request', async () => {
  const { pos: p, calls } = pos(() => ({ status: 200, body: {} }));
  await assert.rejects(p.showCart('tmr_1', { line_items: [{ description: 'x', amount: '1' }] }),
    (e) => e instanceof PosTerminalError && e.kind === 'invalid_request' && e.param === 'currency');
  await assert.rejects(p.showCart('tmr_1', { currency: 'usd', line_items: [] }), (e) => e.param === 'line_items');
  await assert.rejects(p.showCart('tmr_1', { currency: 'usd', line_items: [{ description: 'x', amount: '1.999' }] }),
    (e) => e.param === 'line_items[0].amount');
  await assert.rejects(p.showCart('', { currency: 'usd', line_items: [{ description: 'x', amount: '1' }] }),
    (e) => e.param === 'readerId');
  assert.equal(calls.length, 0);
});

test('backend errors of the display (a busy reader) come back as PosTerminalError', async () => {
  const { pos: p } = pos(() => ({ status: 409, body: { error: { type: 'invalid_request_error', code: 'reader_busy', message: 'busy' } } }));
  await assert.rejects(p.showCart('tmr_1', { currency: 'usd', line_items: [{ description: 'x', amount: '1' }] }),
    (e) => e instanceof PosTerminalError && e.status === 409 && e.code === 'reader_busy');
});

test('getReceipt: JSON by default, text and html as strings, a bad format refused', async () => {
  const receipt = { payment_id: 'pi_1', tip: '1.50', card: { brand: 'visa', last4: '4242' } };
  const { pos: p, calls } = pos((_m, _p, _b, search) => {
    if (search.includes('format=html')) return { status: 200, text: '<!doctype html><p>Visa •••• 4242</p>' };
    if (search.includes('format=text')) return { status: 200, text: 'VISA **** 4242\n' };
    return { status: 200, body: receipt };
  });
  assert.deepEqual(await p.getReceipt('pi_1'), receipt);
  assert.equal(calls[0].path, '/v1/payment/pi_1/receipt');
  assert.equal(calls[0].search, '?external_account_id=acct-1');
  assert.equal(await p.getReceipt('pi_1', { format: 'text' }), 'VISA **** 4242\n');
  assert.equal(calls[1].search, '?external_account_id=acct-1&format=text');
  assert.match(await p.getReceipt('pi_1', { format: 'html' }), /^<!doctype html>/);
  await assert.rejects(p.getReceipt('pi_1', { format: 'pdf' }), (e) => e.kind === 'invalid_request' && e.param === 'format');
  assert.equal(calls.length, 3);
});

test('getReceipt of a text receipt still turns an error envelope into PosTerminalError', async () => {
  const { pos: p } = pos(() => ({ status: 404, body: { error: { type: 'invalid_request_error', code: 'resource_missing', message: 'no such payment' } } }));
  await assert.rejects(p.getReceipt('pi_x', { format: 'html' }),
    (e) => e.status === 404 && e.code === 'resource_missing' && e.paymentIntentId === 'pi_x');
});

test('incrementAuthorization sends the new total, once (no automatic retry)', async () => {
  let n = 0;
  const { pos: p, calls } = pos(() => {
    n += 1;
    return n === 1 ? { status: 200, body: { id: 'pi_1', status: 'requires_capture', amount: '25.00' } }
      : { status: 503, body: { error: { type: 'api_error', code: 'stripe_unavailable', message: 'down' } } };
  });
  const raised = await p.incrementAuthorization('pi_1', '25.00');
  assert.equal(raised.amount, '25.00');
  assert.deepEqual([calls[0].method, calls[0].path, calls[0].body],
    ['POST', '/v1/payment/increment', { payment_id: 'pi_1', amount: '25.00', external_account_id: 'acct-1' }]);
  await assert.rejects(p.incrementAuthorization('pi_1', '30.00'), (e) => e.status === 503 && e.retryable === true);
  assert.equal(calls.length, 2, 'a 503 on an increment is not retried by the client');
  await assert.rejects(p.incrementAuthorization('pi_1'), (e) => e.kind === 'invalid_request');
});

test('a declined increment is a typed decline; an exhausted tab a 409', async () => {
  const answers = [
    { status: 402, body: { error: { type: 'card_error', code: 'card_declined', decline_code: 'generic_decline', message: 'declined' } } },
    { status: 409, body: { error: { type: 'invalid_request_error', code: 'increment_limit_reached', message: 'limit' } } },
  ];
  const { pos: p } = pos(() => answers.shift());
  await assert.rejects(p.incrementAuthorization('pi_1', '30.00'),
    (e) => e.kind === 'declined' && e.declineCode === 'generic_decline' && e.paymentIntentId === 'pi_1');
  await assert.rejects(p.incrementAuthorization('pi_1', '40.00'),
    (e) => e.kind === 'backend' && e.status === 409 && e.code === 'increment_limit_reached');
});

test('processOnReader passes skip_tipping and tip_eligible_amount to the server-driven process', async () => {
  const { pos: p, calls } = pos(() => ({ status: 200, body: { id: 'tmr_1', action: { type: 'process_payment_intent', status: 'in_progress' } } }));
  await p.processOnReader('tmr_1', 'pi_1', { tipEligibleAmount: '10.00' });
  await p.processOnReader('tmr_1', 'pi_2', { skipTipping: true, allowRedisplay: 'limited' });
  assert.deepEqual(calls.map((c) => [c.path, c.body]), [
    ['/v1/terminal/readers/tmr_1/process', { external_account_id: 'acct-1', payment_id: 'pi_1', tip_eligible_amount: '10.00' }],
    ['/v1/terminal/readers/tmr_1/process', { external_account_id: 'acct-1', payment_id: 'pi_2', allow_redisplay: 'limited', skip_tipping: true }],
  ]);
});

test('createIntent asks for incremental authorisation only when told to', async () => {
  const rec = recordingFetch(() => ({ status: 200, body: { id: 'pi_1', status: 'requires_payment_method' } }));
  const api = createBackendClient({ backendUrl: 'http://backend.test', getAuthToken: 'jwt', fetch: rec.fetch });
  await api.createIntent({ external_account_id: 'a', amount: '5.00', external_transaction_id: 't1' });
  await api.createIntent({ external_account_id: 'a', amount: '5.00', external_transaction_id: 't2', request_incremental_authorization_support: true });
  assert.equal('request_incremental_authorization_support' in rec.calls[0].body, false);
  assert.equal(rec.calls[1].body.request_incremental_authorization_support, true);
});

/** A scripted SDK terminal recording what collectPaymentMethod gets. */
function scriptedTerminal(seen) {
  return {
    ...noTerminal,
    collectPaymentMethod: async (secret, options) => {
      seen.push(options);
      return { paymentIntent: { id: secret.split('_secret_')[0], status: 'requires_confirmation' } };
    },
    processPayment: async (pi) => ({ paymentIntent: { ...pi, status: 'requires_capture' } }),
  };
}

test("charge passes the SDK's tipping options: skip_tipping, eligible_amount in minor units, tip_configuration", async () => {
  const seen = [];
  const { pos: p, calls } = pos((method, path) => {
    if (path === '/v1/payment/intent') return { status: 200, body: { id: 'pi_t', client_secret: 'pi_t_secret_x', status: 'requires_payment_method', currency: 'jpy' } };
    return { status: 200, body: { id: 'pi_t', status: method === 'POST' ? 'succeeded' : 'requires_capture', amount: '1200' } };
  }, { terminal: scriptedTerminal(seen) });
  await p.charge({ amount: '1200', currency: 'jpy', external_transaction_id: 't-1', tipEligibleAmount: '1000', tipConfiguration: { options: [{ amount: 100 }] } });
  assert.deepEqual(seen[0], {
    config_override: { tipping: { eligible_amount: 1000 } }, // jpy has no decimals
    tip_configuration: { options: [{ amount: 100 }] },
  });
  await p.charge({ amount: '1200', currency: 'jpy', external_transaction_id: 't-2', skipTipping: true });
  assert.deepEqual(seen[1], { config_override: { skip_tipping: true } });
  await assert.rejects(p.charge({ amount: '1200', currency: 'jpy', external_transaction_id: 't-3', tipEligibleAmount: '10.5' }),
    (e) => e.kind === 'invalid_request' && e.param === 'tipEligibleAmount');
  assert.equal(seen.length, 2, 'a bad tip-eligible amount never reaches the reader');
  assert.ok(calls.some((c) => c.path === '/v1/payment/capture'));
});

test('charge with capture: false stops at the authorisation (an open tab) and asks for incremental support', async () => {
  const seen = [];
  const { pos: p, calls } = pos((method, path) => {
    if (path === '/v1/payment/intent') return { status: 200, body: { id: 'pi_tab', client_secret: 'pi_tab_secret_x', status: 'requires_payment_method', currency: 'usd' } };
    return { status: 200, body: { id: 'pi_tab', status: 'requires_capture', amount: '8.00' } };
  }, { terminal: scriptedTerminal(seen) });
  const steps = [];
  const result = await p.charge({
    amount: '8.00', external_transaction_id: 'tab-1', capture: false, requestIncrementalAuthorizationSupport: true,
    external_customer_id: 'c1', saveCard: true, onStep: (e) => steps.push(e.step),
  });
  assert.equal(result.payment.status, 'requires_capture');
  assert.equal(calls[0].body.request_incremental_authorization_support, true);
  assert.ok(!calls.some((c) => c.path === '/v1/payment/capture'), 'not captured');
  assert.ok(!calls.some((c) => c.path === '/v1/customer/card'), 'a card is saved only from a captured payment');
  assert.deepEqual(steps, ['intent', 'collect', 'process', 'done']);
});

test('collectPaymentMethod: skipTipping / tipEligibleAmount shortcuts, minor units checked', async () => {
  const seen = [];
  const { pos: p } = pos(() => ({ status: 200, body: {} }), { terminal: scriptedTerminal(seen) });
  await p.collectPaymentMethod('pi_1_secret_x', { skipTipping: false, tipEligibleAmount: 850 });
  assert.deepEqual(seen[0], { config_override: { skip_tipping: false, tipping: { eligible_amount: 850 } } });
  await assert.rejects(p.collectPaymentMethod('pi_1_secret_x', { tipEligibleAmount: 8.5 }),
    (e) => e.kind === 'invalid_request' && e.param === 'tipEligibleAmount');
  await assert.rejects(p.collectPaymentMethod('pi_1_secret_x', { tipEligibleAmount: 0 }), (e) => e.param === 'tipEligibleAmount');
  assert.equal(seen.length, 1);
});

test('exact money: exponents, conversions both ways, cart totals', () => {
  assert.deepEqual([currencyExponent('usd'), currencyExponent('JPY'), currencyExponent('kwd')], [2, 0, 3]);
  assert.equal(toMinorUnits('12.99', 'usd'), 1299n);
  assert.equal(toMinorUnits(0.1, 'usd') + toMinorUnits(0.2, 'usd'), 30n);
  assert.equal(toMinorUnits('12.990', 'usd'), 1299n, 'trailing zeros are not extra precision');
  assert.equal(toMinorUnits('1.234', 'kwd'), 1234n);
  assert.equal(toMinorUnits('500', 'jpy'), 500n);
  assert.throws(() => toMinorUnits('1.5', 'jpy', 'tip'), (e) => e.param === 'tip');
  assert.throws(() => toMinorUnits('-1', 'usd'), (e) => e.kind === 'invalid_request');
  assert.throws(() => toMinorUnits('1e3', 'usd'), (e) => e.kind === 'invalid_request');
  assert.throws(() => toMinorUnits('1', 'dollars'), (e) => e.param === 'currency');
  assert.equal(fromMinorUnits(1299n, 'usd'), '12.99');
  assert.equal(fromMinorUnits(5, 'usd'), '0.05');
  assert.equal(fromMinorUnits(1234, 'kwd'), '1.234');
  assert.equal(fromMinorUnits(500, 'jpy'), '500');
  assert.equal(fromMinorUnits(9007199254740993n, 'usd'), '90071992547409.93');
  assert.equal(cartTotal({ currency: 'usd', line_items: [{ amount: '0.10', quantity: 3 }, { amount: 0.2 }] }), '0.50');
  assert.throws(() => cartTotal({ currency: 'usd', line_items: [{ amount: '1', quantity: 0 }] }),
    (e) => e.param === 'line_items[0].quantity');
});

/** A scripted simulator for createSimulatedTerminal: sessions, tip_options, collect. */
function fakeSimulator({ screen }) {
  return recordingFetch((_method, path, body) => {
    if (path.endsWith('/_sim/terminal/sessions')) return { status: 200, body: { session: 'tss_1', location: 'tml_1' } };
    if (path.endsWith('/_sim/terminal/tip_options')) return { status: 200, body: screen };
    if (path.endsWith('/_sim/terminal/collect')) {
      return { status: 200, body: { id: 'pi_1', status: 'requires_confirmation', amount: 1000 + (body.tip_amount ?? 0), payment_method: { id: 'pm_1', card_present: { brand: 'visa', last4: '4242' } } } };
    }
    return { status: 404, body: { error: { message: 'no route' } } };
  });
}

async function simulated(sim, options = {}) {
  const terminal = createSimulatedTerminal({
    backendUrl: 'http://backend.test', fetch: sim.fetch, onFetchConnectionToken: async () => 'pst_test_1', ...options,
  });
  const { discoveredReaders } = await terminal.discoverReaders();
  await terminal.connectReader(discoveredReaders[0]);
  return terminal;
}

const TIPPING = {
  screen: 'tipping', amount: 1000, currency: 'usd',
  tip_options: [{ type: 'percentage', percentage: 15, amount: 150 }, { type: 'percentage', percentage: 20, amount: 200 }],
};

test('simulated reader: the tipping screen goes to onTipScreen, and the pick becomes the collect tip_amount', async () => {
  const sim = fakeSimulator({ screen: TIPPING });
  const screens = [];
  const terminal = await simulated(sim, { onTipScreen: (s) => { screens.push(s); return s.tip_options[1].amount; } });
  const { paymentIntent } = await terminal.collectPaymentMethod('pi_1_secret_x', { config_override: { tipping: { eligible_amount: 900 } } });
  assert.equal(paymentIntent.amount, 1200);
  assert.equal(screens.length, 1);
  assert.equal(screens[0].paymentIntentId, 'pi_1');
  assert.deepEqual(screens[0].tip_options, TIPPING.tip_options);
  const tipCall = sim.calls.find((c) => c.path.endsWith('/tip_options'));
  assert.deepEqual(tipCall.body, { session: 'tss_1', client_secret: 'pi_1_secret_x', tip_eligible_amount: 900 });
  const collect = sim.calls.find((c) => c.path.endsWith('/collect'));
  assert.equal(collect.body.tip_amount, 200);
  assert.equal('tip_eligible_amount' in collect.body, false, 'the eligible amount only shapes the screen');
});

test('simulated reader: no tip, skip_tipping and the SDK-style tipAmount', async () => {
  // "No tip" (0) sends no tip_amount.
  let sim = fakeSimulator({ screen: TIPPING });
  let terminal = await simulated(sim, { onTipScreen: () => 0 });
  await terminal.collectPaymentMethod('pi_1_secret_x');
  assert.equal('tip_amount' in sim.calls.find((c) => c.path.endsWith('/collect')).body, false);

  // skip_tipping: the screen is not even asked for, and the simulator is told.
  sim = fakeSimulator({ screen: TIPPING });
  const asked = [];
  terminal = await simulated(sim, { onTipScreen: (s) => { asked.push(s); return 100; } });
  await terminal.collectPaymentMethod('pi_1_secret_x', { config_override: { skip_tipping: true } });
  assert.equal(asked.length, 0);
  assert.equal(sim.calls.some((c) => c.path.endsWith('/tip_options')), false);
  assert.equal(sim.calls.find((c) => c.path.endsWith('/collect')).body.skip_tipping, true);

  // setSimulatorConfiguration({tipAmount}) wins, as in the SDK's simulator.
  sim = fakeSimulator({ screen: TIPPING });
  terminal = await simulated(sim, { onTipScreen: () => { throw new Error('not asked'); } });
  terminal.setSimulatorConfiguration({ tipAmount: 75 });
  await terminal.collectPaymentMethod('pi_1_secret_x');
  assert.equal(sim.calls.find((c) => c.path.endsWith('/collect')).body.tip_amount, 75);

  // A screen without tipping: onTipScreen is not called.
  sim = fakeSimulator({ screen: { screen: 'collect_payment_method', amount: 1000, currency: 'usd', tip_options: null } });
  terminal = await simulated(sim, { onTipScreen: () => { throw new Error('not asked'); } });
  const { paymentIntent } = await terminal.collectPaymentMethod('pi_1_secret_x');
  assert.equal(paymentIntent.amount, 1000);
  assert.deepEqual(await terminal.getTipScreen('pi_1_secret_x'), { screen: 'collect_payment_method', amount: 1000, currency: 'usd', tip_options: null });
});

test('simulated reader: cancelling while the tipping screen waits cancels the collection', async () => {
  const sim = fakeSimulator({ screen: TIPPING });
  let shown;
  const onScreen = new Promise((resolve) => { shown = resolve; });
  const terminal = await simulated(sim, { onTipScreen: (s) => { shown(s); return new Promise(() => {}); } });
  const collecting = terminal.collectPaymentMethod('pi_1_secret_x');
  await onScreen;
  assert.deepEqual(await terminal.cancelCollectPaymentMethod(), {});
  const result = await collecting;
  assert.equal(result.error.code, 'canceled');
  assert.equal(sim.calls.some((c) => c.path.endsWith('/collect')), false);
});

test('simulated reader: a bad onTipScreen answer is a reader error, not a tip', async () => {
  const sim = fakeSimulator({ screen: TIPPING });
  const terminal = await simulated(sim, { onTipScreen: () => 1.5 });
  const result = await terminal.collectPaymentMethod('pi_1_secret_x');
  assert.equal(result.error.code, 'reader_error');
  assert.equal(sim.calls.some((c) => c.path.endsWith('/collect')), false);
});

test('processOnReaderAndWait long-polls the reader events (no polling of the reader) until the outcome', async () => {
  const events = [
    { reader_id: 'tmr_1', version: 3, changed: true, action: null },
    // A wait that timed out: asked again from the same cursor.
    { reader_id: 'tmr_1', version: 3, changed: false, action: null },
    { reader_id: 'tmr_1', version: 4, changed: true, action: { type: 'process_payment_intent', status: 'in_progress', payment_id: 'pi_1' } },
    { reader_id: 'tmr_1', version: 5, changed: true, action: { type: 'process_payment_intent', status: 'failed', payment_id: 'pi_1', failure_code: 'card_declined', failure_message: 'Your card has insufficient funds.' } },
  ];
  const { pos: p, calls } = pos((method, path) => (path.endsWith('/events')
    ? { status: 200, body: events.shift() }
    : { status: 200, body: { id: 'tmr_1', action: { type: 'process_payment_intent', status: 'in_progress' } } }));
  const outcome = await p.processOnReaderAndWait('tmr_1', 'pi_1', { skipTipping: true });
  assert.equal(outcome.status, 'failed');
  assert.equal(outcome.failure_code, 'card_declined');
  assert.deepEqual(calls.map((c) => [c.method, c.path, c.search]), [
    ['GET', '/v1/terminal/readers/tmr_1/events', '?external_account_id=acct-1&timeout=0'],
    ['POST', '/v1/terminal/readers/tmr_1/process', ''],
    ['GET', '/v1/terminal/readers/tmr_1/events', '?external_account_id=acct-1&after=3&timeout=25'],
    ['GET', '/v1/terminal/readers/tmr_1/events', '?external_account_id=acct-1&after=3&timeout=25'],
    ['GET', '/v1/terminal/readers/tmr_1/events', '?external_account_id=acct-1&after=4&timeout=25'],
  ]);
  assert.deepEqual(calls[1].body, { external_account_id: 'acct-1', payment_id: 'pi_1', skip_tipping: true });
});

test('collectOnReader waits for the card, confirmOnReader confirms it; a wait past its deadline is a timeout', async () => {
  const card = { payment_method: 'pm_1', type: 'card_present', brand: 'visa', last4: '1111', funding: 'credit', wallet: 'apple_pay' };
  const events = [
    { reader_id: 'tmr_1', version: 0, changed: true, action: null },
    { reader_id: 'tmr_1', version: 2, changed: true, action: { type: 'collect_payment_method', status: 'succeeded', payment_id: 'pi_1', card } },
  ];
  const { pos: p, calls } = pos((method, path) => (path.endsWith('/events')
    ? { status: 200, body: events.shift() }
    : { status: 200, body: { id: 'tmr_1', action: null } }));
  const collected = await p.collectOnReader('tmr_1', 'pi_1');
  assert.deepEqual(collected.card, card);
  await p.confirmOnReader('tmr_1', 'pi_1');
  assert.deepEqual(calls.filter((c) => c.method === 'POST').map((c) => [c.path, c.body]), [
    ['/v1/terminal/readers/tmr_1/collect', { external_account_id: 'acct-1', payment_id: 'pi_1' }],
    ['/v1/terminal/readers/tmr_1/confirm', { external_account_id: 'acct-1', payment_id: 'pi_1' }],
  ]);
  await assert.rejects(p.waitForReaderAction('tmr_1', { deadlineMs: 0 }),
    (e) => e.kind === 'timeout' && e.code === 'reader_wait_timeout');
});
