// Demo POS page: pos-backend in simulator mode serves it at /pos. It takes a card-present payment
// end to end with terminal-js: /pos/token → createSimulatedStripeTerminal → createPosTerminal →
// charge() (intent → collect → process → capture → save card).
import { createPosTerminal } from '/pos/lib/index.js';
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
  newSale: $('new-sale'),
  savedCards: $('saved-cards'),
  cardsOwner: $('cards-owner'),
  saleId: $('sale-id'),
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
};

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

const amountString = () => {
  const cents = Number(state.cents || '0');
  return `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, '0')}`;
};

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
  const amountOk = Number(state.cents || '0') > 0;
  ui.charge.disabled = !state.ready || state.busy || state.checking || !amountOk || state.approved;
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
  ui.keypad.querySelectorAll('button').forEach((b) => { b.disabled = locked; });
  ui.customer.disabled = locked;
  const hasCustomer = ui.customer.value.trim() !== '';
  ui.saveCard.disabled = locked || !hasCustomer;
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
    grid.append(...TEST_CARDS.filter((c) => c.outcome === outcome).map(cardOption));
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

async function charge() {
  if (state.busy || !state.ready) return;
  const amount = amountString();
  const customer = ui.customer.value.trim() || undefined;
  const saveCard = Boolean(customer && ui.saveCard.checked);
  const sameSale = state.pending && state.pending.amount === amount && state.pending.customer === customer;
  const external_transaction_id = sameSale ? state.pending.external_transaction_id : newTransactionId();
  state.pending = { external_transaction_id, amount, customer };
  ui.saleId.textContent = external_transaction_id;

  state.busy = true;
  ui.result.hidden = true;
  hideMessage();
  resetSteps({ saveCard });
  renderButtons();
  // The card the simulated customer taps (the SDK's own simulator API).
  state.pos.terminal.setSimulatorConfiguration({ testCardNumber: state.card });
  document.body.dataset.sale = 'running';

  try {
    const result = await state.pos.charge({
      amount,
      external_transaction_id,
      external_customer_id: customer,
      saveCard,
      onStep: ({ step }) => {
        showStep(step);
        if (step === 'collect') showMessage('info', 'Waiting for the customer to tap, insert or swipe…');
        if (step === 'process') showMessage('info', 'Authorising…');
        if (step === 'verify') showMessage('warning', 'No clear answer from the reader — checking the payment with the backend…');
        if (step === 'capture' || step === 'save_card') hideMessage();
      },
    });
    state.pending = null;
    state.approved = true;
    showResult(result);
    document.body.dataset.sale = 'approved';
    await refreshSavedCards();
  } catch (err) {
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

function showResult(result) {
  const { payment, card, cardError, cardPresent } = result;
  ui.resultAmount.textContent = money(payment.amount_captured ?? payment.amount, payment.currency);
  ui.resultPaymentId.textContent = payment.id;
  const shown = card ?? cardPresent;
  ui.resultCard.textContent = shown ? `${cardText(shown)}${cardPresent?.wallet ? ' (wallet)' : ''}` : '—';
  if (card) ui.resultSaved.textContent = `Saved for ${card.external_customer_id}`;
  else if (cardError) ui.resultSaved.textContent = `Not saved — ${cardError.code === 'card_not_saveable' ? 'this card cannot be saved (wallet)' : cardError.message}`;
  else ui.resultSaved.textContent = 'Not requested';
  ui.result.dataset.saved = card ? 'yes' : 'no';
  ui.result.hidden = false;
}

function newSale() {
  state.cents = '';
  state.pending = null;
  state.approved = false;
  ui.result.hidden = true;
  ui.saleId.textContent = '—';
  hideMessage();
  resetSteps();
  delete document.body.dataset.sale;
  renderAmount();
}

// ---- input -----------------------------------------------------------------------------------

function press(key) {
  if (state.busy || state.pending?.locked) return;
  if (state.approved) newSale();
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
ui.check.addEventListener('click', () => void checkPayment());
ui.cancel.addEventListener('click', async () => {
  ui.cancel.disabled = true;
  const cancelled = await state.pos.cancel();
  ui.cancel.disabled = false;
  if (!cancelled) showMessage('warning', 'Too late to cancel: the card is being processed.');
});
ui.newSale.addEventListener('click', newSale);

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
  renderAmount();
  resetSteps();
  try {
    const { external_account_id, stripe_api_base } = await fetchSession();
    state.account = external_account_id;
    // ?process_timeout_ms=500 tries the slow-reader path (with posDemo.state.pos.terminal.simulateFault).
    const processTimeoutMs = Number(new URLSearchParams(location.search).get('process_timeout_ms')) || undefined;
    state.pos = createPosTerminal({
      backendUrl: location.origin,
      processTimeoutMs,
      getAuthToken,
      externalAccountId: external_account_id,
      terminal: createSimulatedStripeTerminal({
        backendUrl: location.origin,
        stripeApiBase: stripe_api_base ?? '/sim/stripe',
        readerDelayMs: 700,
      }),
      onUnexpectedReaderDisconnect: () => {
        state.ready = false;
        setReader('error', 'Reader disconnected');
        void connectReader();
      },
    });
    await connectReader();
  } catch (err) {
    setReader('error', `Cannot start: ${err.message}`);
  }
}

window.posDemo = { state, selectCard, newSale, checkPayment }; // handy from the console
void start();
