// A small, stateful stand-in for pos-backend in simulator mode, for terminal-js's own tests and
// for working on the demo page without the Rust backend:
//
//   /v1/*                 the JSON contract terminal-js codes against (auth, validation, idempotency,
//                         state machine, 4xx/5xx error envelopes)
//   /sim/stripe/_sim/*    the terminal endpoints of the Stripe simulator (sessions, collect, process,
//                         cancel_collect) acting on the same PaymentIntents
//   /pos, /pos/lib, /pos/demo, /pos/token   the demo routes
//
// It is NOT the backend: the real one is tested by test/integration.test.js and test/browser.test.js.
//
// Run standalone: node test/support/fake-backend.js [--port 8080]

import http from 'node:http';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import crypto from 'node:crypto';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export const FAKE_TOKEN = 'test-jwt';
export const FAKE_ACCOUNT = 'acct-test';
export const DEMO_ACCOUNT = 'demo-merchant';

const EXPONENTS = { usd: 2, eur: 2, gbp: 2, cad: 2, jpy: 0, kwd: 3 };

const CARDS = {
  '4242424242424242': { brand: 'visa', last4: '4242' },
  '5555555555554444': { brand: 'mastercard', last4: '4444' },
  '4111111111111111': { brand: 'visa', last4: '1111', wallet: true },
  '4000000000000002': { brand: 'visa', last4: '0002', decline: { code: 'card_declined', decline_code: 'generic_decline' } },
  '4000000000009995': { brand: 'visa', last4: '9995', decline: { code: 'card_declined', decline_code: 'insufficient_funds' } },
  '4000000000000069': { brand: 'visa', last4: '0069', decline: { code: 'expired_card', decline_code: 'expired_card' } },
  '4000000000000119': { brand: 'visa', last4: '0119', decline: { code: 'processing_error', decline_code: 'processing_error' } },
};

const rid = (prefix) => `${prefix}_${crypto.randomBytes(9).toString('hex')}`;

class HttpError extends Error {
  constructor(status, type, code, message, extra = {}) {
    super(message);
    this.status = status;
    this.body = { error: { type, code, message, ...extra } };
  }
}
const invalid = (param, message) => new HttpError(400, 'invalid_request_error', 'parameter_invalid', message, { param });
const conflict = (code, message, extra) => new HttpError(409, 'invalid_request_error', code, message, extra);

function parseAmount(value, currency) {
  const exp = EXPONENTS[currency];
  if (exp === undefined) throw invalid('currency', `Unknown currency ${currency}`);
  let s;
  if (typeof value === 'number') s = String(value);
  else if (typeof value === 'string') s = value;
  else throw invalid('amount', 'amount must be a number or a string');
  const m = /^(\d+)(?:\.(\d+))?$/.exec(s);
  if (!m) throw invalid('amount', `amount ${s} is not a plain decimal`);
  const frac = m[2] ?? '';
  if (frac.length > exp) throw invalid('amount', `amount has more than ${exp} decimals for ${currency}`);
  const minor = Number(m[1]) * 10 ** exp + Number((frac + '0'.repeat(exp)).slice(0, exp) || 0);
  if (minor <= 0) throw invalid('amount', 'amount must be positive');
  if (minor > 99_999_999) throw invalid('amount', 'amount is over the maximum');
  return minor;
}

function formatAmount(minor, currency) {
  const exp = EXPONENTS[currency] ?? 2;
  if (exp === 0) return String(minor);
  const s = String(minor).padStart(exp + 1, '0');
  return `${s.slice(0, -exp)}.${s.slice(-exp)}`;
}

function checkFields(body, allowed, required) {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw invalid(null, 'Body must be a JSON object');
  for (const k of Object.keys(body)) if (!allowed.includes(k)) throw invalid(k, `Unknown field ${k}`);
  for (const k of required) {
    if (body[k] === undefined || body[k] === null || body[k] === '') throw invalid(k, `Missing ${k}`);
  }
}

/**
 * @param {{port?: number, host?: string, readerDelayMs?: number}} [options]
 */
