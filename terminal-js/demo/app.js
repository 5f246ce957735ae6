// Demo POS page: pos-backend in simulator mode serves it at /pos. It takes a card-present payment
// end to end with terminal-js: /pos/token → createSimulatedStripeTerminal → createPosTerminal →
// charge() (intent → collect → process → capture → save card). The menu rings up a cart shown on
// the counter's smart reader (showCart); the simulated reader panel shows that cart, the tipping
// screen (the customer's pick becomes the tip) and the card prompt; after payment the HTML receipt
// is shown, printable; a tab is authorised with incremental support, raised, then captured; a
// paid sale is refunded on the reader (Interac through the SDK, other cards on the counter's reader).
import { createPosTerminal, toMinorUnits, fromMinorUnits, cartTotal } from '/pos/lib/index.js';
import { createSimulatedStripeTerminal, TEST_CARDS } from '/pos/lib/simulated.js';

const $ = (id) => document.getElementById(id);
const ui = {
  reader: document.querySelector('[data-testid="reader-status"]'),
  readerLabel: document.querySelector('.reader-label'),
  amount: $('amount'),
  keypad: document.querySelector('.keypad'),
  customer: $('customer'),
  saveCard: $('save-card'),
  saveHint: $('save-hint'),
  cardOptions: $('card-options'),
  charge: $('charge'),
  cancel: $('cancel'),
  check: $('check'),
  steps: $('steps'),
  message: $('message'),
  result: $('result'),
  resultAmount: $('result-amount'),
  resultPaymentId: $('result-payment-id'),
  resultCard: $('result-card'),
  resultSaved: $('result-saved'),
  resultTip: $('result-tip'),
  menuItems: $('menu-items'),
  cart: $('cart'),
  readerScreen: $('reader-screen'),
  readerScreenId: $('reader-screen-id'),
  tipOnReader: $('tip-on-reader'),
  tipHint: $('tip-hint'),
  openTab: $('open-tab'),
  tab: $('tab'),
  tabAuthorised: $('tab-authorised'),
  tabTotal: $('tab-total'),
  tabRaise: $('tab-raise'),
  tabClose: $('tab-close'),
  receipt: $('receipt'),
  receiptFrame: $('receipt-frame'),
  printReceipt: $('print-receipt'),
  newSale: $('new-sale'),
  savedCards: $('saved-cards'),
  saveOnReader: $('save-on-reader'),
  setupMessage: $('setup-message'),
  cardsOwner: $('cards-owner'),
  saleId: $('sale-id'),
  refund: $('refund'),
  refundAmount: $('refund-amount'),
  refundOnReader: $('refund-on-reader'),
  refundStatus: $('refund-status'),
};

const state = {
  cents: '', // digits typed, in minor units
  card: TEST_CARDS[0].number,
  busy: false,
  ready: false,
  // A sale that did not finish (decline, lost answer, …): retrying reuses its transaction id, so
  // the backend resumes the same payment instead of starting a second one.
  // A sale whose payment may have gone through (outcome unknown, authorised but not captured) is
  // `locked`: no new sale until the cashier resumes it or Check payment settles it.
  pending: null, // {external_transaction_id, amount, customer, paymentIntentId?, locked?}
  checking: false, // Check payment is reading the payment's status
  approved: false, // the sale on screen is paid: Charge stays off until a new sale starts
  pos: null,
  account: null,
  items: [], // the cart: {description, amount (unit, major units), quantity}
  counter: null, // {location, reader}: the counter's smart reader (from /pos/token)
  stripeApiBase: '/sim/stripe',
  screen: null, // what the simulated reader shows during a payment: {kind: 'tipping' | 'collect' | 'approved', …}
  tab: null, // an open tab: {paymentId, authorised, external_transaction_id, cardPresent}
  sale: null, // the paid sale on screen: {paymentId, currency, interac}, for a refund on the reader
};

// Interac debit: a CAD sale, captured at once, refunded in person only (the card is presented
// again: the simulated SDK's collectRefundPaymentMethod / processRefund).
const INTERAC_CARD = Object.freeze({ number: '4506445006931933', brand: 'interac', label: 'Interac debit · CAD', outcome: 'approved', interac: true });
const CARDS = [...TEST_CARDS, INTERAC_CARD];
const isInterac = (number) => number === INTERAC_CARD.number;

const CURRENCY = 'usd';
const MENU = [
  { id: 'coffee', description: 'Coffee', amount: '3.50' },
  { id: 'bagel', description: 'Bagel', amount: '2.75' },
  { id: 'juice', description: 'Orange juice', amount: '4.25' },
];

// ---- auth: the demo-only /pos/token endpoint (simulator mode) --------------------------------

let session = null; // {token, external_account_id, stripe_api_base, exp}

