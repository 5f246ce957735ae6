// HTTP client for the pos-backend API (JSON, `Authorization: Bearer <JWT>`).
//
// Every call asks getAuthToken() for the token (we never cache it), has a timeout, and turns
// failures into PosTerminalError. Calls that the backend makes idempotent (intent by
// external_transaction_id, capture, save card, reads, cancel) are retried on network errors,
// timeouts and 429/502/503/504, with exponential backoff.

import { fromHttpError, fromNetworkFailure, PosTerminalError, ErrorKinds } from './errors.js';

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_RETRIES = 2;
const DEFAULT_RETRY_DELAY_MS = 300;

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function defaultFetch() {
  if (typeof globalThis.fetch !== 'function') {
    throw new PosTerminalError(ErrorKinds.INVALID_REQUEST, 'No fetch available: pass options.fetch', {
      code: 'no_fetch',
    });
  }
  // Bound: calling an unbound window.fetch throws "Illegal invocation" in browsers.
  return globalThis.fetch.bind(globalThis);
}

/** Removes undefined and null values (the backend rejects unknown fields, and nulls are noise). */
export function compact(obj) {
  const out = {};
  for (const [k, v] of Object.entries(obj)) if (v !== undefined && v !== null) out[k] = v;
  return out;
}

/** Joins a base URL ('' for same origin) and an absolute path. */
export function joinUrl(base, path) {
  const b = (base ?? '').replace(/\/+$/, '');
  return `${b}${path.startsWith('/') ? path : `/${path}`}`;
}

async function resolveToken(getAuthToken) {
  if (typeof getAuthToken === 'function') return await getAuthToken();
  return getAuthToken;
}

/**
 * @param {{backendUrl?: string, getAuthToken: (() => string|Promise<string>)|string,
 *          fetch?: typeof fetch, timeoutMs?: number, retries?: number, retryDelayMs?: number}} options
 */