export async function startFakeBackend(options = {}) {
  const state = {
    tokens: new Map([[FAKE_TOKEN, { accounts: [FAKE_ACCOUNT, DEMO_ACCOUNT] }]]),
    connectionTokens: new Map(), // secret → {account, redeemed}
    sessions: new Map(), // tss → {account}
    intents: new Map(), // pi id → intent
    byTransaction: new Map(), // account|txn → pi id
    customers: new Map(), // account|external_customer_id → cus id
    cards: [], // saved cards
    connectionTokenCalls: 0,
    collects: [], // {payment_id, card_number, allow_redisplay}
    readerRefunds: new Map(), // rrf id → reader refund (see 'POST /v1/payment/refund/reader')
    readerRefundKeys: new Map(), // account|Idempotency-Key → rrf id
  };
  const requests = [];
  const faults = [];

  /**
   * Makes the next matching requests fail: match is "METHOD /path-prefix".
   * {status, code?, times?, after?} — after: true runs the operation first, then fails (lost answer).
   */
  function failNext(match, { status = 503, code = 'stripe_unavailable', times = 1, after = false, hang = false } = {}) {
    faults.push({ match, status, code, times, after, hang });
  }
  function takeFault(method, pathname) {
    const key = `${method} ${pathname}`;
    const f = faults.find((x) => x.times > 0 && key.startsWith(x.match));
    if (!f) return null;
    f.times -= 1;
    return f;
  }

  function auth(req, account) {
    const h = req.headers.authorization ?? '';
    const m = /^Bearer (.+)$/.exec(h);
    const principal = m && state.tokens.get(m[1]);
    if (!principal) throw new HttpError(401, 'authentication_error', 'unauthorized', 'Missing or invalid token');
    if (account !== undefined && !principal.accounts.includes(account)) {
      throw new HttpError(403, 'permission_error', 'account_not_allowed', 'This token may not act for that account');
    }
  }

  function findIntent(id, account) {
    const pi = state.intents.get(id);
    if (!pi || pi.external_account_id !== account) {
      throw new HttpError(404, 'invalid_request_error', 'resource_missing', `No payment ${id}`, { param: 'payment_id' });
    }
    return pi;
  }

  const record = (pi) => ({
    id: pi.id,
    status: pi.status,
    amount: formatAmount(pi.amount, pi.currency),
    amount_captured: formatAmount(pi.amount_captured, pi.currency),
    currency: pi.currency,
    capture_method: pi.capture_method,
    external_account_id: pi.external_account_id,
    external_transaction_id: pi.external_transaction_id,
    external_customer_id: pi.external_customer_id ?? null,
    customer_id: pi.customer ?? null,
    created_at: pi.created_at,
  });

  const stripeIntent = (pi) => ({
    id: pi.id,
    object: 'payment_intent',
    amount: pi.amount,
    amount_capturable: pi.status === 'requires_capture' ? pi.amount : 0,
    amount_received: pi.amount_captured,
    capture_method: pi.capture_method,
    client_secret: pi.client_secret,
    currency: pi.currency,
    customer: pi.customer ?? null,
    last_payment_error: pi.last_payment_error ?? null,
    latest_charge: pi.charge?.id ?? null,
    livemode: false,
    metadata: {
      external_account_id: pi.external_account_id,
      external_transaction_id: pi.external_transaction_id,
      ...(pi.external_customer_id ? { external_customer_id: pi.external_customer_id } : {}),
    },
    payment_method: pi.payment_method ?? null,
    payment_method_types: ['card_present'],
    setup_future_usage: pi.customer ? 'off_session' : null,
    status: pi.status,
  });

  const stripeError = (status, type, code, message, extra = {}) => new HttpError(status, type, code, message, extra);

  function sessionIntent(body) {
    const s = state.sessions.get(body.session);
    if (!s) throw stripeError(401, 'invalid_request_error', 'session_invalid', 'Unknown terminal session');
    const id = typeof body.client_secret === 'string' ? body.client_secret.split('_secret_')[0] : '';
    const pi = state.intents.get(id);
    if (!pi || pi.client_secret !== body.client_secret || pi.external_account_id !== s.account) {
      throw stripeError(404, 'invalid_request_error', 'resource_missing', 'No such payment_intent', { param: 'client_secret' });
    }
    return pi;
  }

  /** A reader refund as the backend answers it. */
  const readerRefund = (r) => {
    const pi = state.intents.get(r.payment_id);
    return {
      id: r.id,
      object: 'reader_refund',
      payment_id: r.payment_id,
      mode: r.reader_id ? 'server_driven' : 'sdk',
      reader_id: r.reader_id ?? null,
      status: r.status,
      amount: formatAmount(r.amount, pi.currency),
      currency: pi.currency,
      stripe_refund_id: r.stripe_refund_id ?? null,
      failure_code: null,
      failure_message: null,
      sdk: r.reader_id ? null : { charge_id: pi.charge?.id ?? `ch_${pi.id}`, amount: r.amount, currency: pi.currency },
      created_at: r.created_at,
      payment: record(pi),
    };
  };

  const routes = {
    // ---- contract ----
    // Refunds on the reader: recorded pending; `completeReaderRefund` (a test's stand-in for
    // Stripe's events) records the outcome.
    'POST /v1/payment/refund/reader': (req, body) => {
      checkFields(body, ['payment_id', 'external_account_id', 'amount', 'reader_id'], ['payment_id', 'external_account_id']);
      auth(req, body.external_account_id);
      const key = req.headers['idempotency-key'];
      const known = key && state.readerRefundKeys.get(`${body.external_account_id}|${key}`);
      if (known) return readerRefund(state.readerRefunds.get(known));
      const pi = findIntent(body.payment_id, body.external_account_id);
      if (pi.status !== 'succeeded') throw conflict('payment_not_refundable', `Payment is ${pi.status}`, { status: pi.status });
      const amount = body.amount === undefined ? pi.amount_captured : parseAmount(body.amount, pi.currency);
      if (amount > pi.amount_captured) throw invalid('amount', 'amount exceeds what is left to refund');
      const r = { id: rid('rrf'), payment_id: pi.id, reader_id: body.reader_id ?? null, amount, status: 'pending',
        created_at: new Date().toISOString() };
      state.readerRefunds.set(r.id, r);
      if (key) state.readerRefundKeys.set(`${body.external_account_id}|${key}`, r.id);
      return readerRefund(r);
    },

    'GET /v1/payment/refund/reader/': (req, _body, url) => {
      const id = url.pathname.slice('/v1/payment/refund/reader/'.length);
      const account = url.searchParams.get('external_account_id');
      auth(req, account);
      const r = state.readerRefunds.get(id);
      if (!r || state.intents.get(r.payment_id).external_account_id !== account) {
        throw new HttpError(404, 'invalid_request_error', 'resource_missing', `No reader refund ${id}`);
      }
      return readerRefund(r);
    },

    'POST /v1/terminal/connection_token': (req, body) => {
      checkFields(body, ['external_account_id', 'location'], ['external_account_id']);
      auth(req, body.external_account_id);
      state.connectionTokenCalls += 1;
      const secret = rid('pst_test');
      state.connectionTokens.set(secret, { account: body.external_account_id, redeemed: false });
      return { secret };
    },

    'POST /v1/payment/intent': (req, body) => {
      checkFields(body, ['external_account_id', 'amount', 'currency', 'payment_method_types', 'capture_method',
        'external_transaction_id', 'external_customer_id', 'description', 'metadata'],
      ['external_account_id', 'amount', 'external_transaction_id']);
      auth(req, body.external_account_id);
      const currency = (body.currency ?? 'usd').toLowerCase();
      const amount = parseAmount(body.amount, currency);
      const capture_method = body.capture_method ?? 'manual';
      if (!['manual', 'automatic'].includes(capture_method)) throw invalid('capture_method', 'bad capture_method');
      const pmt = body.payment_method_types ?? 'card_present';
      if (pmt !== 'card_present' && !(Array.isArray(pmt) && pmt.includes('card_present'))) {
        throw invalid('payment_method_types', 'payment_method_types must include card_present');
      }
      const key = `${body.external_account_id}|${body.external_transaction_id}`;
      const existingId = state.byTransaction.get(key);
      if (existingId) {
        const pi = state.intents.get(existingId);
        if (pi.amount !== amount || pi.currency !== currency ||
            (pi.external_customer_id ?? null) !== (body.external_customer_id ?? null) ||
            pi.capture_method !== capture_method) {
          throw conflict('idempotency_conflict', 'external_transaction_id was used with other parameters',
            { param: 'external_transaction_id' });
        }
        return { ...record(pi), client_secret: pi.client_secret };
      }
      let customer = null;
      if (body.external_customer_id) {
        const ckey = `${body.external_account_id}|${body.external_customer_id}`;
        customer = state.customers.get(ckey) ?? rid('cus');
        state.customers.set(ckey, customer);
      }
      const id = rid('pi');
      const pi = {
        id,
        client_secret: `${id}_secret_${crypto.randomBytes(8).toString('hex')}`,
        status: 'requires_payment_method',
        amount,
        amount_captured: 0,
        currency,
        capture_method,
        external_account_id: body.external_account_id,
        external_transaction_id: body.external_transaction_id,
        external_customer_id: body.external_customer_id ?? null,
        customer,
        payment_method: null,
        charge: null,
        created_at: new Date().toISOString(),
      };
      state.intents.set(id, pi);
      state.byTransaction.set(key, id);
      return { ...record(pi), client_secret: pi.client_secret };
    },

    'POST /v1/payment/capture': (req, body) => {
      checkFields(body, ['payment_id', 'amount', 'external_account_id'], ['payment_id', 'external_account_id']);
      auth(req, body.external_account_id);
      const pi = findIntent(body.payment_id, body.external_account_id);
      if (pi.status === 'succeeded') return record(pi);
      if (pi.status !== 'requires_capture') {
        throw conflict('payment_not_capturable', `Payment is ${pi.status}, not requires_capture`, { status: pi.status });
      }
      const amount = body.amount === undefined ? pi.amount : parseAmount(body.amount, pi.currency);
      if (amount > pi.amount) throw invalid('amount', 'amount exceeds the authorised amount');
      pi.amount_captured = amount;
      pi.status = 'succeeded';
      return record(pi);
    },

    'POST /v1/customer/card': (req, body) => {
      checkFields(body, ['payment_id', 'external_customer_id', 'external_account_id'],
        ['payment_id', 'external_customer_id', 'external_account_id']);
      auth(req, body.external_account_id);
      const pi = findIntent(body.payment_id, body.external_account_id);
      if (pi.status !== 'succeeded') throw conflict('payment_not_captured', 'Capture the payment before saving its card');
      if (!pi.customer) throw conflict('card_not_saveable', 'The payment has no customer, so its card cannot be saved');
      if (pi.external_customer_id !== body.external_customer_id) {
        throw conflict('customer_mismatch', 'external_customer_id differs from the payment\'s');
      }
      const card = pi.charge?.card;
      if (!card || card.wallet) {
        throw conflict('card_not_saveable', 'This payment used a wallet (or no card): no reusable card was generated');
      }
      const existing = state.cards.find((c) => c.customer_id === pi.customer && c.fingerprint === card.fingerprint &&
        c.external_account_id === body.external_account_id);
      if (existing) return publicCard(existing);
      const saved = {
        id: crypto.randomUUID(),
        payment_method_id: rid('pm'),
        customer_id: pi.customer,
        external_customer_id: body.external_customer_id,
        external_account_id: body.external_account_id,
        brand: card.brand,
        last4: card.last4,
        exp_month: card.exp_month,
        exp_year: card.exp_year,
        fingerprint: card.fingerprint,
        created_at: new Date().toISOString(),
      };
      state.cards.push(saved);
      return publicCard(saved);
    },

    'POST /v1/payment/cancel': (req, body) => {
      checkFields(body, ['payment_id', 'external_account_id'], ['payment_id', 'external_account_id']);
      auth(req, body.external_account_id);
      const pi = findIntent(body.payment_id, body.external_account_id);
      if (pi.status === 'succeeded' || pi.status === 'processing') {
        throw conflict('payment_not_cancelable', `Payment is ${pi.status}`);
      }
      pi.status = 'canceled';
      return record(pi);
    },

    'GET /v1/payment/': (req, _body, url) => {
      const account = url.searchParams.get('external_account_id');
      if (!account) throw invalid('external_account_id', 'Missing external_account_id');
      auth(req, account);
      const id = decodeURIComponent(url.pathname.slice('/v1/payment/'.length));
      return record(findIntent(id, account));
    },

    'GET /v1/customer/cards': (req, _body, url) => {
      const account = url.searchParams.get('external_account_id');
      const customer = url.searchParams.get('external_customer_id');
      if (!account) throw invalid('external_account_id', 'Missing external_account_id');
      if (!customer) throw invalid('external_customer_id', 'Missing external_customer_id');
      auth(req, account);
      return {
        data: state.cards
          .filter((c) => c.external_account_id === account && c.external_customer_id === customer)
          .map(publicCard),
      };
    },

    // ---- demo ----
    'POST /pos/token': () => ({ token: FAKE_TOKEN, external_account_id: DEMO_ACCOUNT, stripe_api_base: '/sim/stripe' }),

    // ---- simulator terminal endpoints ----
    'POST /sim/stripe/_sim/terminal/sessions': (_req, body) => {
      const t = state.connectionTokens.get(body?.connection_token);
      if (!t) throw stripeError(401, 'invalid_request_error', 'invalid_connection_token', 'Unknown connection token');
      if (t.redeemed) {
        throw stripeError(400, 'invalid_request_error', 'connection_token_used', 'This connection token was already used');
      }
      t.redeemed = true;
      const session = rid('tss');
      state.sessions.set(session, { account: t.account });
      return { session };
    },

    'POST /sim/stripe/_sim/terminal/collect': (_req, body) => {
      const pi = sessionIntent(body);
      // Like pos-backend's simulator: a card already collected must be dropped (cancel_collect)
      // before another one is read.
      if (pi.status !== 'requires_payment_method') {
        throw stripeError(400, 'invalid_request_error', 'payment_intent_unexpected_state',
          `PaymentIntent is ${pi.status}`, { payment_intent: stripeIntent(pi) });
      }
      const number = body.card_number ?? '4242424242424242';
      const card = CARDS[number];
      if (!card) throw stripeError(400, 'card_error', 'invalid_number', 'Unknown test card', { param: 'card_number' });
      if (pi.customer && !body.allow_redisplay) {
        throw stripeError(400, 'invalid_request_error', 'parameter_missing',
          'allow_redisplay is required when setup_future_usage is set', { param: 'allow_redisplay' });
      }
      state.collects.push({ payment_id: pi.id, card_number: number, allow_redisplay: body.allow_redisplay ?? null });
      pi.card_number = number;
      pi.payment_method = {
        id: rid('pm'),
        object: 'payment_method',
        type: 'card_present',
        allow_redisplay: body.allow_redisplay ?? 'unspecified',
        card_present: {
          brand: card.brand,
          last4: card.last4,
          exp_month: 12,
          exp_year: 2034,
          fingerprint: `fp_${number}`,
          wallet: card.wallet ? { type: 'apple_pay' } : null,
        },
      };
      pi.status = 'requires_confirmation';
      return stripeIntent(pi);
    },

    'POST /sim/stripe/_sim/terminal/process': (_req, body) => {
      const pi = sessionIntent(body);
      if (pi.status !== 'requires_confirmation') {
        throw stripeError(400, 'invalid_request_error', 'payment_intent_unexpected_state',
          `PaymentIntent is ${pi.status}`, { payment_intent: stripeIntent(pi) });
      }
      const card = CARDS[pi.card_number];
      if (card.decline) {
        pi.status = 'requires_payment_method';
        pi.payment_method = null;
        pi.last_payment_error = { type: 'card_error', ...card.decline, message: 'Your card was declined.' };
        throw stripeError(402, 'card_error', card.decline.code, 'Your card was declined.', {
          decline_code: card.decline.decline_code,
          payment_intent: stripeIntent(pi),
        });
      }
      pi.charge = {
        id: rid('ch'),
        card: {
          brand: card.brand,
          last4: card.last4,
          exp_month: 12,
          exp_year: 2034,
          fingerprint: `fp_${pi.card_number}`,
          wallet: Boolean(card.wallet),
        },
      };
      pi.status = pi.capture_method === 'manual' ? 'requires_capture' : 'succeeded';
      if (pi.status === 'succeeded') pi.amount_captured = pi.amount;
      return stripeIntent(pi);
    },

    'POST /sim/stripe/_sim/terminal/cancel_collect': (_req, body) => {
      const pi = sessionIntent(body);
      if (!['requires_payment_method', 'requires_confirmation'].includes(pi.status)) {
        throw stripeError(400, 'invalid_request_error', 'payment_intent_unexpected_state',
          `PaymentIntent is ${pi.status}: there is no collected payment method to cancel`);
      }
      pi.status = 'requires_payment_method';
      pi.payment_method = null;
      return stripeIntent(pi);
    },
  };

  function publicCard(c) {
    const { fingerprint: _f, external_account_id: _a, ...rest } = c;
    return rest;
  }

  function route(method, pathname) {
    const exact = routes[`${method} ${pathname}`];
    if (exact) return exact;
    if (method === 'GET' && pathname.startsWith('/v1/payment/refund/reader/')) {
      return routes['GET /v1/payment/refund/reader/'];
    }
    if (method === 'GET' && pathname.startsWith('/v1/payment/') && pathname.length > '/v1/payment/'.length) {
      return routes['GET /v1/payment/'];
    }
    return null;
  }

  async function serveStatic(res, pathname) {
    let file = null;
    let type = 'text/plain';
    if (pathname === '/pos' || pathname === '/pos/') {
      file = path.join(ROOT, 'demo/index.html');
      type = 'text/html; charset=utf-8';
    } else if (/^\/pos\/lib\/[\w-]+\.js$/.test(pathname)) {
      file = path.join(ROOT, 'src', path.basename(pathname));
      type = 'text/javascript; charset=utf-8';
    } else if (/^\/pos\/demo\/[\w.-]+\.(js|css|svg)$/.test(pathname)) {
      file = path.join(ROOT, 'demo', path.basename(pathname));
      type = pathname.endsWith('.css') ? 'text/css; charset=utf-8'
        : pathname.endsWith('.svg') ? 'image/svg+xml' : 'text/javascript; charset=utf-8';
    }
    if (!file) return false;
    try {
      const data = await readFile(file);
      res.writeHead(200, { 'Content-Type': type, 'Cache-Control': 'no-store' });
      res.end(data);
    } catch {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('not found');
    }
    return true;
  }

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://localhost');
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const raw = Buffer.concat(chunks).toString('utf8');
    const send = (status, body) => {
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'GET' && (await serveStatic(res, url.pathname))) return;
    let body;
    if (raw) {
      try {
        body = JSON.parse(raw);
      } catch {
        return send(400, { error: { type: 'invalid_request_error', code: 'invalid_json', message: 'Body is not JSON' } });
      }
    }
    requests.push({ method: req.method, path: url.pathname, query: url.search, body: body ?? null,
      authorization: req.headers.authorization ?? null });
    const handler = route(req.method, url.pathname);
    if (!handler) return send(404, { error: { type: 'invalid_request_error', code: 'not_found', message: `No route ${req.method} ${url.pathname}` } });
    const fault = takeFault(req.method, url.pathname);
    if (fault && !fault.after) {
      if (fault.hang) return; // never answers: the client's timeout fires
      return send(fault.status, { error: { type: 'api_error', code: fault.code, message: `Injected fault ${fault.status}` } });
    }
    try {
      const out = handler(req, body, url);
      if (fault) {
        if (fault.hang) return;
        return send(fault.status, { error: { type: 'api_error', code: fault.code, message: `Injected fault ${fault.status} (after the operation)` } });
      }
      send(200, out);
    } catch (err) {
      if (fault) {
        if (fault.hang) return;
        return send(fault.status, { error: { type: 'api_error', code: fault.code, message: `Injected fault ${fault.status} (after the operation)` } });
      }
      if (err instanceof HttpError) return send(err.status, err.body);
      send(500, { error: { type: 'api_error', code: 'internal', message: String(err?.stack ?? err) } });
    }
  });

  const sockets = new Set();
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  await new Promise((resolve) => server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    state,
    requests,
    failNext,
    /** Records a reader refund's refund as Stripe's events would (`re_…`). */
    completeReaderRefund(id, stripeRefundId) {
      const r = state.readerRefunds.get(id);
      r.status = 'succeeded';
      r.stripe_refund_id = stripeRefundId;
    },
    /** Sets a payment's status directly (tests of states the flow cannot reach on its own). */
    setStatus(id, status) { state.intents.get(id).status = status; },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const i = process.argv.indexOf('--port');
  const port = i > 0 ? Number(process.argv[i + 1]) : 8080;
  const fake = await startFakeBackend({ port });
  console.log(`fake pos-backend (terminal-js tests only) on ${fake.url} — demo at ${fake.url}/pos`);
}
