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

  async function once(method, path, body, context) {
    const url = joinUrl(backendUrl, path);
    const token = await resolveToken(getAuthToken);
    const headers = { Accept: 'application/json' };
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const controller = typeof AbortController === 'function' ? new AbortController() : null;
    let timedOut = false;
    const timer = controller && timeoutMs > 0
      ? setTimeout(() => { timedOut = true; controller.abort(); }, timeoutMs)
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
   * @param {{retry?: boolean, paymentIntentId?: string}} [opts]
   */
  async function request(method, path, body, opts = {}) {
    const retry = opts.retry ?? true;
    const context = opts.paymentIntentId ? { paymentIntentId: opts.paymentIntentId } : {};
    for (let attempt = 0; ; attempt++) {
      try {
        return await once(method, path, body, context);
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
      payment_method_types = 'card_present', capture_method = 'manual', description, metadata }) {
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
      }));
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
