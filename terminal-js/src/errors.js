// Typed errors for terminal-js.
//
// Every failure that leaves this package is a PosTerminalError with a `kind` a till can switch on:
//
//   declined             the card was declined (declineCode says why); nothing was charged
//   cancelled            the operation was cancelled (by the cashier, the customer or cancel())
//   reader_disconnected  no reader is connected, or the connection to it was lost
//   timeout              the terminal or the backend did not answer in time
//   network              the terminal or this device could not reach the network / backend
//   backend              the backend answered with an HTTP error (status, code, param)
//   invalid_request      the call itself was wrong (missing parameter, wrong state, …)
//   unknown_outcome      a payment was submitted and its outcome could not be confirmed
//   terminal             any other error reported by the Terminal SDK (see code)
//
// Errors that concern a payment carry `paymentIntentId` and, when known, `paymentStatus` (Stripe's
// PaymentIntent status), so the caller can tell "not charged" from "authorised".

export const ErrorKinds = Object.freeze({
  DECLINED: 'declined',
  CANCELLED: 'cancelled',
  READER_DISCONNECTED: 'reader_disconnected',
  TIMEOUT: 'timeout',
  NETWORK: 'network',
  BACKEND: 'backend',
  INVALID_REQUEST: 'invalid_request',
  UNKNOWN_OUTCOME: 'unknown_outcome',
  TERMINAL: 'terminal',
});

export class PosTerminalError extends Error {
  /**
   * @param {string} kind one of ErrorKinds
   * @param {string} message
   * @param {object} [details]
   */
  constructor(kind, message, details = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'PosTerminalError';
    this.kind = kind;
    this.code = details.code ?? null;
    this.declineCode = details.declineCode ?? null;
    this.status = details.status ?? null;
    this.param = details.param ?? null;
    this.type = details.type ?? null;
    this.paymentIntentId = details.paymentIntentId ?? null;
    this.paymentStatus = details.paymentStatus ?? null;
    this.paymentIntent = details.paymentIntent ?? null;
    this.retryable = details.retryable ?? false;
    this.raw = details.raw ?? null;
  }

  toJSON() {
    return {
      name: this.name,
      kind: this.kind,
      message: this.message,
      code: this.code,
      declineCode: this.declineCode,
      status: this.status,
      param: this.param,
      type: this.type,
      paymentIntentId: this.paymentIntentId,
      paymentStatus: this.paymentStatus,
      retryable: this.retryable,
    };
  }
}

export function isPosTerminalError(value) {
  return value instanceof PosTerminalError;
}

// SDK error codes (Stripe Terminal JS reference, "Errors") grouped by kind.
const SDK_CANCELLED = new Set(['canceled', 'canceled_by_customer', 'cancelled']);
const SDK_DISCONNECTED = new Set([
  'no_established_connection',
  'reader_connection_error',
  'reader_connection_interrupted',
  'reader_disconnected',
]);
const SDK_TIMEOUT = new Set(['network_timeout', 'timeout']);
const SDK_NETWORK = new Set(['network_error', 'internet_connection_unavailable']);

/**
 * Turns the `error` of an SDK `{error}` result (ExposedError: {type?, code?, message, decline_code?,
 * payment_intent?}) into a PosTerminalError.
 * @param {any} sdkError
 * @param {{paymentIntentId?: string|null}} [context]
 */
export function fromSdkError(sdkError, context = {}) {
  if (sdkError instanceof PosTerminalError) return sdkError;
  const e = sdkError && typeof sdkError === 'object' ? sdkError : { message: String(sdkError) };
  const code = typeof e.code === 'string' ? e.code : null;
  const pi = e.payment_intent && typeof e.payment_intent === 'object' ? e.payment_intent : null;
  const details = {
    code,
    declineCode: e.decline_code ?? null,
    type: e.type ?? null,
    paymentIntent: pi,
    paymentIntentId: pi?.id ?? context.paymentIntentId ?? null,
    paymentStatus: pi?.status ?? null,
    raw: sdkError,
  };
  const message = e.message || code || 'Terminal error';
  let kind;
  if (e.decline_code || code === 'card_declined' || code === 'expired_card' ||
      code === 'incorrect_cvc' || code === 'incorrect_pin' || code === 'processing_error' ||
      (e.type === 'card_error')) {
    kind = ErrorKinds.DECLINED;
    if (!details.declineCode) details.declineCode = code === 'card_declined' ? 'generic_decline' : code;
  } else if (code && SDK_CANCELLED.has(code)) {
    kind = ErrorKinds.CANCELLED;
  } else if (code && SDK_DISCONNECTED.has(code)) {
    kind = ErrorKinds.READER_DISCONNECTED;
  } else if (code && SDK_TIMEOUT.has(code)) {
    kind = ErrorKinds.TIMEOUT;
    details.retryable = true;
  } else if (code && SDK_NETWORK.has(code)) {
    kind = ErrorKinds.NETWORK;
    details.retryable = true;
  } else {
    kind = ErrorKinds.TERMINAL;
  }
  return new PosTerminalError(kind, message, details);
}

/**
 * Turns a backend HTTP error (status + `{"error":{type,code,message,param?,decline_code?}}` body)
 * into a PosTerminalError. 402 is a decline; everything else is kind `backend`.
 * @param {number} status
 * @param {any} body parsed JSON body, or null
 * @param {{paymentIntentId?: string|null}} [context]
 */
export function fromHttpError(status, body, context = {}) {
  const err = body && typeof body === 'object' && body.error && typeof body.error === 'object' ? body.error : {};
  const details = {
    status,
    code: err.code ?? null,
    type: err.type ?? null,
    param: err.param ?? null,
    declineCode: err.decline_code ?? null,
    paymentIntentId: err.payment_intent?.id ?? context.paymentIntentId ?? null,
    paymentStatus: err.payment_intent?.status ?? err.status ?? null,
    paymentIntent: err.payment_intent ?? null,
    retryable: status === 502 || status === 503 || status === 504 || status === 429,
    raw: body,
  };
  const message = err.message || `Backend answered HTTP ${status}`;
  if (status === 402) {
    if (!details.declineCode) details.declineCode = err.code === 'card_declined' ? 'generic_decline' : err.code ?? null;
    return new PosTerminalError(ErrorKinds.DECLINED, message, details);
  }
  return new PosTerminalError(ErrorKinds.BACKEND, message, details);
}

/** A failure to reach the backend at all (fetch rejected, aborted by our timeout). */
export function fromNetworkFailure(cause, { timedOut = false, url = '' } = {}) {
  if (timedOut) {
    return new PosTerminalError(ErrorKinds.TIMEOUT, `No answer from ${url || 'the backend'} in time`, {
      code: 'backend_timeout',
      retryable: true,
      cause,
    });
  }
  return new PosTerminalError(ErrorKinds.NETWORK, `Could not reach ${url || 'the backend'}: ${cause?.message ?? cause}`, {
    code: 'backend_unreachable',
    retryable: true,
    cause,
  });
}

/** Ensures any thrown value is a PosTerminalError. */
export function normalizeError(value, context = {}) {
  if (value instanceof PosTerminalError) return value;
  if (value && typeof value === 'object' && 'error' in value && value.error) return fromSdkError(value.error, context);
  if (value instanceof Error) {
    return new PosTerminalError(ErrorKinds.TERMINAL, value.message, { cause: value, ...context });
  }
  return fromSdkError(value, context);
}