export function createBackendClient(options) {
  const {
    backendUrl = '',
    getAuthToken,
    timeoutMs = DEFAULT_TIMEOUT_MS,
    retries = DEFAULT_RETRIES,
    retryDelayMs = DEFAULT_RETRY_DELAY_MS,
  } = options ?? {};
  if (getAuthToken === undefined || getAuthToken === null) {
    throw new PosTerminalError(ErrorKinds.INVALID_REQUEST, 'getAuthToken is required', { param: 'getAuthToken' });
  }
  const fetchFn = options.fetch ?? defaultFetch();

  async function once(method, path, body, context, asText = false, callTimeoutMs = timeoutMs, idempotencyKey = undefined) {
    const url = joinUrl(backendUrl, path);
    const token = await resolveToken(getAuthToken);
    const headers = { Accept: asText ? 'text/plain, text/html, application/json' : 'application/json' };
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (idempotencyKey) headers['Idempotency-Key'] = idempotencyKey;
    const controller = typeof AbortController === 'function' ? new AbortController() : null;
    let timedOut = false;
    const timer = controller && callTimeoutMs > 0
      ? setTimeout(() => { timedOut = true; controller.abort(); }, callTimeoutMs)
      : null;
    let res;
    let text;
    try {
      res = await fetchFn(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: controller?.signal,
      });
      text = await res.text();
    } catch (cause) {
      throw fromNetworkFailure(cause, { timedOut, url: `${method} ${path}` });
    } finally {
      if (timer) clearTimeout(timer);
    }
    if (asText && res.ok) return text;
    let json = null;
    if (text) {
      try { json = JSON.parse(text); } catch { json = null; }
    }
    if (!res.ok) throw fromHttpError(res.status, json, context);
    if (json === null) {
      throw new PosTerminalError(ErrorKinds.BACKEND, `${method} ${path}: response is not JSON`, {
        status: res.status,
        code: 'invalid_response',
        ...context,
      });
    }
    return json;
  }

  /**
   * @param {string} method
   * @param {string} path
   * @param {object} [body]
   * @param {{retry?: boolean, paymentIntentId?: string, text?: boolean, timeoutMs?: number, idempotencyKey?: string}} [opts]
   *   text: resolve the response body as a string (errors are still the JSON error envelope);
   *   timeoutMs: this call's own timeout (a long poll); idempotencyKey: sent as Idempotency-Key, the
   *   same on every retry
   */
  async function request(method, path, body, opts = {}) {
    const retry = opts.retry ?? true;
    const context = opts.paymentIntentId ? { paymentIntentId: opts.paymentIntentId } : {};
    for (let attempt = 0; ; attempt++) {
      try {
        return await once(method, path, body, context, opts.text === true, opts.timeoutMs ?? timeoutMs, opts.idempotencyKey);
      } catch (err) {
        const canRetry = retry && err instanceof PosTerminalError && err.retryable && attempt < retries;
        if (!canRetry) throw err;
        await sleep(retryDelayMs * 2 ** attempt);
      }
    }
  }

  const enc = encodeURIComponent;

  return {
    request,

    /** POST /v1/terminal/connection_token → the secret (a fresh token every call). */
    async connectionToken({ external_account_id, location } = {}) {
      const res = await request('POST', '/v1/terminal/connection_token', compact({ external_account_id, location }));
      if (!res || typeof res.secret !== 'string' || !res.secret) {
        throw new PosTerminalError(ErrorKinds.BACKEND, 'Connection token response has no secret', {
          code: 'invalid_response',
        });
      }
      return res.secret;
    },

    /** POST /v1/payment/intent (idempotent by external_transaction_id). */
    createIntent({ external_account_id, amount, currency, external_transaction_id, external_customer_id,
      payment_method_types = 'card_present', capture_method = 'manual', description, metadata,
      request_incremental_authorization_support }) {
      return request('POST', '/v1/payment/intent', compact({
        external_account_id,
        amount,
        currency,
        payment_method_types,
        capture_method,
        external_transaction_id,
        external_customer_id,
        description,
        metadata,
        // Sent only when asked for: an open tab (incrementAuthorization later).
        request_incremental_authorization_support: request_incremental_authorization_support || undefined,
      }));
    },

    /**
     * POST /v1/payment/increment: raises an authorised (requires_capture) payment to `amount`, the
     * NEW TOTAL (not the difference). Not retried: every attempt counts against Stripe's limit, and
     * after a lost answer getPayment tells whether the total was raised.
     */
    incrementAuthorization({ payment_id, amount, external_account_id }) {
      return request('POST', '/v1/payment/increment', compact({ payment_id, amount, external_account_id }), {
        paymentIntentId: payment_id, retry: false,
      });
    },

    /**
     * GET /v1/payment/{id}/receipt: `format` 'json' (default) resolves the receipt object, 'text'
     * (80 mm printer) and 'html' (a printable page) resolve a string.
     */
    getReceipt({ payment_id, external_account_id, format = 'json' }) {
      if (!['json', 'text', 'html'].includes(format)) {
        return Promise.reject(new PosTerminalError(ErrorKinds.INVALID_REQUEST, "format must be 'json', 'text' or 'html'", {
          param: 'format',
        }));
      }
      const query = `external_account_id=${enc(external_account_id)}${format === 'json' ? '' : `&format=${format}`}`;
      return request('GET', `/v1/payment/${enc(payment_id)}/receipt?${query}`, undefined, {
        paymentIntentId: payment_id, text: format !== 'json',
      });
    },

    /**
     * POST /v1/terminal/readers/{id}/display: shows a cart on a smart reader. `line_items[].amount`
     * is the unit price and `total` must be the lines (amount × quantity) plus `tax`, exactly
     * (decimal major units, like every amount here).
     */
    displayCart({ reader_id, external_account_id, currency, line_items, tax, total }) {
      return request('POST', `/v1/terminal/readers/${enc(reader_id)}/display`, compact({
        external_account_id,
        currency,
        line_items: Array.isArray(line_items)
          ? line_items.map(({ description, amount, quantity = 1 }) => ({ description, amount, quantity }))
          : line_items,
        tax,
        total,
      }));
    },

    /** POST /v1/terminal/readers/{id}/cancel: clears the cart (or stops the reader's payment action). */
    cancelReaderAction({ reader_id, external_account_id }) {
      return request('POST', `/v1/terminal/readers/${enc(reader_id)}/cancel`, compact({ external_account_id }));
    },

    /**
     * POST /v1/terminal/readers/{id}/process (server-driven): the reader collects and processes
     * the payment. Not retried: a second request while the reader is busy is refused.
     */
    processOnReader({ reader_id, external_account_id, payment_id, allow_redisplay, skip_tipping, tip_eligible_amount }) {
      return request('POST', `/v1/terminal/readers/${enc(reader_id)}/process`, compact({
        external_account_id,
        payment_id,
        allow_redisplay,
        skip_tipping,
        tip_eligible_amount,
      }), { paymentIntentId: payment_id, retry: false });
    },

    /**
     * POST /v1/terminal/readers/{id}/collect (server-driven): the reader only reads the card; it
     * then shows in the reader's action (`action.card`) until confirmOnReader. Not retried.
     */
    collectOnReader({ reader_id, external_account_id, payment_id, allow_redisplay, skip_tipping, tip_eligible_amount }) {
      return request('POST', `/v1/terminal/readers/${enc(reader_id)}/collect`, compact({
        external_account_id, payment_id, allow_redisplay, skip_tipping, tip_eligible_amount,
      }), { retry: false, paymentIntentId: payment_id });
    },

    /** POST /v1/terminal/readers/{id}/confirm: the reader confirms the card it collected. Not retried. */
    confirmOnReader({ reader_id, external_account_id, payment_id }) {
      return request('POST', `/v1/terminal/readers/${enc(reader_id)}/confirm`, compact({
        external_account_id, payment_id,
      }), { retry: false, paymentIntentId: payment_id });
    },

    /**
     * GET /v1/terminal/readers/{id}/events: a long poll answering as soon as the reader's action
     * changes past `after` (the `version` of the previous answer), or after `timeout` seconds
     * (0 to 30) with `changed: false`. The request may take that long: its own timeout is longer.
     */
    readerEvents({ reader_id, external_account_id, after, timeout }) {
      const query = new URLSearchParams(compact({ external_account_id, after, timeout }));
      return request('GET', `/v1/terminal/readers/${enc(reader_id)}/events?${query}`, undefined, {
        timeoutMs: ((timeout ?? 25) + 10) * 1000,
      });
    },

    /**
     * POST /v1/payment/refund/reader: a refund in person. With `reader_id` the reader asks for the
     * card itself; without it the answer's `sdk` ({charge_id, amount, currency}) is for the SDK's
     * collectRefundPaymentMethod. Retried under one Idempotency-Key (one reader refund).
     */
    refundOnReader({ payment_id, external_account_id, amount, reader_id, idempotency_key }) {
      return request('POST', '/v1/payment/refund/reader', compact({ payment_id, external_account_id, amount, reader_id }), {
        paymentIntentId: payment_id, idempotencyKey: idempotency_key, retry: Boolean(idempotency_key),
      });
    },

    /** GET /v1/payment/refund/reader/{id}: the reader refund, its outcome read from Stripe while pending. */
    getReaderRefund({ id, external_account_id }) {
      return request('GET', `/v1/payment/refund/reader/${enc(id)}?external_account_id=${enc(external_account_id)}`);
    },

    /** GET /v1/terminal/readers/{id}: the reader with its current action. */
    getReader({ reader_id, external_account_id }) {
      return request('GET', `/v1/terminal/readers/${enc(reader_id)}?external_account_id=${enc(external_account_id)}`);
    },

    /** POST /v1/payment/capture (full when amount is omitted; repeating returns the same result). */
    capture({ payment_id, amount, external_account_id }) {
      return request('POST', '/v1/payment/capture', compact({ payment_id, amount, external_account_id }), {
        paymentIntentId: payment_id,
      });
    },

    /** POST /v1/customer/card: saves the card used for a captured payment. */
    saveCard({ payment_id, external_customer_id, external_account_id }) {
      return request('POST', '/v1/customer/card', compact({ payment_id, external_customer_id, external_account_id }), {
        paymentIntentId: payment_id,
      });
    },

    /** GET /v1/payment/{id}: our record with Stripe's current status. */
    getPayment({ payment_id, external_account_id }) {
      return request('GET', `/v1/payment/${enc(payment_id)}?external_account_id=${enc(external_account_id)}`, undefined, {
        paymentIntentId: payment_id,
      });
    },

    /** POST /v1/payment/cancel. */
    cancelPayment({ payment_id, external_account_id }) {
      return request('POST', '/v1/payment/cancel', compact({ payment_id, external_account_id }), {
        paymentIntentId: payment_id,
      });
    },

    /**
     * POST /v1/customer/card/reader: save a card without a sale. With reader_id the smart reader
     * reads the card; without, the answer's client_secret is for the Terminal SDK.
     */
    startReaderSetup({ external_account_id, external_customer_id, reader_id, allow_redisplay }) {
      return request('POST', '/v1/customer/card/reader', compact({
        external_account_id, external_customer_id, reader_id, allow_redisplay,
      }));
    },

    /** GET /v1/customer/card/reader/{setup_id}: the setup as Stripe has it now. */
    getReaderSetup({ setup_id, external_account_id }) {
      return request('GET', `/v1/customer/card/reader/${enc(setup_id)}?external_account_id=${enc(external_account_id)}`);
    },

    /** POST /v1/customer/card/reader/{setup_id}/cancel. */
    cancelReaderSetup({ setup_id, external_account_id }) {
      return request('POST', `/v1/customer/card/reader/${enc(setup_id)}/cancel`, compact({ external_account_id }));
    },

    /** GET /v1/customer/cards → the array of saved cards. */
    async listCards({ external_account_id, external_customer_id }) {
      const res = await request(
        'GET',
        `/v1/customer/cards?external_account_id=${enc(external_account_id)}&external_customer_id=${enc(external_customer_id)}`,
      );
      return Array.isArray(res?.data) ? res.data : [];
    },
  };
}
