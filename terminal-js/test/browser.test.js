// The demo POS page in a real browser (Debian's Chromium via playwright-core) against the REAL
// pos-backend in simulator mode (npm run test:backend with POS_BACKEND_URL). Screenshots go to
// terminal-js/test-output/. POS_DEMO_FROM_SOURCE=1 serves the page and terminal-js from this
// source tree instead of the copy built into the backend (to try demo changes without a rebuild).
import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BACKEND_URL, requireBackend, unique } from './support/backend-env.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const OUTPUT = fileURLToPath(new URL('../test-output/', import.meta.url));
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-quic',
  '--no-first-run', '--disable-component-update', '--disable-sync'];

/** A headless page on /pos that fails the test on page errors. */
async function openPos(t, query = '') {
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

if (requireBackend('browser.test.js')) {
  test('demo POS page: charge 12.99 with save card, then a decline and a retry with another card', async (t) => {
    const { page, tid, typeAmount, pageErrors } = await openPos(t);

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

  test('demo POS page: a reader that never answers locks the sale until Check payment finds it paid', async (t) => {
    const { page, tid, typeAmount, pageErrors } = await openPos(t, '?process_timeout_ms=400');
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
