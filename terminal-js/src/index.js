// terminal-js: card-present payments on Stripe Terminal against pos-backend.
//
//   const pos = createPosTerminal({ backendUrl, getAuthToken, externalAccountId, terminal: StripeTerminal });
//   await pos.connect({ simulated: true });
//   const { payment, card } = await pos.charge({ amount: '12.99', external_transaction_id, saveCard: true,
//                                              external_customer_id: 'customer_12345' });
//
// See README.md for the whole API and the recovery rules.

import { createBackendClient, sleep } from './backend.js';
import { toMinorUnits, cartTotal } from './money.js';
import {
  ErrorKinds,
  PosTerminalError,
  fromSdkError,
  normalizeError,
} from './errors.js';

export { createBackendClient } from './backend.js';
export {
  ErrorKinds,
  PosTerminalError,
  isPosTerminalError,
  fromSdkError,
  fromHttpError,
  normalizeError,
} from './errors.js';
export { createSimulatedTerminal, createSimulatedStripeTerminal, TEST_CARDS } from './simulated.js';
export { currencyExponent, toMinorUnits, fromMinorUnits, cartTotal } from './money.js';

/** The steps charge() reports through onStep, in order. */
export const ChargeSteps = Object.freeze({
  INTENT: 'intent',
  COLLECT: 'collect',
  PROCESS: 'process',
  DECLINED: 'declined',
  VERIFY: 'verify',
  CAPTURE: 'capture',
  SAVE_CARD: 'save_card',
  DONE: 'done',
  CANCELLED: 'cancelled',
});

// cancel() can stop a charge only before the card is processed.
/**
 * allow_redisplay for an intent that saves the card when the caller names none: the customer agreed
 * to have the card kept for the merchant's own later charges, not to see it offered again in online
 * checkouts (the backend's default too; docs/decisions.md, "allow_redisplay on the reader").
 */
const DEFAULT_ALLOW_REDISPLAY = 'limited';

const CANCELLABLE_PHASES = new Set([ChargeSteps.INTENT, ChargeSteps.COLLECT, ChargeSteps.DECLINED]);

