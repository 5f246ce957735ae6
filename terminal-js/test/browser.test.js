// The demo POS page in a real browser (Debian's Chromium via playwright-core) against the REAL
// pos-backend in simulator mode (npm run test:backend with POS_BACKEND_URL). Screenshots go to
// terminal-js/test-output/. POS_DEMO_FROM_SOURCE=1 serves the page and terminal-js from this
// source tree instead of the copy built into the backend (to try demo changes without a rebuild).
import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BACKEND_URL, backendSession, requireBackend, unique } from './support/backend-env.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const OUTPUT = fileURLToPath(new URL('../test-output/', import.meta.url));
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
  '--no-first-run', '--disable-component-update', '--disable-sync'];

/** A headless page on /pos that fails the test on page errors. */
async function openPos(t, query = '', { tips = true } = {}) {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} not found: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  const { chromium } = await import('playwright-core');
  await mkdir(OUTPUT, { recursive: true });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1180, height: 820 }, deviceScaleFactor: 1 });
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(e));
  // Console errors count, except the browser's own log of HTTP error statuses (the simulator's
  // 402 for a decline is expected).
  page.on('console', (m) => {
    if (m.type() === 'error' && !/^Failed to load resource/.test(m.text())) pageErrors.push(new Error(m.text()));
  });
  if (process.env.POS_DEMO_FROM_SOURCE === '1') await serveDemoFromSource(page);
  const tid = (id) => page.locator(`[data-testid="${id}"]`);
  const typeAmount = async (digits) => {
    for (const d of digits) await tid(`key-${d}`).click();
  };
  await page.goto(`${BACKEND_URL}/pos${query}`);
  await page.locator('[data-testid="reader-status"][data-state="connected"]').waitFor({ timeout: 15_000 });
  // The counter's reader asks for a tip; tests about other things turn that off.
  if (!tips) await page.locator('label[for="tip-on-reader"]').click();
  assert.equal(await tid('tip-on-reader').isChecked(), tips);
  return { page, tid, typeAmount, pageErrors };
}

async function serveDemoFromSource(page) {
  const root = new URL('../', import.meta.url);
  await page.route(`${BACKEND_URL}/pos**`, (route) => {
    const { pathname } = new URL(route.request().url());
    const file = pathname === '/pos' || pathname === '/pos/' ? 'demo/index.html'
      : pathname.startsWith('/pos/lib/') ? `src/${pathname.slice('/pos/lib/'.length)}`
        : pathname.startsWith('/pos/demo/') ? `demo/${pathname.slice('/pos/demo/'.length)}` : null;
    return file ? route.fulfill({ path: fileURLToPath(new URL(file, root)) }) : route.continue();
  });
}