function jwtExpiry(token) {
  try {
    const payload = JSON.parse(atob(token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
    return typeof payload.exp === 'number' ? payload.exp * 1000 : null;
  } catch {
    return null;
  }
}

async function fetchSession() {
  const res = await fetch('/pos/token', { method: 'POST', headers: { Accept: 'application/json' } });
  if (!res.ok) throw new Error(`/pos/token answered HTTP ${res.status}`);
  const body = await res.json();
  session = { ...body, exp: jwtExpiry(body.token) };
  return session;
}

async function getAuthToken() {
  if (!session || (session.exp && session.exp - Date.now() < 60_000)) await fetchSession();
  return session.token;
}

// ---- formatting ------------------------------------------------------------------------------

/** The amount due: the cart's exact total when it has items, else what was typed. */
const amountString = () => {
  if (state.items.length) return cartTotal({ currency: CURRENCY, line_items: state.items });
  const cents = Number(state.cents || '0');
  return `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, '0')}`;
};
const minor = (amount) => toMinorUnits(amount, CURRENCY);

function money(amount, currency = 'usd') {
  try {
    return new Intl.NumberFormat(undefined, { style: 'currency', currency: currency.toUpperCase() }).format(Number(amount));
  } catch {
    return `${amount} ${currency.toUpperCase()}`;
  }
}

const brandName = (brand) => (brand ? brand.charAt(0).toUpperCase() + brand.slice(1) : 'Card');
const cardText = (c) => `${brandName(c.brand)} •••• ${c.last4}`;
const expiry = (c) => (c.exp_month && c.exp_year ? `${String(c.exp_month).padStart(2, '0')}/${String(c.exp_year).slice(-2)}` : '');

// ---- rendering -------------------------------------------------------------------------------

function renderAmount() {
  ui.amount.textContent = money(amountString());
  renderButtons();
}

function renderButtons() {
  const amountOk = minor(amountString()) > 0n;
  const tabOpen = Boolean(state.tab);
  ui.charge.disabled = !state.ready || state.busy || state.checking || !amountOk || state.approved || tabOpen;
  ui.openTab.disabled = ui.charge.disabled || Boolean(state.pending);
  ui.openTab.hidden = tabOpen;
  ui.tab.hidden = !tabOpen;
  if (tabOpen) {
    ui.tabAuthorised.textContent = money(state.tab.authorised);
    ui.tabTotal.textContent = money(amountString());
    ui.tabRaise.disabled = state.busy || minor(amountString()) <= minor(state.tab.authorised);
    ui.tabClose.disabled = state.busy;
  }
  ui.menuItems.querySelectorAll('button').forEach((b) => { b.disabled = state.busy || Boolean(state.pending?.locked); });
  ui.charge.textContent = state.busy ? 'Charging…'
    : state.approved ? 'Paid ✓'
      : state.pending ? 'Try again'
        : `Charge ${amountOk ? money(amountString()) : ''}`.trim();
  ui.charge.classList.toggle('paid', state.approved && !state.busy);
  ui.cancel.hidden = !state.busy;
  ui.check.hidden = state.busy || !state.pending?.locked;
  ui.check.disabled = state.checking;
  // A sale that may have been paid (outcome unknown, authorised but not captured) can only be
  // resumed, never edited into a new one.
  const locked = state.busy || Boolean(state.pending?.locked);
  ui.keypad.querySelectorAll('button').forEach((b) => { b.disabled = locked || tabOpen; });
  ui.tipOnReader.disabled = locked || tabOpen;
  ui.customer.disabled = locked;
  const hasCustomer = ui.customer.value.trim() !== '';
  ui.saveCard.disabled = locked || !hasCustomer;
  ui.saveOnReader.disabled = !state.ready || state.busy || !hasCustomer;
  if (!hasCustomer) ui.saveCard.checked = false;
  ui.saveHint.hidden = hasCustomer;
}

function cardOption(card) {
  const label = document.createElement('label');
  label.className = `card-option ${card.outcome}`;
  label.dataset.testid = `card-${card.number}`;
  const input = document.createElement('input');
  input.type = 'radio';
  input.name = 'test-card';
  input.value = card.number;
  input.checked = card.number === state.card;
  input.addEventListener('change', () => { state.card = card.number; });
  const [title] = card.label.split(' · ');
  const declined = card.outcome === 'declined';
  const text = document.createElement('span');
  text.innerHTML = declined ? '<strong></strong><code></code>' : '<strong></strong><small></small><code></code>';
  text.querySelector('strong').textContent = declined ? brandName(card.declineCode.replace(/_/g, ' ')) : title;
  if (!declined) text.querySelector('small').textContent = card.wallet ? 'not saveable' : 'saveable';
  text.querySelector('code').textContent = `•••• ${card.number.slice(-4)}`;
  label.append(input, text);
  return label;
}

function renderCards() {
  // Two rows: the cards that approve, then the ones that decline (with their decline code).
  const groups = [['approved', 'Approves'], ['declined', 'Declines']].map(([outcome, caption]) => {
    const group = document.createElement('div');
    group.className = `card-group ${outcome}`;
    const head = document.createElement('span');
    head.className = 'card-group-caption';
    head.textContent = caption;
    const grid = document.createElement('div');
    grid.className = 'card-options';
    grid.append(...CARDS.filter((c) => c.outcome === outcome).map(cardOption));
    group.append(head, grid);
    return group;
  });
  ui.cardOptions.replaceChildren(...groups);
}

function selectCard(number) {
  state.card = number;
  ui.cardOptions.querySelectorAll('input').forEach((i) => { i.checked = i.value === number; });
}

function resetSteps({ saveCard = true } = {}) {
  ui.steps.querySelectorAll('li').forEach((li) => {
    li.className = '';
    if (li.dataset.step === 'verify') li.hidden = true;
    if (li.dataset.step === 'save_card') li.hidden = !saveCard;
  });
  ui.steps.dataset.state = 'idle';
}

function showStep(step) {
  ui.steps.dataset.state = step;
  const items = [...ui.steps.querySelectorAll('li')];
  const active = items.filter((li) => li.classList.contains('active'));
  if (step === 'declined' || step === 'cancelled') {
    active.forEach((li) => { li.className = 'failed'; });
    return;
  }
  active.forEach((li) => { li.className = 'done'; });
  if (step === 'done') {
    items.filter((li) => !li.className && !li.hidden).forEach((li) => { li.className = 'skipped'; });
    return;
  }
  if (step === 'collect') {
    // A new card attempt: presenting and authorising start over.
    items.filter((li) => ['collect', 'process'].includes(li.dataset.step)).forEach((li) => { li.className = ''; });
  }
  const li = items.find((x) => x.dataset.step === step);
  if (li) {
    li.hidden = false;
    li.className = 'active';
  }
}

function showMessage(kind, html) {
  ui.message.hidden = false;
  ui.message.dataset.kind = kind;
  ui.message.innerHTML = html;
}

function hideMessage() {
  ui.message.hidden = true;
  ui.message.textContent = '';
  delete ui.message.dataset.kind;
}

const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

async function refreshSavedCards() {
  const customer = ui.customer.value.trim();
  ui.cardsOwner.textContent = customer;
  if (!customer || !state.pos) {
    ui.savedCards.innerHTML = '<li class="empty">Enter a customer ID to see their cards.</li>';
    return;
  }
  try {
    const cards = await state.pos.listCards(customer);
    if (ui.customer.value.trim() !== customer) return; // typed on meanwhile
    if (!cards.length) {
      ui.savedCards.innerHTML = '<li class="empty">No saved cards yet.</li>';
      return;
    }
    ui.savedCards.replaceChildren(...cards.map((c) => {
      const li = document.createElement('li');
      li.className = 'saved-card';
      li.dataset.testid = 'saved-card';
      li.dataset.last4 = c.last4;
      li.innerHTML = `<span class="chip ${esc(c.brand)}">${esc(brandName(c.brand))}</span>
        <span class="digits">•••• ${esc(c.last4)}</span><span class="exp">${esc(expiry(c))}</span>`;
      li.title = c.payment_method_id;
      return li;
    }));
  } catch (err) {
    ui.savedCards.innerHTML = `<li class="empty error">Could not load cards: ${esc(err.message)}</li>`;
  }
}

// ---- the cart and the customer's reader -----------------------------------------------------

function renderMenu() {
  ui.menuItems.replaceChildren(...MENU.map((item) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'btn ghost';
    b.dataset.testid = `item-${item.id}`;
    b.textContent = `Add ${item.description} ${money(item.amount)}`;
    b.addEventListener('click', () => addItem(item));
    return b;
  }));
}

function lineItem(text, amount, className = '') {
  const li = document.createElement('li');
  if (className) li.className = className;
  const label = document.createElement('span');
  label.textContent = text;
  const value = document.createElement('span');
  value.textContent = amount;
  li.append(label, value);
  return li;
}

function renderCart() {
  ui.cart.hidden = state.items.length === 0;
  ui.cart.replaceChildren(
    ...state.items.map((i) => lineItem(`${i.quantity} × ${i.description}`, money(cartTotal({ currency: CURRENCY, line_items: [i] })))),
    lineItem('Total', money(amountString()), 'total'),
  );
}

function addItem(item) {
  if (state.busy || state.pending?.locked) return;
  if (state.approved) newSale();
  if (!state.tab) state.pending = null; // a new cart is a new sale; a tab keeps its payment
  const line = state.items.find((i) => i.description === item.description);
  if (line) line.quantity += 1;
  else state.items.push({ description: item.description, amount: item.amount, quantity: 1 });
  state.cents = '';
  renderCart();
  renderAmount();
  void syncReaderCart();
}

// Cart updates go to the reader one at a time, newest last, so the screen never shows an old cart.
let readerCartQueue = Promise.resolve();
let readerShowsCart = false;
function syncReaderCart() {
  if (!state.counter || !state.pos) return Promise.resolve();
  readerCartQueue = readerCartQueue.then(async () => {
    try {
      if (state.items.length) {
        await state.pos.showCart(state.counter.reader, { currency: CURRENCY, line_items: state.items.map((i) => ({ ...i })) });
        readerShowsCart = true;
      } else if (readerShowsCart) {
        await state.pos.clearCart(state.counter.reader);
        readerShowsCart = false;
      }
    } catch (err) {
      showMessage('warning', `<strong>The reader did not take the cart.</strong> ${esc(err.message)}`);
    }
    await refreshReaderScreen();
  });
  return readerCartQueue;
}

/** What the counter's reader shows, as the simulator reports it (`/_sim/terminal/readers/{id}/screen`). */
let serverScreen = { screen: 'idle' };
async function refreshReaderScreen() {
  if (state.counter) {
    try {
      const res = await fetch(`${state.stripeApiBase}/_sim/terminal/readers/${encodeURIComponent(state.counter.reader)}/screen`);
      if (res.ok) serverScreen = await res.json();
    } catch {
      // The panel keeps what it showed.
    }
  }
  renderReaderScreen();
}

function screenText(text, className = '') {
  const p = document.createElement('p');
  if (className) p.className = className;
  p.textContent = text;
  return p;
}

function renderReaderScreen() {
  const local = state.screen;
  const el = ui.readerScreen;
  if (local?.kind === 'tipping') {
    el.dataset.screen = 'tipping';
    const tips = document.createElement('div');
    tips.className = 'tips';
    tips.setAttribute('role', 'group');
    tips.setAttribute('aria-label', 'Tip choices');
    const choice = (label, amount, testid) => {
      const b = document.createElement('button');
      b.type = 'button';
      b.dataset.testid = testid;
      b.textContent = label;
      b.addEventListener('click', () => local.resolve(amount));
      return b;
    };
    const current = (m) => money(fromMinorUnits(m, local.currency), local.currency);
    tips.append(...local.options.map((o, i) => choice(
      o.type === 'percentage' ? `${o.percentage}% · ${current(o.amount)}` : current(o.amount), o.amount, `tip-option-${i}`)),
    choice('No tip', 0, 'tip-none'));
    el.replaceChildren(screenText(`Add a tip? Total ${current(local.amount)}`), tips);
    return;
  }
  if (local?.kind === 'collect') {
    el.dataset.screen = 'collect';
    el.replaceChildren(screenText(`Total ${money(amountString())}${local.tip ? ` + tip ${money(local.tip)}` : ''}`),
      screenText('Tap, insert or swipe'));
    return;
  }
  if (local?.kind === 'approved') {
    el.dataset.screen = 'approved';
    el.replaceChildren(screenText('Approved'), screenText('Thank you!', 'screen-idle'));
    return;
  }
  if (serverScreen.screen === 'collect_refund_payment_method') {
    el.dataset.screen = 'refund';
    const tap = document.createElement('button');
    tap.type = 'button';
    tap.className = 'btn primary small';
    tap.dataset.testid = 'reader-refund-tap';
    tap.textContent = 'Customer taps the card';
    tap.addEventListener('click', () => void presentOnCounter(state.card).then(refreshReaderScreen));
    el.replaceChildren(screenText(`Refund ${money(fromMinorUnits(serverScreen.amount, serverScreen.currency), serverScreen.currency)}`),
      screenText('Present the card you paid with'), tap);
    return;
  }
  if (serverScreen.screen === 'cart' && serverScreen.cart) {
    const { cart } = serverScreen;
    el.dataset.screen = 'cart';
    const list = document.createElement('ul');
    list.append(...cart.line_items.map((l) => lineItem(`${l.quantity} × ${l.description}`,
      money(fromMinorUnits(BigInt(l.amount) * BigInt(l.quantity), cart.currency), cart.currency))));
    if (cart.tax) list.append(lineItem('Tax', money(fromMinorUnits(cart.tax, cart.currency), cart.currency)));
    list.append(lineItem('Total', money(fromMinorUnits(cart.total, cart.currency), cart.currency), 'total'));
    el.replaceChildren(list);
    return;
  }
  el.dataset.screen = 'idle';
  el.replaceChildren(screenText('Welcome', 'screen-idle'));
}

/** The simulated reader's tipping screen: shown in the panel until the customer picks. */
function onTipScreen({ amount, currency, tip_options: options, cancelled }) {
  return new Promise((resolve) => {
    const done = (tip) => {
      state.screen = { kind: 'collect', tip: tip ? fromMinorUnits(tip, currency) : null };
      renderReaderScreen();
      resolve(tip);
    };
    state.screen = { kind: 'tipping', amount, currency, options: options ?? [], resolve: done };
    renderReaderScreen();
    cancelled.then(() => {
      if (state.screen?.kind === 'tipping') {
        state.screen = null;
        renderReaderScreen();
      }
    });
  });
}

async function showReceipt(paymentId) {
  try {
    const html = await state.pos.getReceipt(paymentId, { format: 'html' });
    ui.receiptFrame.srcdoc = html;
    ui.receipt.hidden = false;
  } catch (err) {
    ui.receipt.hidden = true;
    showMessage('warning', `<strong>No receipt.</strong> ${esc(err.message)}`);
  }
}

/** After a sale: the reader thanks the customer, then goes back to its cart (now cleared). */
async function finishOnReader() {
  state.screen = { kind: 'approved' };
  renderReaderScreen();
  state.items = [];
  renderCart();
  await syncReaderCart();
}

// ---- the sale --------------------------------------------------------------------------------

const newTransactionId = () => `pos-${new Date().toISOString().replace(/\D/g, '').slice(0, 14)}-${Math.random().toString(36).slice(2, 8)}`;

function describeError(err) {
  switch (err.kind) {
    case 'declined':
      return ['declined', `<strong>Card declined</strong> <code>${esc(err.declineCode ?? err.code)}</code><br>
        Nothing was charged. Ask for another card, pick it above and tap <em>Try again</em>.`];
    case 'cancelled':
      return ['info', '<strong>Sale cancelled.</strong> Nothing was charged.'];
    case 'reader_disconnected':
      return ['error', `<strong>Reader not connected.</strong> ${esc(err.message)}`];
    case 'unknown_outcome':
      return ['warning', `<strong>Payment not confirmed — the card may still be charged.</strong>
        Do not start a new sale. Tap <em>Check payment</em> to see whether it went through, or
        <em>Try again</em> to resume this same sale.`];
    default:
      if (err.paymentStatus === 'requires_capture') {
        return ['warning', `<strong>Card authorised, capture pending.</strong> ${esc(err.message)}<br>
          Tap <em>Try again</em> to finish this sale.`];
      }
      return ['error', `<strong>${esc(err.kind ?? 'error')}</strong> ${esc(err.message)}${err.code ? ` <code>${esc(err.code)}</code>` : ''}`];
  }
}

/** Saves the customer's card without a sale (a gym sign-up): the reader reads the picked test card. */
async function saveCardWithoutSale() {
  const customer = ui.customer.value.trim();
  if (!customer || state.busy) return;
  state.busy = true;
  renderButtons();
  const say = (kind, html) => {
    ui.setupMessage.hidden = false;
    ui.setupMessage.dataset.kind = kind;
    ui.setupMessage.innerHTML = html;
  };
  delete ui.setupMessage.dataset.cardId;
  say('info', 'Waiting for the customer to tap, insert or swipe… nothing is charged.');
  try {
    const { card } = await state.pos.saveCardOnReader({ externalCustomerId: customer, testCardNumber: state.card });
    say('ok', `<strong>Card saved</strong> ${esc(brandName(card.brand))} •••• ${esc(card.last4)} for ${esc(customer)}.`);
    ui.setupMessage.dataset.cardId = card.id;
  } catch (err) {
    const [kind, html] = describeError(err);
    say(kind, err.kind === 'declined'
      ? `<strong>Card declined</strong> <code>${esc(err.declineCode ?? err.code)}</code> — no card saved.`
      : html);
  } finally {
    state.busy = false;
    renderButtons();
    await refreshSavedCards();
  }
}

async function charge({ tab = false } = {}) {
  if (state.busy || !state.ready || state.tab) return;
  const amount = amountString();
  const customer = ui.customer.value.trim() || undefined;
  const saveCard = Boolean(customer && ui.saveCard.checked);
  const sameSale = state.pending && state.pending.amount === amount && state.pending.customer === customer;
  const external_transaction_id = sameSale ? state.pending.external_transaction_id : newTransactionId();
  state.pending = { external_transaction_id, amount, customer };
  ui.saleId.textContent = external_transaction_id;

  state.busy = true;
  ui.result.hidden = true;
  ui.receipt.hidden = true;
  hideMessage();
  resetSteps({ saveCard: saveCard && !tab });
  renderButtons();
  // The card the simulated customer taps (the SDK's own simulator API).
  state.pos.terminal.setSimulatorConfiguration({ testCardNumber: state.card });
  document.body.dataset.sale = 'running';

  const interac = isInterac(state.card) && !tab;
  try {
    const result = await state.pos.charge({
      amount,
      // Interac: a CAD sale that takes it (the only currency it supports).
      ...(interac ? { currency: 'cad', paymentMethodTypes: ['card_present', 'interac_present'] } : {}),
      external_transaction_id,
      external_customer_id: customer,
      saveCard: saveCard && !tab,
      // A tab is authorised now and captured at closing: incremental support, no tip yet.
      capture: !tab,
      requestIncrementalAuthorizationSupport: tab || undefined,
      skipTipping: tab || interac || !ui.tipOnReader.checked || undefined,
      onStep: ({ step }) => {
        showStep(step);
        if (step === 'collect') {
          state.screen = { kind: 'collect' };
          renderReaderScreen();
        }
        if (step === 'process' || step === 'declined' || step === 'cancelled') {
          state.screen = step === 'process' ? state.screen : null;
          renderReaderScreen();
        }
        if (step === 'collect') showMessage('info', 'Waiting for the customer to tap, insert or swipe…');
        if (step === 'process') showMessage('info', 'Authorising…');
        if (step === 'verify') showMessage('warning', 'No clear answer from the reader — checking the payment with the backend…');
        if (step === 'capture' || step === 'save_card') hideMessage();
      },
    });
    state.pending = null;
    if (tab) {
      state.tab = {
        paymentId: result.paymentIntentId,
        authorised: result.payment.amount,
        external_transaction_id,
        cardPresent: result.cardPresent,
      };
      state.screen = null;
      renderReaderScreen();
      showMessage('info', `<strong>Tab open.</strong> ${esc(money(result.payment.amount))} authorised. Add items, then
        <em>Add cart to tab</em> or <em>Close tab</em>.`);
      document.body.dataset.sale = 'tab_open';
      return;
    }
    state.approved = true;
    state.sale = { paymentId: result.paymentIntentId, currency: result.payment.currency, interac };
    await showResult(result);
    await finishOnReader();
    document.body.dataset.sale = 'approved'; // paid, receipt shown, reader's cart cleared
    await refreshSavedCards();
  } catch (err) {
    state.screen = null;
    renderReaderScreen();
    const [kind, html] = describeError(err);
    showMessage(kind, html);
    document.body.dataset.sale = err.kind ?? 'error';
    const resumable = err.kind === 'declined' || err.kind === 'unknown_outcome' || err.kind === 'reader_disconnected' ||
      err.kind === 'timeout' || err.kind === 'network' || err.paymentStatus === 'requires_capture' ||
      (err.kind === 'backend' && err.retryable);
    if (!resumable) state.pending = null;
    else if (err.kind === 'unknown_outcome' || err.paymentStatus === 'requires_capture') {
      state.pending.locked = true;
      state.pending.paymentIntentId = err.paymentIntentId;
    }
    if (err.kind === 'reader_disconnected') void connectReader();
  } finally {
    state.busy = false;
    renderButtons();
  }
}

/** Check payment: reads a locked sale's payment; unlocks it only once nothing can be charged. */
async function checkPayment() {
  const pending = state.pending;
  if (state.busy || state.checking || !pending?.locked || !pending.paymentIntentId) return;
  state.checking = true;
  renderButtons();
  let payment;
  try {
    payment = await state.pos.getPayment(pending.paymentIntentId);
  } catch (err) {
    showMessage('error', `<strong>Could not check the payment.</strong> ${esc(err.message)} The sale stays locked.`);
    return;
  } finally {
    state.checking = false;
    renderButtons();
  }
  switch (payment.status) {
    case 'requires_capture':
    case 'succeeded':
      // Paid: finishing the same sale captures (and saves the card) without reading a card again.
      showMessage('info', 'The card was authorised — finishing the sale…');
      await charge();
      return;
    case 'requires_payment_method':
      pending.locked = false;
      showMessage('info', '<strong>Not charged.</strong> Tap <em>Try again</em> to present a card on this sale.');
      break;
    case 'canceled':
      state.pending = null;
      showMessage('info', '<strong>Sale cancelled.</strong> Nothing was charged.');
      break;
    default:
      showMessage('warning', `<strong>Still not confirmed</strong> <code>${esc(payment.status)}</code>. The reader may
        still be finishing: check again in a moment, or tap <em>Try again</em> to resume this same sale.`);
  }
  renderButtons();
}

async function showResult(result) {
  const { payment, card, cardError, cardPresent } = result;
  ui.resultAmount.textContent = money(payment.amount_captured ?? payment.amount, payment.currency);
  ui.resultPaymentId.textContent = payment.id;
  const shown = card ?? cardPresent;
  ui.resultCard.textContent = shown ? `${cardText(shown)}${cardPresent?.wallet ? ' (wallet)' : ''}` : '—';
  if (card) ui.resultSaved.textContent = `Saved for ${card.external_customer_id}`;
  else if (cardError) ui.resultSaved.textContent = `Not saved — ${cardError.code === 'card_not_saveable' ? 'this card cannot be saved (wallet)' : cardError.message}`;
  else ui.resultSaved.textContent = 'Not requested';
  ui.result.dataset.saved = card ? 'yes' : 'no';
  const tipped = payment.amount_tip && toMinorUnits(payment.amount_tip, payment.currency) > 0n;
  ui.resultTip.textContent = tipped ? money(payment.amount_tip, payment.currency) : 'None';
  ui.result.hidden = false;
  ui.refundAmount.value = '';
  ui.refundStatus.textContent = '';
  delete ui.refund.dataset.status;
  await showReceipt(payment.id);
}

// ---- a refund on the reader: Interac through the SDK (the card presented again), other cards on
// the counter's smart reader (server-driven; the simulated customer taps the card on its panel)

/** The simulated customer presents `card` on the counter's reader (Stripe's test helper). */
async function presentOnCounter(card) {
  const kind = isInterac(card) ? 'interac_present' : 'card_present';
  const form = new URLSearchParams({ type: kind, [`${kind}[number]`]: card });
  await fetch(`${state.stripeApiBase}/v1/test_helpers/terminal/readers/${encodeURIComponent(state.counter.reader)}/present_payment_method`, {
    method: 'POST',
    // The simulator's own test key (simulator mode only; never a real key).
    headers: { Authorization: 'Bearer sk_test_simulator', 'Content-Type': 'application/x-www-form-urlencoded' },
    body: form,
  });
}

function showRefund(readerRefund) {
  ui.refund.dataset.status = readerRefund.status;
  const amount = money(readerRefund.amount, readerRefund.currency);
  ui.refundStatus.textContent = {
    pending: `${amount}: waiting for the card on the reader…`,
    succeeded: `${amount} refunded on the reader ✓ (refunded so far ${money(readerRefund.payment.amount_refunded, readerRefund.currency)})`,
    failed: `Refund failed: ${readerRefund.failure_message ?? readerRefund.failure_code ?? 'the reader refused it'}`,
    canceled: 'Refund canceled on the reader.',
  }[readerRefund.status] ?? readerRefund.status;
}

async function refundOnReader() {
  const sale = state.sale;
  if (!sale || state.busy) return;
  const amount = ui.refundAmount.value.trim() || undefined;
  // The reader's own screen (the refund prompt) replaces the "Approved" of the sale.
  state.screen = null;
  state.busy = true;
  ui.refundOnReader.disabled = true;
  try {
    if (sale.interac) {
      // The cardholder presents the Interac card of the sale (the one picked above).
      state.pos.terminal.setSimulatorConfiguration({ testCardNumber: state.card });
      ui.refundStatus.textContent = 'Present the Interac card on the reader…';
      const { readerRefund } = await state.pos.refundOnReader({ paymentId: sale.paymentId, amount });
      showRefund(readerRefund);
    } else if (state.counter) {
      let { readerRefund } = await state.pos.refundOnReader({ paymentId: sale.paymentId, amount, readerId: state.counter.reader });
      showRefund(readerRefund);
      await refreshReaderScreen();
      const deadline = Date.now() + 60_000;
      while (readerRefund.status === 'pending' && Date.now() < deadline) {
        await new Promise((resolve) => { setTimeout(resolve, 500); });
        readerRefund = await state.pos.getReaderRefund(readerRefund.id);
        await refreshReaderScreen();
      }
      showRefund(readerRefund);
    } else {
      ui.refundStatus.textContent = 'No smart reader at the counter: card refunds go through POST /v1/payment/refund.';
    }
    await showReceipt(sale.paymentId);
  } catch (err) {
    ui.refund.dataset.status = 'error';
    ui.refundStatus.textContent = `${err.message}${err.code ? ` (${err.code})` : ''}`;
  } finally {
    state.busy = false;
    ui.refundOnReader.disabled = false;
    await refreshReaderScreen();
  }
}

// ---- an open tab: authorised with incremental support, raised as it grows, captured at closing

function openTab() {
  return charge({ tab: true });
}

/** Raises the tab's authorisation to the cart's total (the new TOTAL, not the difference). */
async function raiseTab() {
  const tab = state.tab;
  const total = amountString();
  if (!tab || state.busy || minor(total) <= minor(tab.authorised)) return true;
  state.busy = true;
  renderButtons();
  try {
    const payment = await state.pos.incrementAuthorization(tab.paymentId, total);
    tab.authorised = payment.amount ?? total;
    showMessage('info', `<strong>Tab raised</strong> to ${esc(money(tab.authorised))}.`);
    return true;
  } catch (err) {
    const declined = err.kind === 'declined';
    showMessage(declined ? 'declined' : 'error', `<strong>${declined ? 'Increase declined' : 'Could not raise the tab'}.</strong>
      ${esc(err.message)} The tab stays at ${esc(money(tab.authorised))}.`);
    return false;
  } finally {
    state.busy = false;
    renderButtons();
  }
}

/** Closes the tab: raises it to the cart's total if needed, then captures. */
async function closeTab() {
  const tab = state.tab;
  if (!tab || state.busy) return;
  if (!(await raiseTab())) return;
  state.busy = true;
  renderButtons();
  try {
    const payment = await state.pos.capturePayment(tab.paymentId);
    state.tab = null;
    state.approved = true;
    hideMessage();
    await showResult({ payment, card: null, cardError: null, cardPresent: tab.cardPresent });
    await finishOnReader();
    document.body.dataset.sale = 'approved';
  } catch (err) {
    showMessage('error', `<strong>Could not close the tab.</strong> ${esc(err.message)} Try again.`);
  } finally {
    state.busy = false;
    renderButtons();
  }
}

function newSale() {
  state.sale = null;
  state.cents = '';
  state.pending = null;
  state.approved = false;
  state.screen = null;
  if (state.items.length) {
    state.items = [];
    void syncReaderCart();
  }
  renderCart();
  renderReaderScreen();
  ui.result.hidden = true;
  ui.receipt.hidden = true;
  ui.saleId.textContent = '—';
  hideMessage();
  resetSteps();
  delete document.body.dataset.sale;
  renderAmount();
}

// ---- input -----------------------------------------------------------------------------------

function press(key) {
  if (state.busy || state.pending?.locked || state.tab) return;
  if (state.approved) newSale();
  if (state.items.length) {
    // Typing an amount replaces the cart (and clears it from the reader).
    state.items = [];
    renderCart();
    void syncReaderCart();
  }
  if (key === 'clear') state.cents = '';
  else if (key === 'back') state.cents = state.cents.slice(0, -1);
  else if (/^\d$/.test(key) && state.cents.length < 8) state.cents = `${state.cents}${key}`.replace(/^0+/, '');
  state.pending = null;
  renderAmount();
}

ui.keypad.addEventListener('click', (e) => {
  const key = e.target.closest('button')?.dataset.key;
  if (key) press(key);
});
document.addEventListener('keydown', (e) => {
  if (e.target instanceof HTMLInputElement && e.target.type === 'text') return;
  if (/^\d$/.test(e.key)) press(e.key);
  else if (e.key === 'Backspace') press('back');
  else if (e.key === 'Escape') state.busy ? void state.pos?.cancel() : press('clear');
  else if (e.key === 'Enter') void charge();
});
let customerTimer;
ui.customer.addEventListener('input', () => {
  state.pending = null;
  renderButtons();
  clearTimeout(customerTimer);
  customerTimer = setTimeout(refreshSavedCards, 300);
});
ui.charge.addEventListener('click', () => void charge());
ui.saveOnReader.addEventListener('click', () => void saveCardWithoutSale());
ui.check.addEventListener('click', () => void checkPayment());
ui.cancel.addEventListener('click', async () => {
  ui.cancel.disabled = true;
  const cancelled = await state.pos.cancel();
  ui.cancel.disabled = false;
  if (!cancelled) showMessage('warning', 'Too late to cancel: the card is being processed.');
});
ui.newSale.addEventListener('click', newSale);
ui.refundOnReader.addEventListener('click', () => void refundOnReader());
ui.openTab.addEventListener('click', () => void openTab());
ui.tabRaise.addEventListener('click', () => void raiseTab());
ui.tabClose.addEventListener('click', () => void closeTab());
ui.printReceipt.addEventListener('click', () => ui.receiptFrame.contentWindow?.print());

// ---- start -----------------------------------------------------------------------------------

function setReader(stateName, text) {
  ui.reader.dataset.state = stateName;
  ui.readerLabel.textContent = text;
}

async function connectReader() {
  setReader('connecting', 'Connecting to reader…');
  try {
    const reader = await state.pos.connect({ simulated: true });
    setReader('connected', reader.label ?? reader.id);
    state.ready = true;
  } catch (err) {
    state.ready = false;
    setReader('error', `Reader unavailable: ${err.message}`);
  }
  renderButtons();
}

async function start() {
  renderCards();
  renderMenu();
  renderCart();
  renderAmount();
  resetSteps();
  renderReaderScreen();
  try {
    const { external_account_id, stripe_api_base, counter } = await fetchSession();
    state.account = external_account_id;
    state.counter = counter ?? null;
    state.stripeApiBase = stripe_api_base ?? '/sim/stripe';
    ui.readerScreenId.textContent = counter ? counter.reader : 'no smart reader: no cart, no tipping';
    ui.tipHint.textContent = counter ? '' : 'needs the counter';
    // ?process_timeout_ms=500 tries the slow-reader path (with posDemo.state.pos.terminal.simulateFault).
    const processTimeoutMs = Number(new URLSearchParams(location.search).get('process_timeout_ms')) || undefined;
    state.pos = createPosTerminal({
      backendUrl: location.origin,
      processTimeoutMs,
      getAuthToken,
      externalAccountId: external_account_id,
      // Connection tokens for the counter's location: its readers show the tipping screen.
      location: counter?.location,
      terminal: createSimulatedStripeTerminal({
        backendUrl: location.origin,
        stripeApiBase: stripe_api_base ?? '/sim/stripe',
        readerDelayMs: 700,
        onTipScreen,
      }),
      onUnexpectedReaderDisconnect: () => {
        state.ready = false;
        setReader('error', 'Reader disconnected');
        void connectReader();
      },
    });
    await connectReader();
    await refreshReaderScreen();
    if (counter) void watchReader(counter.reader);
  } catch (err) {
    setReader('error', `Cannot start: ${err.message}`);
  }
}

// ---- the counter reader's status (GET reader, then the events long poll) --------------------

/** Describes an action of the reader events endpoint for the panel. */
function describeAction(action) {
  if (!action) return 'none';
  const what = action.type.replaceAll('_', ' ');
  const card = action.card ? ` · ${action.card.brand ?? 'card'} •••• ${action.card.last4 ?? '????'}` : '';
  const failure = action.failure_code ? ` (${action.failure_code}: ${action.failure_message ?? ''})` : '';
  return `${what}: ${action.status.replaceAll('_', ' ')}${card}${failure}`;
}

/** Online/offline and last seen, as Stripe has the reader now. */
async function refreshReaderStatus(readerId) {
  const reader = await state.pos.getReader(readerId);
  const status = reader.status ?? 'unknown';
  document.getElementById('reader-state').dataset.status = status;
  document.getElementById('reader-state-status').textContent = status;
  document.getElementById('reader-state-seen').textContent = reader.last_seen_at
    ? new Date(reader.last_seen_at).toLocaleTimeString() : 'never';
}

/**
 * Keeps the reader panel current without polling the reader: each answer of the events long poll
 * (GET /v1/terminal/readers/{id}/events) shows the new action and refreshes the status.
 */
async function watchReader(readerId) {
  let after;
  for (;;) {
    try {
      await refreshReaderStatus(readerId);
      const answer = await state.pos.backend.readerEvents({
        reader_id: readerId, external_account_id: state.account, after, timeout: 25,
      });
      after = answer.version;
      const el = document.getElementById('reader-state-action');
      el.textContent = describeAction(answer.action);
      el.dataset.status = answer.action?.status ?? 'none';
    } catch (err) {
      document.getElementById('reader-state-status').textContent = `unknown (${err.message})`;
      await new Promise((resolve) => setTimeout(resolve, 5_000)); // back off before asking again
    }
  }
}

window.posDemo = { state, selectCard, newSale, checkPayment, refreshReaderScreen }; // handy from the console
void start();