/** A random suffix for Idempotency-Keys. */
function randomKey() {
  const c = globalThis.crypto;
  if (c && typeof c.randomUUID === 'function') return c.randomUUID();
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

/** `pi_123_secret_456` → `pi_123` (for error context; never logged). */
export function paymentIntentIdFromSecret(clientSecret) {
  if (typeof clientSecret !== 'string') return null;
  const i = clientSecret.indexOf('_secret_');
  return i > 0 ? clientSecret.slice(0, i) : null;
}

/**
 * A standalone onFetchConnectionToken: fetches a fresh token from the backend on every call.
 * Use it when you create the StripeTerminal instance yourself.
 */
export function createConnectionTokenFetcher({ backendUrl = '', getAuthToken, externalAccountId, location, fetch, backend } = {}) {
  const client = backend ?? createBackendClient({ backendUrl, getAuthToken, fetch });
  if (!externalAccountId) {
    throw new PosTerminalError(ErrorKinds.INVALID_REQUEST, 'externalAccountId is required for connection tokens', {
      param: 'externalAccountId',
    });
  }
  return () => client.connectionToken({ external_account_id: externalAccountId, location });
}

function isTerminalInstance(value) {
  return value && typeof value === 'object' && typeof value.collectPaymentMethod === 'function';
}

/**
 * `terminal` may be
 *  - the StripeTerminal namespace (window.StripeTerminal, loadStripeTerminal()'s result, or
 *    createSimulatedStripeTerminal()): we call its create() with our callbacks;
 *  - a factory `(props) => Terminal`: called with our callbacks;
 *  - an already created Terminal instance: used as is (create it with
 *    `onFetchConnectionToken: () => pos.fetchConnectionToken()`).
 */
function resolveTerminal(terminal, props) {
  if (!terminal) {
    throw new PosTerminalError(ErrorKinds.INVALID_REQUEST, 'terminal is required', { param: 'terminal' });
  }
  if (isTerminalInstance(terminal)) return { instance: terminal, owned: false };
  if (typeof terminal === 'object' && typeof terminal.create === 'function') {
    return { instance: terminal.create(props), owned: true };
  }
  if (typeof terminal === 'function') return { instance: terminal(props), owned: true };
  throw new PosTerminalError(ErrorKinds.INVALID_REQUEST,
    'terminal must be a StripeTerminal (with create()), a factory, or a Terminal instance', { param: 'terminal' });
}

/**
 * Brand / last4 / expiry of the card read by the reader, from the collected PaymentIntent
 * (`sdk_payment_details.card_present` or an expanded `payment_method.card_present`), or null.
 */
export function cardPresentDetails(paymentIntent) {
  if (!paymentIntent || typeof paymentIntent !== 'object') return null;
  const candidates = [paymentIntent.sdk_payment_details, paymentIntent.payment_method];
  for (const c of candidates) {
    const cp = c && typeof c === 'object' ? c.card_present ?? c.interac_present : null;
    if (cp && typeof cp === 'object' && (cp.brand || cp.last4)) {
      return {
        brand: cp.brand ?? null,
        last4: cp.last4 ?? null,
        exp_month: cp.exp_month ?? null,
        exp_year: cp.exp_year ?? null,
        wallet: cp.wallet?.type ?? null,
      };
    }
  }
  return null;
}

const TIMED_OUT = Symbol('timed out');

/** `promise`'s value, or TIMED_OUT when it takes longer than `ms`. */
async function raceTimeout(promise, ms) {
  let timer;
  try {
    return await Promise.race([promise, new Promise((resolve) => { timer = setTimeout(resolve, ms, TIMED_OUT); })]);
  } finally {
    clearTimeout(timer);
  }
}

function callSafely(fn, ...args) {
  if (typeof fn !== 'function') return;
  try {
    fn(...args);
  } catch {
    // A UI callback must never break a payment.
  }
}

/**
 * @param {object} options see index.d.ts (PosTerminalOptions)
 */
export function createPosTerminal(options = {}) {
  const {
    backendUrl = '',
    getAuthToken,
    externalAccountId,
    location,
    processTimeoutMs = 120_000,
    processCancelTimeoutMs = 5_000,
    processRetries = 1,
    verifyTimeoutMs = 30_000,
    verifyIntervalMs = 1_000,
    terminalOptions = {},
    onUnexpectedReaderDisconnect,
    onConnectionStatusChange,
    onPaymentStatusChange,
  } = options;

  const backend = options.backend ?? createBackendClient({
    backendUrl,
    getAuthToken,
    fetch: options.fetch,
    timeoutMs: options.requestTimeoutMs,
    retries: options.requestRetries,
    retryDelayMs: options.retryDelayMs,
  });

  /** onFetchConnectionToken for the SDK: a fresh token on every call, never cached. */
  async function fetchConnectionToken() {
    if (!externalAccountId) {
      throw new PosTerminalError(ErrorKinds.INVALID_REQUEST, 'externalAccountId is required for connection tokens', {
        param: 'externalAccountId',
      });
    }
    return backend.connectionToken({ external_account_id: externalAccountId, location });
  }

  let readerConnected = null; // null: unknown (instance given by the app)
  const { instance: terminal } = resolveTerminal(options.terminal, {
    ...terminalOptions,
    onFetchConnectionToken: fetchConnectionToken,
    onUnexpectedReaderDisconnect: (event) => {
      readerConnected = false;
      callSafely(onUnexpectedReaderDisconnect, event);
    },
    onConnectionStatusChange: (event) => {
      if (event?.status === 'connected') readerConnected = true;
      if (event?.status === 'not_connected') readerConnected = false;
      callSafely(onConnectionStatusChange, event);
    },
    onPaymentStatusChange: (event) => callSafely(onPaymentStatusChange, event),
  });

  /** Runs an SDK call and unwraps its `{error}` / success result. */
  async function callSdk(fn, context) {
    let result;
    try {
      result = await fn();
    } catch (err) {
      throw normalizeError(err, context);
    }
    if (result && typeof result === 'object' && 'error' in result && result.error) {
      throw fromSdkError(result.error, context);
    }
    return result;
  }

  // ---- reader helpers ------------------------------------------------------------------------

  async function discoverReaders(config = {}) {
    const result = await callSdk(() => terminal.discoverReaders(config));
    return Array.isArray(result?.discoveredReaders) ? result.discoveredReaders : [];
  }

  async function connectReader(reader, connectOptions) {
    const result = await callSdk(() =>
      connectOptions === undefined ? terminal.connectReader(reader) : terminal.connectReader(reader, connectOptions));
    readerConnected = true;
    return result.reader;
  }

  /**
   * Discovers readers and connects to one (by readerId or label, else the first).
   * Returns the already connected reader when there is one.
   */
  async function connect({ simulated, location: readerLocation, readerId, label, connectOptions } = {}) {
    if (typeof terminal.getConnectionStatus === 'function' && terminal.getConnectionStatus() === 'connected' &&
        typeof terminal.getConnectedReader === 'function') {
      const current = terminal.getConnectedReader();
      if (current && (!readerId || current.id === readerId)) return current;
    }
    const config = {};
    if (simulated !== undefined) config.simulated = simulated;
    if (readerLocation ?? location) config.location = readerLocation ?? location;
    const readers = await discoverReaders(config);
    const reader = readers.find((r) => (readerId ? r.id === readerId : label ? r.label === label : true));
    if (!reader) {
      throw new PosTerminalError(ErrorKinds.READER_DISCONNECTED,
        readers.length ? `No reader matches ${readerId ?? label}` : 'No reader found', { code: 'no_reader_found' });
    }
    return connectReader(reader, connectOptions);
  }

  // ---- payment wrappers ----------------------------------------------------------------------

  let collectInFlight = false;

  /**
   * collectPaymentMethod with typed errors. `saveCard: true` passes allow_redisplay 'limited', the
   * backend's default for an intent that saves the card (Stripe requires 'always' or 'limited'
   * when the intent has setup_future_usage): the card is kept for the merchant's own later
   * charges, not offered again in online checkouts; pass allowRedisplay 'always' for that.
   */
  async function collectPaymentMethod(clientSecret, collectOptions = {}) {
    if (typeof clientSecret !== 'string' || !clientSecret) {
      throw new PosTerminalError(ErrorKinds.INVALID_REQUEST, 'clientSecret is required', { param: 'clientSecret' });
    }
    const { saveCard = false, allowRedisplay, config_override, tip_configuration, skipTipping, tipEligibleAmount } =
      collectOptions;
    const config = { ...(config_override ?? {}) };
    if (allowRedisplay) config.allow_redisplay = allowRedisplay;
    // The SDK's per-sale tipping: skip the tipping screen, or compute its percentages on part of
    // the amount (minor units, as the SDK takes them).
    if (skipTipping !== undefined) config.skip_tipping = Boolean(skipTipping);
    if (tipEligibleAmount !== undefined && tipEligibleAmount !== null) {
      if (!Number.isSafeInteger(tipEligibleAmount) || tipEligibleAmount <= 0) {
        throw new PosTerminalError(ErrorKinds.INVALID_REQUEST,
          'tipEligibleAmount must be a positive whole number of minor units (cents)', { param: 'tipEligibleAmount' });
      }
      config.tipping = { ...(config.tipping ?? {}), eligible_amount: tipEligibleAmount };
    }
    else if (saveCard && !config.allow_redisplay) config.allow_redisplay = DEFAULT_ALLOW_REDISPLAY;
    const sdkOptions = {};
    if (Object.keys(config).length) sdkOptions.config_override = config;
    if (tip_configuration) sdkOptions.tip_configuration = tip_configuration;
    const context = { paymentIntentId: paymentIntentIdFromSecret(clientSecret) };
    collectInFlight = true;
    try {
      const result = await callSdk(() => (Object.keys(sdkOptions).length
        ? terminal.collectPaymentMethod(clientSecret, sdkOptions)
        : terminal.collectPaymentMethod(clientSecret)), context);
      if (!result?.paymentIntent) {
        throw new PosTerminalError(ErrorKinds.TERMINAL, 'collectPaymentMethod returned no paymentIntent', {
          code: 'invalid_response', ...context,
        });
      }
      return result.paymentIntent;
    } finally {
      collectInFlight = false;
    }
  }

  /**
   * processPayment with typed errors and a client-side timeout (processTimeoutMs; 0 disables it).
   * On timeout the SDK call is cancelled (terminal.cancelProcessPayment), so that the reader is not
   * left busy, and given processCancelTimeoutMs to settle: an answer that still arrives (approved,
   * declined) counts as usual. Otherwise kind 'timeout', code 'process_timeout': the outcome is
   * unknown, the reader may still authorise the card (charge() asks the backend).
   */
  async function processPayment(paymentIntent, processOptions = {}) {
    const context = { paymentIntentId: paymentIntent?.id ?? null };
    const timeoutMs = processOptions.timeoutMs ?? processTimeoutMs;
    const { timeoutMs: _ignored, ...sdkOptions } = processOptions;
    const call = callSdk(() => (Object.keys(sdkOptions).length
      ? terminal.processPayment(paymentIntent, sdkOptions)
      : terminal.processPayment(paymentIntent)), context);
    call.catch(() => {}); // a failure after our timeout is handled below, never unhandled
    let result = timeoutMs > 0 ? await raceTimeout(call, timeoutMs) : await call;
    if (result === TIMED_OUT) result = await cancelTimedOutProcess(call, timeoutMs, context);
    if (!result?.paymentIntent) {
      throw new PosTerminalError(ErrorKinds.TERMINAL, 'processPayment returned no paymentIntent', {
        code: 'invalid_response', ...context,
      });
    }
    return result.paymentIntent;
  }

  /** Cancels a processPayment that outlived its timeout; resolves its late answer or throws. */
  async function cancelTimedOutProcess(call, timeoutMs, context) {
    let cancelError = null;
    if (typeof terminal.cancelProcessPayment === 'function') {
      try {
        const cancelled = await terminal.cancelProcessPayment();
        if (cancelled && typeof cancelled === 'object' && cancelled.error) cancelError = cancelled.error;
      } catch (err) {
        cancelError = err;
      }
    }
    const late = await raceTimeout(call.then((result) => ({ result }), (error) => ({ error })), processCancelTimeoutMs);
    if (late !== TIMED_OUT && late.result) return late.result; // the reader answered after all
    if (late !== TIMED_OUT && late.error.kind === ErrorKinds.DECLINED) throw late.error;
    throw new PosTerminalError(ErrorKinds.TIMEOUT, `The terminal did not finish processing within ${timeoutMs} ms`, {
      code: 'process_timeout',
      retryable: false,
      cause: late === TIMED_OUT ? cancelError ?? undefined : late.error,
      ...context,
    });
  }

  // ---- charge --------------------------------------------------------------------------------

  let current = null; // the charge in progress

  function withPayment(err, run, extra = {}) {
    const e = normalizeError(err);
    if (!e.paymentIntentId && run.intent?.id) e.paymentIntentId = run.intent.id;
    Object.assign(e, extra);
    return e;
  }

  /**
   * Asks the backend for the intent's true status, polling while Stripe says `processing`.
   * Throws unknown_outcome when the backend cannot tell us in verifyTimeoutMs.
   */
  async function verifyStatus(run, cause) {
    const deadline = Date.now() + verifyTimeoutMs;
    let lastError = null;
    for (;;) {
      try {
        const record = await backend.getPayment({ payment_id: run.intent.id, external_account_id: run.account });
        run.record = record;
        if (record.status !== 'processing') return record.status;
        lastError = null;
      } catch (err) {
        lastError = err;
        const fatal = err instanceof PosTerminalError && err.kind === ErrorKinds.BACKEND && !err.retryable &&
          err.status !== 429;
        if (fatal) break;
      }
      if (Date.now() + verifyIntervalMs > deadline) break;
      await sleep(verifyIntervalMs);
    }
    throw new PosTerminalError(ErrorKinds.UNKNOWN_OUTCOME,
      'The payment was submitted but its outcome could not be confirmed. Do not start a new sale: ' +
      'call charge() again with the same external_transaction_id to resume, or check the payment.',
      {
        code: 'payment_outcome_unknown',
        paymentIntentId: run.intent.id,
        paymentStatus: lastError ? null : 'processing',
        cause: lastError ?? cause,
        retryable: true,
      });
  }

  /**
   * The reader went silent (or away) while processing and Stripe has no answer yet: the card may
   * still be authorised, so the sale must not be rung again. Resuming it with the same
   * external_transaction_id is safe (one intent is charged at most once).
   */
  function outcomeUnknown(run, cause, paymentStatus) {
    return new PosTerminalError(ErrorKinds.UNKNOWN_OUTCOME,
      `The reader did not confirm payment ${run.intent.id} and it may still go through. Check the payment ` +
      'before charging the customer again; to finish this sale, call charge() again with the same ' +
      'external_transaction_id.',
      { code: 'process_outcome_unknown', paymentIntentId: run.intent.id, paymentStatus, cause, retryable: true });
  }

  /**
   * processPayment, and when it fails without a clear answer, the backend's status.
   * Returns the intent status reached ('requires_capture' | 'succeeded'); throws a declined
   * error for a decline, or the processing error with paymentStatus when nothing was charged.
   */
  async function processWithRecovery(run, collected) {
    for (let attempt = 0; ; attempt++) {
      let err;
      try {
        const processed = await processPayment(collected);
        run.sdkPaymentIntent = processed;
        if (processed.status === 'requires_capture' || processed.status === 'succeeded') return processed.status;
        err = new PosTerminalError(ErrorKinds.TERMINAL, `processPayment left the payment in ${processed.status}`, {
          code: 'unexpected_status', paymentIntentId: run.intent.id, paymentStatus: processed.status,
        });
      } catch (e) {
        err = withPayment(e, run);
      }
      // A clear decline: the intent is back in requires_payment_method.
      if (err.kind === ErrorKinds.DECLINED && err.paymentStatus === 'requires_payment_method') throw err;
      // The SDK says the request never reached Stripe: retry it as Stripe recommends.
      if (err.paymentStatus === 'requires_confirmation' && attempt < processRetries &&
          err.kind !== ErrorKinds.READER_DISCONNECTED) {
        continue;
      }
      // No clear answer (timeout, disconnect, unexpected state, …): ask the backend.
      run.step(ChargeSteps.VERIFY, { error: err });
      const status = await verifyStatus(run, err);
      run.recovered = true;
      switch (status) {
        case 'requires_capture':
        case 'succeeded':
          return status;
        case 'requires_payment_method':
          err.paymentStatus = status;
          if (err.kind === ErrorKinds.DECLINED) throw err;
          err.message = `${err.message} (the card was not charged)`;
          throw err;
        case 'requires_confirmation':
          err.paymentStatus = status;
          // A reader that never answered, or dropped off mid-process, may still authorise the card.
          if (err.code === 'process_timeout' || err.kind === ErrorKinds.READER_DISCONNECTED) {
            throw outcomeUnknown(run, err, status);
          }
          if (attempt < processRetries) continue;
          err.message = `${err.message} (the card has not been charged yet)`;
          throw err;
        case 'canceled':
          throw new PosTerminalError(ErrorKinds.CANCELLED, 'The payment was canceled', {
            code: 'payment_canceled', paymentIntentId: run.intent.id, paymentStatus: status, cause: err,
          });
        default:
          err.paymentStatus = status;
          throw err;
      }
    }
  }

  async function cancelIntentAndThrow(run, cause) {
    run.step(ChargeSteps.CANCELLED);
    const error = new PosTerminalError(ErrorKinds.CANCELLED, 'The payment was cancelled', {
      code: 'charge_cancelled',
      paymentIntentId: run.intent?.id ?? null,
      paymentStatus: run.intent?.status ?? null,
      cause,
    });
    if (run.intent?.id) {
      try {
        const record = await backend.cancelPayment({ payment_id: run.intent.id, external_account_id: run.account });
        error.paymentStatus = record?.status ?? 'canceled';
      } catch (cancelError) {
        error.backendCancelError = cancelError;
      }
    }
    run.cancelled = true;
    throw error;
  }

  async function runCharge(run, params) {
    const {
      amount, currency, external_transaction_id, external_customer_id, saveCard = false,
      allowRedisplay, onStep, onDecline, description, metadata, capture = true,
      requestIncrementalAuthorizationSupport = false, skipTipping, tipEligibleAmount, tipConfiguration,
      paymentMethodTypes,
    } = params;
    const account = run.account;
    let attempt = 0;
    run.step = (step, extra = {}) => {
      run.phase = step;
      callSafely(onStep, { step, paymentIntentId: run.intent?.id ?? null, attempt, ...extra });
    };

    run.step(ChargeSteps.INTENT);
    run.intent = await backend.createIntent({
      external_account_id: account,
      amount,
      currency,
      external_transaction_id,
      external_customer_id,
      description,
      metadata,
      request_incremental_authorization_support: requestIncrementalAuthorizationSupport,
      // ['card_present', 'interac_present'] for a CAD sale that takes Interac (captured at once).
      ...(paymentMethodTypes ? { payment_method_types: paymentMethodTypes } : {}),
    });
    if (run.cancelRequested) await cancelIntentAndThrow(run);
    // The tip-eligible part in the SDK's minor units, in the intent's currency.
    const eligibleMinor = tipEligibleAmount === undefined || tipEligibleAmount === null ? undefined
      : Number(toMinorUnits(tipEligibleAmount, run.intent.currency ?? currency ?? 'usd', 'tipEligibleAmount'));

    let status = run.intent.status;
    const declines = [];
    for (;;) {
      if (status === 'requires_capture' || status === 'succeeded') break;
      if (status === 'canceled') {
        throw new PosTerminalError(ErrorKinds.CANCELLED,
          'This transaction was canceled; start a new sale with a new external_transaction_id', {
            code: 'payment_canceled', paymentIntentId: run.intent.id, paymentStatus: status,
          });
      }
      if (status === 'processing') {
        run.step(ChargeSteps.VERIFY);
        status = await verifyStatus(run);
        continue;
      }

      // requires_payment_method / requires_confirmation: present a card.
      attempt++;
      run.step(ChargeSteps.COLLECT);
      let collected;
      try {
        collected = await collectPaymentMethod(run.intent.client_secret, {
          // Stripe needs allow_redisplay 'always' or 'limited' whenever the intent has
          // setup_future_usage, i.e. whenever it has a customer: the caller's, else 'limited' (the
          // backend's default: kept for the merchant's own charges, not shown again online).
          allowRedisplay: allowRedisplay ?? (external_customer_id ? DEFAULT_ALLOW_REDISPLAY : undefined),
          skipTipping,
          tipEligibleAmount: eligibleMinor,
          tip_configuration: tipConfiguration,
        });
      } catch (err) {
        if (run.cancelRequested) await cancelIntentAndThrow(run, err);
        const e = withPayment(err, run);
        if (e.kind !== ErrorKinds.DECLINED) throw e; // nothing was charged: collect never charges
        collected = null;
        status = await handleDecline(run, e, declines, onDecline, attempt);
        continue;
      }
      if (run.cancelRequested) await cancelIntentAndThrow(run);

      run.step(ChargeSteps.PROCESS);
      run.collected = collected;
      try {
        status = await processWithRecovery(run, collected);
      } catch (err) {
        if (err.kind !== ErrorKinds.DECLINED) throw err;
        status = await handleDecline(run, err, declines, onDecline, attempt);
      }
    }

    // Authorised (or already captured): capture, then save the card. capture: false stops at the
    // authorisation (an open tab: incrementAuthorization, then capturePayment).
    let payment;
    if (status === 'requires_capture' && !capture) {
      payment = run.record?.status === 'requires_capture'
        ? run.record
        : await backend.getPayment({ payment_id: run.intent.id, external_account_id: account });
    } else if (status === 'requires_capture') {
      run.step(ChargeSteps.CAPTURE);
      try {
        payment = await backend.capture({ payment_id: run.intent.id, external_account_id: account });
      } catch (err) {
        // 409: maybe captured meanwhile (another tablet, a retry): the backend knows.
        let truth = null;
        if (err instanceof PosTerminalError && err.status === 409) {
          truth = await backend.getPayment({ payment_id: run.intent.id, external_account_id: account }).catch(() => null);
        }
        if (truth?.status === 'succeeded') {
          payment = truth;
        } else {
          throw withPayment(err, run, {
            paymentStatus: truth?.status ?? 'requires_capture',
            message: `${err.message} — the card is authorised but not captured; call charge() again with the same ` +
              'external_transaction_id to finish',
          });
        }
      }
    } else {
      payment = run.record?.status === 'succeeded'
        ? run.record
        : await backend.getPayment({ payment_id: run.intent.id, external_account_id: account });
    }

    let card = null;
    let cardError = null;
    if (saveCard && payment.status === 'succeeded') {
      run.step(ChargeSteps.SAVE_CARD);
      try {
        card = await backend.saveCard({
          payment_id: run.intent.id,
          external_customer_id,
          external_account_id: account,
        });
      } catch (err) {
        // The customer has paid: a card that cannot be saved (wallet, …) is reported, not thrown.
        cardError = withPayment(err, run);
      }
    }

    run.step(ChargeSteps.DONE, { payment, card, cardError });
    return {
      payment,
      card,
      cardError,
      cardPresent: cardPresentDetails(run.collected),
      paymentIntentId: run.intent.id,
      intent: run.intent,
      paymentIntent: run.sdkPaymentIntent,
      attempts: attempt,
      declines,
      recovered: run.recovered,
    };
  }

  /** Reports a decline; asks onDecline whether to collect another card on the same intent. */
  async function handleDecline(run, err, declines, onDecline, attempt) {
    declines.push(err);
    run.step(ChargeSteps.DECLINED, { error: err });
    if (typeof onDecline !== 'function') throw err;
    let again;
    try {
      again = await Promise.race([
        Promise.resolve(onDecline(err, { attempt, paymentIntentId: run.intent.id, signal: run.abort.signal })),
        run.cancelledPromise.then(() => false),
      ]);
    } catch (callbackError) {
      throw withPayment(callbackError, run);
    }
    if (run.cancelRequested) await cancelIntentAndThrow(run, err);
    if (!again) throw err;
    return 'requires_payment_method';
  }

  /**
   * One call for the whole seed flow: intent → collect → process → capture → save card.
   * Calling it again with the same external_transaction_id resumes the same payment.
   */
  async function charge(params = {}) {
    if (current) {
      throw new PosTerminalError(ErrorKinds.INVALID_REQUEST, 'A charge is already in progress', {
        code: 'charge_in_progress',
      });
    }
    const account = params.external_account_id ?? externalAccountId;
    const missing = [];
    if (!account) missing.push('external_account_id');
    if (params.amount === undefined || params.amount === null || params.amount === '') missing.push('amount');
    if (!params.external_transaction_id) missing.push('external_transaction_id');
    if (missing.length) {
      throw new PosTerminalError(ErrorKinds.INVALID_REQUEST, `Missing ${missing.join(', ')}`, { param: missing[0] });
    }
    if (params.allowRedisplay !== undefined
      && !['always', 'limited', 'unspecified'].includes(params.allowRedisplay)) {
      throw new PosTerminalError(ErrorKinds.INVALID_REQUEST, "allowRedisplay must be 'always', 'limited' or 'unspecified'", {
        param: 'allowRedisplay',
      });
    }
    if (params.external_customer_id && params.allowRedisplay === 'unspecified') {
      throw new PosTerminalError(ErrorKinds.INVALID_REQUEST,
        "allowRedisplay must be 'always' or 'limited' with a customer (the intent saves the card)", {
          param: 'allowRedisplay',
        });
    }
    if (params.tipEligibleAmount !== undefined && params.tipEligibleAmount !== null &&
        !(typeof params.tipEligibleAmount === 'string' || typeof params.tipEligibleAmount === 'number')) {
      throw new PosTerminalError(ErrorKinds.INVALID_REQUEST, 'tipEligibleAmount must be a decimal amount', {
        param: 'tipEligibleAmount',
      });
    }
    if (params.saveCard && !params.external_customer_id) {
      throw new PosTerminalError(ErrorKinds.INVALID_REQUEST, 'saveCard needs external_customer_id', {
        param: 'external_customer_id', code: 'customer_required',
      });
    }
    let resolveCancelled;
    let resolveSettled;
    const run = {
      account,
      phase: ChargeSteps.INTENT,
      intent: null,
      record: null,
      sdkPaymentIntent: null,
      collected: null,
      recovered: false,
      cancelRequested: false,
      cancelled: false,
      abort: new AbortController(),
      cancelledPromise: new Promise((resolve) => { resolveCancelled = resolve; }),
      settled: new Promise((resolve) => { resolveSettled = resolve; }),
      requestCancel() {
        this.cancelRequested = true;
        this.abort.abort();
        resolveCancelled();
      },
      step: () => {},
    };
    current = run;
    try {
      return await runCharge(run, params);
    } catch (err) {
      throw withPayment(err, run);
    } finally {
      current = null;
      resolveSettled({ cancelled: run.cancelled });
    }
  }

  /**
   * Cancels the charge in progress if the card has not been processed yet: cancels collection on
   * the reader and the intent at the backend. Resolves true when the charge was cancelled (its
   * promise then rejects with kind 'cancelled'), false when there was nothing to cancel or it is
   * too late (processing already started).
   */
  async function cancel() {
    const run = current;
    const cancelCollect = async () => {
      try {
        return await terminal.cancelCollectPaymentMethod();
      } catch (error) {
        return { error };
      }
    };
    if (!run) {
      if (!collectInFlight) return false;
      const result = await cancelCollect();
      return !(result && result.error);
    }
    if (!CANCELLABLE_PHASES.has(run.phase)) return false;
    run.requestCancel();
    // If collection already finished, this fails harmlessly: charge() checks the request before processing.
    if (run.phase === ChargeSteps.COLLECT) await cancelCollect();
    const outcome = await run.settled;
    return outcome.cancelled;
  }

  /**
   * Refunds a paid payment in person (Interac must be: the backend refuses its API refund with
   * 409 refund_on_reader_required). `amount` (major units) defaults to what is left. With
   * `readerId` (a smart reader, server-driven) it resolves once the reader asks for the card:
   * `{readerRefund}` pending, its outcome later from getReaderRefund. Without it, the connected
   * reader collects the card through the SDK (collectRefundPaymentMethod, processRefund) and it
   * resolves to `{readerRefund, refund}` with the outcome the backend recorded. One
   * Idempotency-Key per call (`idempotencyKey`, default a fresh one): a retried request is one
   * refund.
   */
  async function refundOnReader({ paymentId, amount, readerId, idempotencyKey, external_account_id = externalAccountId } = {}) {
    if (!paymentId) throw new PosTerminalError(ErrorKinds.INVALID_REQUEST, 'paymentId is required', { param: 'paymentId' });
    const key = idempotencyKey ?? `refund-on-reader-${paymentId}-${randomKey()}`;
    const readerRefund = await backend.refundOnReader({
      payment_id: paymentId, external_account_id, amount, reader_id: readerId, idempotency_key: key,
    });
    if (readerId) return { readerRefund };
    const sdk = readerRefund?.sdk;
    if (!sdk?.charge_id) {
      throw new PosTerminalError(ErrorKinds.BACKEND, 'The backend gave no charge to refund on the reader', {
        code: 'invalid_response', paymentIntentId: paymentId,
      });
    }
    const context = { paymentIntentId: paymentId };
    await callSdk(() => terminal.collectRefundPaymentMethod(sdk.charge_id, sdk.amount, sdk.currency), context);
    const processed = await callSdk(() => terminal.processRefund(), context);
    // What the backend recorded (it asks Stripe while the refund is pending).
    const recorded = await backend.getReaderRefund({ id: readerRefund.id, external_account_id });
    return { readerRefund: recorded, refund: processed?.refund ?? null };
  }

  /** The card setup's failure as a typed error (declined, cancelled or backend), setup attached. */
  function setupError(setup) {
    const failure = setup.failure ?? {};
    const details = { code: failure.code ?? setup.status, declineCode: failure.decline_code ?? null };
    let err;
    if (setup.status === 'canceled') {
      err = new PosTerminalError(ErrorKinds.CANCELLED, 'The card setup was canceled', { code: 'canceled' });
    } else if (failure.decline_code || failure.code === 'card_declined') {
      err = new PosTerminalError(ErrorKinds.DECLINED, failure.message ?? 'The card was declined', details);
    } else {
      err = new PosTerminalError(ErrorKinds.TERMINAL, failure.message ?? 'The card could not be saved', details);
    }
    err.setup = setup;
    return err;
  }

  /**
   * Saves a card without a sale (a gym, a hotel check-in): POST /v1/customer/card/reader, then
   * either the smart reader `readerId` reads the card (server-driven; the backend's setup is
   * polled until it ended, at most `timeoutMs`) or this terminal's SDK does
   * (collectSetupIntentPaymentMethod + confirmSetupIntent with the setup's client_secret).
   * Resolves `{setup, card}` once the card is saved (the same physical card already saved for the
   * customer is that card); rejects kind 'declined' (declineCode), 'cancelled', or others, with
   * `err.setup` when the backend has a setup.
   */
  async function saveCardOnReader(params = {}) {
    const {
      externalCustomerId,
      readerId,
      allowRedisplay = 'limited',
      external_account_id = externalAccountId,
      timeoutMs = 120_000,
      pollIntervalMs = verifyIntervalMs,
      testCardNumber,
    } = params;
    if (!externalCustomerId) {
      throw new PosTerminalError(ErrorKinds.INVALID_REQUEST, 'externalCustomerId is required', { param: 'externalCustomerId' });
    }
    if (!external_account_id) {
      throw new PosTerminalError(ErrorKinds.INVALID_REQUEST, 'external_account_id is required', { param: 'external_account_id' });
    }
    if (!['always', 'limited', 'unspecified'].includes(allowRedisplay)) {
      throw new PosTerminalError(ErrorKinds.INVALID_REQUEST, "allowRedisplay must be 'always', 'limited' or 'unspecified'", {
        param: 'allowRedisplay',
      });
    }
    if (!readerId && (typeof terminal.collectSetupIntentPaymentMethod !== 'function'
      || typeof terminal.confirmSetupIntent !== 'function')) {
      throw new PosTerminalError(ErrorKinds.INVALID_REQUEST,
        'This terminal cannot save cards (no collectSetupIntentPaymentMethod); give readerId for a smart reader', {
          param: 'readerId',
        });
    }
    const started = await backend.startReaderSetup({
      external_account_id,
      external_customer_id: externalCustomerId,
      reader_id: readerId,
      allow_redisplay: allowRedisplay,
    });
    const read = () => backend.getReaderSetup({ setup_id: started.id, external_account_id });
    let setup = started;
    if (!readerId) {
      if (!started.client_secret) {
        throw new PosTerminalError(ErrorKinds.BACKEND, 'The card setup has no client_secret', { code: 'invalid_response' });
      }
      const config = testCardNumber ? { testCardNumber } : null;
      let sdkError = null;
      let collected = null;
      try {
        collected = await callSdk(() => terminal.collectSetupIntentPaymentMethod(started.client_secret, allowRedisplay, config));
        await callSdk(() => terminal.confirmSetupIntent(collected.setupIntent));
      } catch (err) {
        sdkError = err;
      }
      // What Stripe recorded decides (a decline, or a card saved though the answer was lost).
      setup = await read();
      if (sdkError && setup.status === 'in_progress') {
        // No card was read (cancelled, reader lost): the setup is dropped, nothing can save it now.
        if (!collected) setup = await backend.cancelReaderSetup({ setup_id: started.id, external_account_id }).catch(() => setup);
        sdkError.setup = setup;
        throw sdkError;
      }
    } else {
      const deadline = Date.now() + timeoutMs;
      while (setup.status === 'in_progress' || setup.status === 'creating') {
        if (Date.now() >= deadline) {
          const err = new PosTerminalError(ErrorKinds.TIMEOUT, `The reader did not save the card within ${timeoutMs} ms`, {
            code: 'setup_timeout', retryable: true,
          });
          err.setup = setup;
          throw err;
        }
        await new Promise((resolve) => setTimeout(resolve, pollIntervalMs));
        setup = await read();
      }
    }
    if (setup.status !== 'succeeded') throw setupError(setup);
    return { setup, card: setup.card };
  }

  return {
    terminal,
    backend,
    fetchConnectionToken,
    discoverReaders,
    connectReader,
    connect,
    collectPaymentMethod,
    processPayment,
    charge,
    cancel,
    /** The charge in progress: {phase, paymentIntentId} or null. */
    getState() {
      return current ? { phase: current.phase, paymentIntentId: current.intent?.id ?? null } : null;
    },
    isReaderConnected() {
      if (typeof terminal.getConnectionStatus === 'function') return terminal.getConnectionStatus() === 'connected';
      return readerConnected === true;
    },
    // Small backend helpers (account defaults to externalAccountId).
    getPayment(paymentId, account = externalAccountId) {
      return backend.getPayment({ payment_id: paymentId, external_account_id: account });
    },
    capturePayment(paymentId, { amount, external_account_id = externalAccountId } = {}) {
      return backend.capture({ payment_id: paymentId, amount, external_account_id });
    },
    cancelPayment(paymentId, account = externalAccountId) {
      return backend.cancelPayment({ payment_id: paymentId, external_account_id: account });
    },
    saveCard(paymentId, externalCustomerId, account = externalAccountId) {
      return backend.saveCard({ payment_id: paymentId, external_customer_id: externalCustomerId, external_account_id: account });
    },
    saveCardOnReader,
    /** A card setup as the backend has it now (GET /v1/customer/card/reader/{id}). */
    getReaderSetup(setupId, account = externalAccountId) {
      return backend.getReaderSetup({ setup_id: setupId, external_account_id: account });
    },
    /** Cancels a card setup: the reader stops reading (POST /v1/customer/card/reader/{id}/cancel). */
    cancelReaderSetup(setupId, account = externalAccountId) {
      return backend.cancelReaderSetup({ setup_id: setupId, external_account_id: account });
    },
    listCards(externalCustomerId, account = externalAccountId) {
      return backend.listCards({ external_account_id: account, external_customer_id: externalCustomerId });
    },
    /**
     * Raises an authorised payment (an intent created with requestIncrementalAuthorizationSupport)
     * to `newTotal`, the new authorised TOTAL in major units (not the amount added).
     */
    incrementAuthorization(paymentId, newTotal, { external_account_id = externalAccountId } = {}) {
      if (newTotal === undefined || newTotal === null || newTotal === '') {
        return Promise.reject(new PosTerminalError(ErrorKinds.INVALID_REQUEST, 'newTotal is required', { param: 'amount' }));
      }
      return backend.incrementAuthorization({ payment_id: paymentId, amount: newTotal, external_account_id });
    },
    /** The payment's receipt: an object (format 'json', default) or the 'text' / 'html' document. */
    getReceipt(paymentId, { format = 'json', external_account_id = externalAccountId } = {}) {
      return backend.getReceipt({ payment_id: paymentId, external_account_id, format });
    },
    /**
     * Shows a cart on a smart reader (POST /v1/terminal/readers/{id}/display). Amounts are decimal
     * major units; `line_items[].amount` is the unit price, `quantity` defaults to 1 and `total`,
     * when omitted, is computed exactly (lines × quantity + tax).
     */
    showCart(readerId, cart = {}, { external_account_id = externalAccountId } = {}) {
      return (async () => {
        if (!readerId) throw new PosTerminalError(ErrorKinds.INVALID_REQUEST, 'readerId is required', { param: 'readerId' });
        const { currency, line_items, tax } = cart;
        if (!currency) throw new PosTerminalError(ErrorKinds.INVALID_REQUEST, 'cart.currency is required', { param: 'currency' });
        if (!Array.isArray(line_items) || line_items.length === 0) {
          throw new PosTerminalError(ErrorKinds.INVALID_REQUEST, 'cart.line_items must list at least one line', {
            param: 'line_items',
          });
        }
        const lines = line_items.map(({ description, amount, quantity = 1 }) => ({ description, amount, quantity }));
        const total = cart.total ?? cartTotal({ currency, line_items: lines, tax });
        return backend.displayCart({ reader_id: readerId, external_account_id, currency, line_items: lines, tax, total });
      })();
    },
    /** Clears the cart from the reader's screen (POST /v1/terminal/readers/{id}/cancel). */
    clearCart(readerId, { external_account_id = externalAccountId } = {}) {
      return backend.cancelReaderAction({ reader_id: readerId, external_account_id });
    },
    /**
     * The server-driven flow: the smart reader collects and processes `paymentId` itself
     * (POST /v1/terminal/readers/{id}/process). skipTipping hides the tipping screen;
     * tipEligibleAmount (major units) is what its percentages are computed on.
     */
    processOnReader(readerId, paymentId, {
      skipTipping, tipEligibleAmount, allowRedisplay, external_account_id = externalAccountId,
    } = {}) {
      return backend.processOnReader({
        reader_id: readerId,
        external_account_id,
        payment_id: paymentId,
        allow_redisplay: allowRedisplay,
        skip_tipping: skipTipping,
        tip_eligible_amount: tipEligibleAmount,
      });
    },
    refundOnReader,
    /** A reader refund (GET /v1/payment/refund/reader/{id}), refreshed from Stripe while pending. */
    getReaderRefund(id, account = externalAccountId) {
      return backend.getReaderRefund({ id, external_account_id: account });
    },
    /** The reader with its current action (GET /v1/terminal/readers/{id}). */
    getReader(readerId, account = externalAccountId) {
      return backend.getReader({ reader_id: readerId, external_account_id: account });
    },
    /**
     * Waits, without polling, for the reader's action to end (long polls of
     * GET /v1/terminal/readers/{id}/events): resolves with the events answer whose action
     * satisfies `until` (default: ended — succeeded, failed or canceled — and, with `paymentId`,
     * about that payment). `deadlineMs` bounds the whole wait (a `timeout` error after it).
     */
    waitForReaderAction(readerId, options = {}) {
      return waitForReaderAction(backend, readerId, { external_account_id: externalAccountId, ...options });
    },
    /**
     * The server-driven flow to its end: hands `paymentId` to the reader (processOnReader) and
     * waits for the reader's outcome via the events endpoint. Resolves with the ended action
     * (`status` succeeded, failed with Stripe's failure_code / failure_message, or canceled).
     */
    processOnReaderAndWait(readerId, paymentId, options = {}) {
      return (async () => {
        const external_account_id = options.external_account_id ?? externalAccountId;
        const { version } = await backend.readerEvents({ reader_id: readerId, external_account_id, timeout: 0 });
        await backend.processOnReader({
          reader_id: readerId,
          external_account_id,
          payment_id: paymentId,
          allow_redisplay: options.allowRedisplay,
          skip_tipping: options.skipTipping,
          tip_eligible_amount: options.tipEligibleAmount,
        });
        const answer = await waitForReaderAction(backend, readerId, {
          paymentId, after: version, deadlineMs: options.deadlineMs, external_account_id,
        });
        return answer.action;
      })();
    },
    /**
     * Collect only (POST /v1/terminal/readers/{id}/collect), then waits for the card: resolves
     * with the ended collect action, whose `card` (brand, last4, funding, wallet) the till may
     * inspect before confirmOnReader (or clearCart to cancel).
     */
    collectOnReader(readerId, paymentId, {
      skipTipping, tipEligibleAmount, allowRedisplay, deadlineMs, external_account_id = externalAccountId,
    } = {}) {
      return (async () => {
        const { version } = await backend.readerEvents({ reader_id: readerId, external_account_id, timeout: 0 });
        await backend.collectOnReader({
          reader_id: readerId,
          external_account_id,
          payment_id: paymentId,
          allow_redisplay: allowRedisplay,
          skip_tipping: skipTipping,
          tip_eligible_amount: tipEligibleAmount,
        });
        const answer = await waitForReaderAction(backend, readerId, {
          paymentId,
          after: version,
          deadlineMs,
          external_account_id,
          until: (a) => a && a.type === 'collect_payment_method' && a.status !== 'in_progress' && a.payment_id === paymentId,
        });
        return answer.action;
      })();
    },
    /** The reader confirms the payment whose card it collected (POST …/confirm): the reader. */
    confirmOnReader(readerId, paymentId, { external_account_id = externalAccountId } = {}) {
      return backend.confirmOnReader({ reader_id: readerId, external_account_id, payment_id: paymentId });
    },
  };
}

/**
 * Long polls GET /v1/terminal/readers/{id}/events until the reader's action satisfies `until`
 * (default: ended — succeeded, failed or canceled — and, with `paymentId`, about that payment).
 */
async function waitForReaderAction(backend, readerId, {
  paymentId, until, after = 0, deadlineMs = 5 * 60_000, external_account_id,
} = {}) {
  const done = until ?? ((action) => Boolean(action) && action.status !== 'in_progress'
    && (paymentId === undefined || action.payment_id === paymentId));
  const deadline = Date.now() + deadlineMs;
  let cursor = after;
  for (;;) {
    const left = Math.ceil((deadline - Date.now()) / 1000);
    if (left <= 0) {
      throw new PosTerminalError(ErrorKinds.TIMEOUT, 'the reader did not finish its action in time', {
        code: 'reader_wait_timeout', paymentIntentId: paymentId,
      });
    }
    const answer = await backend.readerEvents({
      reader_id: readerId, external_account_id, after: cursor, timeout: Math.min(25, left),
    });
    if (answer.changed && done(answer.action)) return answer;
    cursor = answer.version;
  }
}