/** A call to the backend's API with the demo token (what the tests check the page against). */
let demoSession = null;
async function api(method, path, body) {
  demoSession ??= await backendSession();
  const res = await fetch(`${BACKEND_URL}${path}`, {
    method,
    headers: { Authorization: `Bearer ${demoSession.token}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  assert.equal(res.status, 200, `${method} ${path} → ${res.status}: ${text}`);
  return JSON.parse(text);
}

if (requireBackend('browser.test.js')) {
  test('demo POS page: charge 12.99 with save card, then a decline and a retry with another card', async (t) => {
    const { page, tid, typeAmount, pageErrors } = await openPos(t, '', { tips: false });

    // 1. 12.99, customer, save card, Visa 4242.
    const customer = unique('cust');
    await typeAmount('1299');
    assert.match(await tid('amount-display').textContent(), /12\.99/);
    await tid('customer-id').fill(customer);
    await page.locator('label[for="save-card"]').click();
    assert.equal(await tid('save-card').isChecked(), true);
    await tid('card-4242424242424242').click();
    await tid('charge').click();
    await tid('result').waitFor({ state: 'visible', timeout: 20_000 });
    assert.match(await tid('result-amount').textContent(), /12\.99/);
    assert.match(await tid('result-payment-id').textContent(), /^pi_/);
    assert.match(await tid('result-card').textContent(), /Visa •••• 4242/);
    assert.match(await tid('result-saved').textContent(), new RegExp(`Saved for ${customer}`));
    await page.locator('[data-testid="saved-card"][data-last4="4242"]').waitFor({ timeout: 10_000 });
    await page.screenshot({ path: `${OUTPUT}pos-approved-saved-card.png`, fullPage: true });
    const firstPayment = await tid('result-payment-id').textContent();

    // 2. A decline (generic_decline), then another card on the same sale.
    await tid('new-sale').click();
    await typeAmount('500');
    await tid('card-4000000000000002').click();
    await tid('charge').click();
    await page.locator('[data-testid="message"][data-kind="declined"]').waitFor({ timeout: 20_000 });
    assert.match(await tid('message').textContent(), /generic_decline/);
    assert.equal(await tid('result').isVisible(), false);
    const sale = await tid('sale-id').textContent();
    assert.match(await tid('charge').textContent(), /Try again/);
    await page.screenshot({ path: `${OUTPUT}pos-declined.png`, fullPage: true });

    await tid('card-5555555555554444').click();
    await tid('charge').click();
    await tid('result').waitFor({ state: 'visible', timeout: 20_000 });
    assert.equal(await tid('sale-id').textContent(), sale, 'the retry continues the same sale');
    assert.match(await tid('result-amount').textContent(), /5\.00/);
    assert.match(await tid('result-card').textContent(), /Mastercard •••• 4444/);
    assert.notEqual(await tid('result-payment-id').textContent(), firstPayment);
    // Save card was on: the mastercard joins the visa on file.
    await page.locator('[data-testid="saved-card"][data-last4="4444"]').waitFor({ timeout: 10_000 });
    await page.screenshot({ path: `${OUTPUT}pos-retry-approved.png`, fullPage: true });

    assert.deepEqual(pageErrors.map(String), []);
  });

  test('demo POS page: save a card without a sale, a declined one, the same card again', async (t) => {
    const { page, tid, pageErrors } = await openPos(t, '', { tips: false });
    const customer = unique('member');
    assert.equal(await tid('save-card-on-reader').isDisabled(), true, 'needs a customer');
    await tid('customer-id').fill(customer);
    // A declined card first: nothing saved.
    await tid('card-4000000000000002').click();
    await tid('save-card-on-reader').click();
    await page.locator('[data-testid="setup-message"][data-kind="declined"]').waitFor({ timeout: 20_000 });
    assert.match(await tid('setup-message').textContent(), /generic_decline/);
    // Then the Visa: saved, listed, nothing charged (no sale started).
    await tid('card-4242424242424242').click();
    await tid('save-card-on-reader').click();
    await page.locator('[data-testid="setup-message"][data-kind="ok"]').waitFor({ timeout: 20_000 });
    assert.match(await tid('setup-message').textContent(), /Visa •••• 4242/);
    await page.locator('[data-testid="saved-card"][data-last4="4242"]').waitFor({ timeout: 10_000 });
    assert.equal(await tid('sale-id').textContent(), '—', 'no sale');
    await page.screenshot({ path: `${OUTPUT}pos-card-saved-without-sale.png`, fullPage: true });
    const first = await tid('setup-message').getAttribute('data-card-id');
    // The same card again is the card on file, not a second one.
    await tid('save-card-on-reader').click();
    await page.locator('[data-testid="setup-message"][data-kind="ok"][data-card-id]').waitFor({ timeout: 20_000 });
    assert.equal(await tid('setup-message').getAttribute('data-card-id'), first);
    demoSession ??= await backendSession();
    const cards = await api('GET', `/v1/customer/cards?external_account_id=${encodeURIComponent(demoSession.external_account_id)}&external_customer_id=${encodeURIComponent(customer)}`);
    assert.equal(cards.data.length, 1);
    assert.deepEqual(pageErrors.map(String), []);
  });

  test('demo POS page: the cart on the reader, a tip chosen on the reader, the printable receipt', async (t) => {
    const { page, tid, pageErrors } = await openPos(t);
    // Ringing up: every item goes to the counter's reader, whose screen (as the simulator reports
    // it) shows the cart.
    await tid('item-coffee').click();
    await tid('item-coffee').click();
    await tid('item-bagel').click();
    assert.match(await tid('amount-display').textContent(), /9\.75/);
    const screen = page.locator('[data-testid="reader-screen"][data-screen="cart"]');
    await screen.filter({ hasText: '1 × Bagel' }).waitFor({ timeout: 10_000 });
    const shown = await tid('reader-screen').textContent();
    assert.match(shown, /2 × Coffee\s*\$7\.00/);
    assert.match(shown, /Total\s*\$9\.75/);
    const { reader } = await page.evaluate(() => window.posDemo.state.counter);
    const simScreen = await (await fetch(`${BACKEND_URL}/sim/stripe/_sim/terminal/readers/${reader}/screen`)).json();
    assert.equal(simScreen.screen, 'cart');
    assert.equal(simScreen.cart.total, 975);
    await page.screenshot({ path: `${OUTPUT}pos-cart-on-reader.png`, fullPage: true });

    // The customer picks a tip on the reader's tipping screen (9.75 is under the counter's smart-tip
    // threshold of 10.00: fixed amounts 1.00 / 2.00 / 3.00).
    await tid('card-4242424242424242').click();
    await tid('charge').click();
    await page.locator('[data-testid="reader-screen"][data-screen="tipping"]').waitFor({ timeout: 15_000 });
    assert.match(await tid('tip-option-1').textContent(), /\$2\.00/);
    assert.equal(await tid('tip-none').textContent(), 'No tip');
    await page.screenshot({ path: `${OUTPUT}pos-tipping-screen.png`, fullPage: true });
    await tid('tip-option-1').click();
    await tid('result').waitFor({ state: 'visible', timeout: 20_000 });
    assert.match(await tid('result-amount').textContent(), /11\.75/);
    assert.match(await tid('result-tip').textContent(), /\$2\.00/);
    const paymentId = await tid('result-payment-id').textContent();

    // The payment as the API reports it: captured, tip recorded separately.
    const payment = await api('GET', `/v1/payment/${paymentId}?external_account_id=demo-merchant`);
    assert.equal(payment.status, 'succeeded');
    assert.equal(payment.amount_captured, '11.75');
    assert.equal(payment.amount_tip, '2.00');

    // The printable receipt: brand, last4, tip.
    await tid('receipt').waitFor({ state: 'visible', timeout: 10_000 });
    const receipt = page.frameLocator('[data-testid="receipt-frame"]').locator('body');
    await receipt.filter({ hasText: '4242' }).waitFor({ timeout: 10_000 });
    const text = await receipt.textContent();
    assert.match(text, /visa/i);
    assert.match(text, /4242/);
    assert.match(text, /Tip[\s\S]*2\.00/);
    assert.equal(await tid('print-receipt').textContent(), 'Print receipt');
    // After the sale the reader thanks the customer and its cart is cleared.
    await page.locator('body[data-sale="approved"]').waitFor({ timeout: 10_000 });
    assert.equal(await tid('reader-screen').getAttribute('data-screen'), 'approved');
    const after = await (await fetch(`${BACKEND_URL}/sim/stripe/_sim/terminal/readers/${reader}/screen`)).json();
    assert.equal(after.screen, 'idle');
    await tid('receipt').screenshot({ path: `${OUTPUT}pos-receipt.png` });
    await page.screenshot({ path: `${OUTPUT}pos-tip-approved.png`, fullPage: true });
    assert.deepEqual(pageErrors.map(String), []);
  });

  test('demo POS page: the reader panel shows the counter reader online and the action it was given', async (t) => {
    const { page, tid, pageErrors } = await openPos(t);
    // The panel reads the reader's status from Stripe (through the backend) and then waits on the
    // events long poll; no polling of the reader.
    await page.locator('[data-testid="reader-state"][data-status="online"]').waitFor({ timeout: 15_000 });
    assert.notEqual(await page.locator('#reader-state-seen').textContent(), '…');

    // Ringing up an item hands the cart to the counter reader (server-driven set_reader_display):
    // the long poll answers with the reader's new action at once.
    await tid('item-coffee').click();
    await page.locator('[data-testid="reader-screen"][data-screen="cart"]').waitFor({ timeout: 10_000 });
    const action = page.locator('[data-testid="reader-state-action"]');
    await action.filter({ hasText: /set reader display: succeeded/ }).waitFor({ timeout: 10_000 });
    const { reader } = await page.evaluate(() => window.posDemo.state.counter);
    const events = await api('GET', `/v1/terminal/readers/${reader}/events?external_account_id=demo-merchant&timeout=0`);
    assert.equal(events.action.type, 'set_reader_display');
    assert.equal(await action.getAttribute('data-status'), events.action.status);
    await page.screenshot({ path: `${OUTPUT}pos-reader-panel.png`, fullPage: true });
    assert.deepEqual(pageErrors.map(String), []);
  });

  test('demo POS page: paid sales refunded on the reader — Interac through the SDK, Visa on the counter', async (t) => {
    const { page, tid, typeAmount, pageErrors } = await openPos(t, '', { tips: false });
    const session = await backendSession();
    const account = session.external_account_id;
    // The counter's reader may still wait for a card from an earlier run (the backend's database
    // outlives test runs): clear it.
    if (session.counter?.reader) {
      await fetch(`${BACKEND_URL}/v1/terminal/readers/${session.counter.reader}/cancel`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${session.token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ external_account_id: account }),
      });
    }
    // Interac (CAD): 8.00, refunded 3.00 then the rest, the card presented again each time.
    await tid('card-4506445006931933').click();
    await typeAmount('800');
    await tid('charge').click();
    await tid('result').waitFor({ state: 'visible', timeout: 20_000 });
    const interac = await tid('result-payment-id').textContent();
    await tid('refund-amount').fill('3.00');
    await tid('refund-on-reader').click();
    await page.locator('[data-testid="refund"][data-status="succeeded"]').waitFor({ timeout: 20_000 });
    assert.match(await tid('refund-status').textContent(), /refunded on the reader/);
    const refunded = await api('GET', `/v1/payment/${interac}?external_account_id=${account}`);
    assert.equal(refunded.amount_refunded, '3.00');
    await page.screenshot({ path: `${OUTPUT}pos-interac-refunded.png`, fullPage: true });

    // Visa (USD) on the counter's smart reader: the reader asks for the card, the customer taps it.
    await tid('new-sale').click();
    await tid('card-4242424242424242').click();
    await typeAmount('450');
    await tid('charge').click();
    await tid('result').waitFor({ state: 'visible', timeout: 20_000 });
    const visa = await tid('result-payment-id').textContent();
    await tid('refund-on-reader').click();
    await page.locator('[data-testid="reader-refund-tap"]').waitFor({ timeout: 20_000 });
    await page.screenshot({ path: `${OUTPUT}pos-refund-on-reader.png`, fullPage: true });
    await tid('reader-refund-tap').click();
    await page.locator('[data-testid="refund"][data-status="succeeded"]').waitFor({ timeout: 20_000 });
    const card = await api('GET', `/v1/payment/${visa}?external_account_id=${account}`);
    assert.equal(card.amount_refunded, '4.50');
    assert.deepEqual(pageErrors.map(String), []);
  });

  test('demo POS page: an open tab is authorised, raised and captured', async (t) => {
    const { page, tid, pageErrors } = await openPos(t);
    await tid('item-juice').click();
    await page.locator('[data-testid="reader-screen"][data-screen="cart"]').waitFor({ timeout: 10_000 });
    await tid('card-5555555555554444').click();
    await tid('open-tab').click();
    await page.locator('body[data-sale="tab_open"]').waitFor({ timeout: 20_000 });
    assert.match(await tid('tab-authorised').textContent(), /4\.25/);
    const paymentId = await page.evaluate(() => window.posDemo.state.tab.paymentId);
    let payment = await api('GET', `/v1/payment/${paymentId}?external_account_id=demo-merchant`);
    assert.equal(payment.status, 'requires_capture');
    assert.equal(payment.amount, '4.25');
    assert.equal(await tid('charge').isDisabled(), true, 'no second sale while the tab is open');

    // More rounds: the authorisation is raised to the new total.
    await tid('item-coffee').click();
    await tid('item-bagel').click();
    await page.locator('[data-testid="reader-screen"]', { hasText: '1 × Bagel' }).waitFor({ timeout: 10_000 });
    assert.match(await tid('tab-total').textContent(), /10\.50/);
    await tid('tab-raise').click();
    await page.locator('[data-testid="tab-authorised"]', { hasText: '10.50' }).waitFor({ timeout: 10_000 });
    payment = await api('GET', `/v1/payment/${paymentId}?external_account_id=demo-merchant`);
    assert.equal(payment.status, 'requires_capture');
    assert.equal(payment.amount, '10.50');
    await page.screenshot({ path: `${OUTPUT}pos-tab-open.png`, fullPage: true });

    // One more item, then closing raises once more and captures the whole tab.
    await tid('item-coffee').click();
    await page.locator('[data-testid="tab-total"]', { hasText: '14.00' }).waitFor({ timeout: 10_000 });
    await tid('tab-close').click();
    await tid('result').waitFor({ state: 'visible', timeout: 20_000 });
    assert.match(await tid('result-amount').textContent(), /14\.00/);
    assert.equal(await tid('result-payment-id').textContent(), paymentId);
    payment = await api('GET', `/v1/payment/${paymentId}?external_account_id=demo-merchant`);
    assert.equal(payment.status, 'succeeded');
    assert.equal(payment.amount_captured, '14.00');
    const receipt = page.frameLocator('[data-testid="receipt-frame"]').locator('body');
    await receipt.filter({ hasText: '4444' }).waitFor({ timeout: 10_000 });
    assert.match(await receipt.textContent(), /14\.00/);
    await page.screenshot({ path: `${OUTPUT}pos-tab-closed.png`, fullPage: true });
    assert.deepEqual(pageErrors.map(String), []);
  });

  test('demo POS page: a reader that never answers locks the sale until Check payment finds it paid', async (t) => {
    const { page, tid, typeAmount, pageErrors } = await openPos(t, '?process_timeout_ms=400', { tips: false });
    await typeAmount('700');
    await page.evaluate(() => window.posDemo.state.pos.terminal.simulateFault({ operation: 'process', hang: true }));
    await tid('charge').click();
    await page.locator('body[data-sale="unknown_outcome"]').waitFor({ timeout: 20_000 });
    assert.match(await tid('message').textContent(), /may still be charged/);
    const sale = await tid('sale-id').textContent();
    // Locked: no new sale from the keypad or the customer field; Check payment is offered.
    assert.equal(await tid('key-1').isDisabled(), true);
    assert.equal(await tid('key-clear').isDisabled(), true);
    assert.equal(await tid('customer-id').isDisabled(), true);
    await page.keyboard.press('5');
    assert.match(await tid('amount-display').textContent(), /7\.00/);
    assert.equal(await tid('check-payment').isVisible(), true);

    // Stripe has no answer yet: still locked.
    await tid('check-payment').click();
    await page.locator('[data-testid="message"]', { hasText: 'Still not confirmed' }).waitFor({ timeout: 10_000 });
    assert.equal(await tid('key-1').isDisabled(), true);
    await page.screenshot({ path: `${OUTPUT}pos-outcome-unknown.png`, fullPage: true });

    // The reader's authorisation lands late (as a slow reader's would): Check payment finishes the
    // same sale (capture only, no second card read) and unlocks the till.
    const late = await page.evaluate(async () => {
      const { state } = window.posDemo;
      const answer = await state.pos.terminal.processPayment({ id: state.pending.paymentIntentId });
      return answer.paymentIntent?.status ?? answer.error?.code;
    });
    assert.equal(late, 'requires_capture');
    await tid('check-payment').click();
    await tid('result').waitFor({ state: 'visible', timeout: 20_000 });
    assert.equal(await tid('sale-id').textContent(), sale);
    assert.match(await tid('result-amount').textContent(), /7\.00/);
    assert.equal(await tid('check-payment').isVisible(), false);
    assert.equal(await tid('key-1').isDisabled(), false);
    assert.deepEqual(pageErrors.map(String), []);
  });
}
