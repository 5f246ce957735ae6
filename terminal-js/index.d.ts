// Type declarations for @pos-backend/terminal-js (src/index.js and src/simulated.js).
//
// The Terminal types here are structural: they describe what terminal-js needs from a Stripe Terminal
// JS SDK instance, so this file does not depend on @stripe/terminal-js. types-test.ts checks that the
// real SDK's types (Terminal, StripeTerminal, ISdkManagedPaymentIntent, ErrorResponse, …) fit them,
// and that the wrappers hand back the SDK's own types (generic over the terminal you pass).

// ---------------------------------------------------------------------------------------------
// SDK shapes (structural)

/** The `error` of an SDK `{error}` result (the SDK's ExposedError). */
export interface SdkError {
  type?: string;
  code?: string;
  message: string;
  decline_code?: string;
  request_id?: string;
  payment_intent?: { id?: string; status?: string } | null;
}

export interface SdkErrorResult {
  error: SdkError;
}

export interface ReaderLike {
  id: string;
  label?: string | null;
  device_type?: string;
  serial_number?: string;
  status?: string | null;
}

export interface PaymentIntentLike {
  id: string;
  status: string;
  client_secret?: string | null;
}

/** What terminal-js uses of a Stripe Terminal instance. The real SDK's Terminal satisfies it. */
export interface TerminalLike {
  discoverReaders(config?: any): Promise<{ discoveredReaders: ReaderLike[] } | SdkErrorResult>;
  connectReader(reader: any, connectOptions?: any): Promise<{ reader: ReaderLike } | SdkErrorResult>;
  collectPaymentMethod(clientSecret: string, options?: any): Promise<{ paymentIntent: PaymentIntentLike } | SdkErrorResult>;
  processPayment(paymentIntent: any, options?: any): Promise<{ paymentIntent: PaymentIntentLike } | SdkErrorResult>;
  cancelCollectPaymentMethod(): Promise<object | SdkErrorResult>;
  /** Called when processPayment outlives processTimeoutMs, so that the reader is not left busy. */
  cancelProcessPayment?(): Promise<object | SdkErrorResult>;
  /** In-person refunds (refundOnReader without a readerId): the real SDK's methods. */
  collectRefundPaymentMethod?(chargeId: string, amount: number, currency: string, options?: any): Promise<object | SdkErrorResult>;
  processRefund?(): Promise<{ refund: RefundLike } | SdkErrorResult>;
  /** saveCardOnReader without a reader id: the SDK reads the card for a card_present SetupIntent. */
  collectSetupIntentPaymentMethod?(clientSecret: string, allowRedisplay: any, config: any): Promise<{ setupIntent: any } | SdkErrorResult>;
  confirmSetupIntent?(setupIntent: any): Promise<{ setupIntent: any } | SdkErrorResult>;
  getConnectionStatus?(): string;
  getConnectedReader?(): ReaderLike | null;
}

export type ConnectionStatusValue = 'connecting' | 'connected' | 'not_connected';
export type PaymentStatusValue = 'not_ready' | 'ready' | 'waiting_for_input' | 'processing';

/** The callbacks terminal-js hands to StripeTerminal.create() / your factory. */
export interface TerminalCallbacks {
  onFetchConnectionToken: () => Promise<string>;
  onUnexpectedReaderDisconnect: (event: { error?: SdkError }) => void;
  onConnectionStatusChange: (event: { status: ConnectionStatusValue }) => void;
  onPaymentStatusChange: (event: { status: PaymentStatusValue }) => void;
}

/**
 * How to give terminal-js its terminal: the StripeTerminal namespace (we call create() with our
 * callbacks), a factory receiving those callbacks, or an instance you created yourself (then pass
 * `onFetchConnectionToken: () => pos.fetchConnectionToken()` or createConnectionTokenFetcher()).
 */
export type TerminalSource<T extends TerminalLike> =
  | T
  | ((props: TerminalCallbacks & Record<string, unknown>) => T)
  | { create(props: TerminalCallbacks & Record<string, any>): T };

type Success<R> = Exclude<Awaited<R>, { error: any }>;
/** The PaymentIntent type T's collectPaymentMethod resolves to (ISdkManagedPaymentIntent for the real SDK). */
export type CollectedIntentOf<T extends TerminalLike> =
  Success<ReturnType<T['collectPaymentMethod']>> extends { paymentIntent: infer P } ? P : never;
/** The PaymentIntent type T's processPayment resolves to (IPaymentIntent for the real SDK). */
export type ProcessedIntentOf<T extends TerminalLike> =
  Success<ReturnType<T['processPayment']>> extends { paymentIntent: infer P } ? P : never;
/** The reader type T's connectReader resolves to (Reader for the real SDK). */
export type ReaderOf<T extends TerminalLike> =
  Success<ReturnType<T['connectReader']>> extends { reader: infer R } ? R : never;
/** The reader type T's discoverReaders lists. */
export type DiscoveredReaderOf<T extends TerminalLike> =
  Success<ReturnType<T['discoverReaders']>> extends { discoveredReaders: Array<infer R> } ? R : never;
type CollectConfigOf<T extends TerminalLike> =
  NonNullable<Parameters<T['collectPaymentMethod']>[1]> extends { config_override?: infer C } ? C : Record<string, unknown>;

// ---------------------------------------------------------------------------------------------
// Errors

export type ErrorKind =
  | 'declined'
  | 'cancelled'
  | 'reader_disconnected'
  | 'timeout'
  | 'network'
  | 'backend'
  | 'invalid_request'
  | 'unknown_outcome'
  | 'terminal';

export declare const ErrorKinds: Readonly<{
  DECLINED: 'declined';
  CANCELLED: 'cancelled';
  READER_DISCONNECTED: 'reader_disconnected';
  TIMEOUT: 'timeout';
  NETWORK: 'network';
  BACKEND: 'backend';
  INVALID_REQUEST: 'invalid_request';
  UNKNOWN_OUTCOME: 'unknown_outcome';
  TERMINAL: 'terminal';
}>;

export interface PosTerminalErrorDetails {
  code?: string | null;
  declineCode?: string | null;
  status?: number | null;
  param?: string | null;
  type?: string | null;
  paymentIntentId?: string | null;
  paymentStatus?: string | null;
  paymentIntent?: unknown;
  retryable?: boolean;
  raw?: unknown;
  cause?: unknown;
}

export declare class PosTerminalError extends Error {
  constructor(kind: ErrorKind, message: string, details?: PosTerminalErrorDetails);
  readonly name: 'PosTerminalError';
  kind: ErrorKind;
  /** SDK error code (e.g. 'canceled', 'network_timeout') or backend error code (e.g. 'card_not_saveable'). */
  code: string | null;
  /** Why the card was declined (kind 'declined'): 'generic_decline', 'insufficient_funds', … */
  declineCode: string | null;
  /** HTTP status of a backend error. */
  status: number | null;
  /** The request field a 400 names. */
  param: string | null;
  type: string | null;
  paymentIntentId: string | null;
  /** Stripe's PaymentIntent status when known: 'requires_payment_method' means not charged. */
  paymentStatus: string | null;
  paymentIntent: unknown;
  /** Safe to retry as is (network trouble, 502/503/504, …). */
  retryable: boolean;
  raw: unknown;
  /** Set when cancel() could not cancel the intent at the backend. */
  backendCancelError?: PosTerminalError;
  toJSON(): Record<string, unknown>;
}

export declare function isPosTerminalError(value: unknown): value is PosTerminalError;
/** An SDK `{error}`'s error → PosTerminalError (declined / cancelled / reader_disconnected / timeout / network / terminal). */
export declare function fromSdkError(error: SdkError | unknown, context?: { paymentIntentId?: string | null }): PosTerminalError;
/** A backend HTTP error → PosTerminalError (402 → declined, else backend). */
export declare function fromHttpError(status: number, body: unknown, context?: { paymentIntentId?: string | null }): PosTerminalError;
/** Anything thrown or an SDK `{error}` result → PosTerminalError. */
export declare function normalizeError(value: unknown, context?: { paymentIntentId?: string | null }): PosTerminalError;

// ---------------------------------------------------------------------------------------------
// Backend

export type PaymentIntentStatus =
  | 'requires_payment_method'
  | 'requires_confirmation'
  | 'requires_action'
  | 'processing'
  | 'requires_capture'
  | 'succeeded'
  | 'canceled';

/** Amount: major units, as a number or (better) a decimal string: 12.99 or "12.99". */
export type Amount = number | string;

/** The backend's payment record. Amounts are decimal strings ("12.99"). */
export interface Payment {
  id: string;
  status: PaymentIntentStatus;
  amount: string;
  amount_captured?: string | null;
  /** The tip (part of `amount`): chosen on the reader, or added on receipt; "0.00" without one. */
  amount_tip?: string | null;
  /** When an uncaptured authorisation lapses (ISO 8601), once authorised. */
  capture_before?: string | null;
  /** Whether incrementAuthorization can raise it (known once authorised). */
  incremental_authorization_supported?: boolean | null;
  /** Whether it can be captured above the authorised amount (a tip on receipt). */
  overcapture_supported?: boolean | null;
  currency: string;
  capture_method?: 'manual' | 'automatic';
  external_account_id: string;
  external_transaction_id: string;
  external_customer_id: string | null;
  customer_id: string | null;
  created_at: string;
  [field: string]: unknown;
}

/** POST /v1/payment/intent's answer. */
export interface PaymentIntentRecord extends Payment {
  client_secret: string;
}

export interface SavedCard {
  id: string;
  payment_method_id: string;
  customer_id: string;
  external_customer_id: string;
  brand: string;
  last4: string;
  exp_month: number;
  exp_year: number;
  created_at: string;
}

/** A card saved on the reader without a sale (POST /v1/customer/card/reader). */
export interface ReaderSetup {
  id: string;
  object: 'card_setup';
  status: 'creating' | 'in_progress' | 'succeeded' | 'failed' | 'canceled';
  external_customer_id: string;
  customer_id: string;
  reader_id: string | null;
  setup_intent_id: string | null;
  allow_redisplay: 'always' | 'limited' | 'unspecified';
  /** For the Terminal SDK, in the answer that created a setup without reader_id only. */
  client_secret: string | null;
  /** The saved card (the customer's card with the same fingerprint, if saved before). */
  card: SavedCard | null;
  failure: { code: string; decline_code: string | null; message: string | null } | null;
  created_at: string;
}

export interface SaveCardOnReaderParams {
  externalCustomerId: string;
  /** A smart reader (server-driven); without it this terminal's SDK reads the card. */
  readerId?: string;
  /** The customer's consent to see the card again in online checkouts (default 'limited'). */
  allowRedisplay?: 'always' | 'limited' | 'unspecified';
  external_account_id?: string;
  /** Server-driven: how long to wait for the reader (default 120 000 ms). */
  timeoutMs?: number;
  pollIntervalMs?: number;
  /** Simulated SDK only: the card presented. */
  testCardNumber?: string;
}

export interface FetchLike {
  (input: string, init?: { method?: string; headers?: Record<string, string>; body?: string; signal?: any }): Promise<{
    ok: boolean;
    status: number;
    text(): Promise<string>;
  }>;
}

export type AuthTokenSource = string | (() => string | Promise<string>);

export interface BackendClientOptions {
  /** The backend's origin, e.g. 'https://pos.example.com'; '' (default) = same origin. */
  backendUrl?: string;
  /** The JWT, or a function asked before every request (never cached by us). */
  getAuthToken: AuthTokenSource;
  fetch?: FetchLike;
  /** Per-request timeout (default 30 000 ms). */
  timeoutMs?: number;
  /** Retries of network errors, timeouts, 429 and 502/503/504 (default 2). */
  retries?: number;
  /** First backoff delay, doubled each retry (default 300 ms). */
  retryDelayMs?: number;
}

export interface CreateIntentParams {
  external_account_id: string;
  amount: Amount;
  currency?: string;
  external_transaction_id: string;
  external_customer_id?: string;
  payment_method_types?: 'card_present' | Array<'card_present' | 'interac_present'>;
  capture_method?: 'manual' | 'automatic';
  description?: string;
  metadata?: Record<string, string>;
  /** Ask Stripe for incremental authorisation (an open tab raised later with incrementAuthorization). */
  request_incremental_authorization_support?: boolean;
}

/** One line of a cart on the reader: `amount` is the unit price (major units), `quantity` defaults to 1. */
export interface CartLine {
  description: string;
  amount: Amount;
  quantity?: number;
}

export interface Cart {
  currency: string;
  line_items: CartLine[];
  tax?: Amount;
  /** Exactly the lines (amount × quantity) plus tax; computed by showCart when omitted. */
  total?: Amount;
}

/** A Stripe refund as the SDK's processRefund resolves it. */
export interface RefundLike {
  id?: string | null;
  amount?: number | null;
  currency?: string | null;
  charge?: string | unknown | null;
  status?: string | null;
}

/** A refund on the reader as the backend answers it (POST/GET /v1/payment/refund/reader). */
export interface ReaderRefund {
  id: string;
  object: 'reader_refund';
  payment_id: string | null;
  /** `server_driven` (a readerId was given) or `sdk` (the tablet collected the card). */
  mode: 'server_driven' | 'sdk';
  reader_id: string | null;
  /** Only `pending` changes. */
  status: 'pending' | 'succeeded' | 'failed' | 'canceled';
  amount: string;
  currency: string;
  stripe_refund_id: string | null;
  /** Stripe's code of a failed reader action (`card_mismatch`: not the card of the payment). */
  failure_code: string | null;
  failure_message: string | null;
  /** What collectRefundPaymentMethod takes (SDK mode); amount in minor units. */
  sdk: { charge_id: string | null; amount: number; currency: string } | null;
  created_at: string;
  payment: Payment;
}

/** A smart reader as the backend answers it (with its current action when read live). */
export interface ReaderRecord {
  id: string;
  label: string | null;
  device_type: string;
  location: string | null;
  created_at: string;
  status?: string | null;
  action?: {
    type: 'process_payment_intent' | 'set_reader_display' | string;
    status: 'in_progress' | 'succeeded' | 'failed' | string;
    failure_code: string | null;
    failure_message: string | null;
    payment_id: string | null;
  } | null;
  [field: string]: unknown;
}

export type ReceiptFormat = 'json' | 'text' | 'html';

/** GET /v1/payment/{id}/receipt (format json): what a card-present receipt prints. */
export interface Receipt {
  payment_id: string;
  external_account_id: string;
  external_transaction_id: string;
  merchant: { name: string | null; [field: string]: unknown };
  description: string | null;
  status: string;
  currency: string;
  /** Charged, tip included. */
  amount: string;
  /** Before the tip. */
  subtotal: string;
  tip: string | null;
  amount_captured: string;
  amount_refunded: string;
  refunds: Array<{ id: string; amount: string; status: string; created_at: string }>;
  authorized_at: string;
  card: {
    payment_method_type: string;
    brand: string | null;
    last4: string | null;
    funding: string | null;
    read_method: string | null;
    cardholder_name: string | null;
  };
  /** The EMV fields (AID, application name, TVR, …) under Stripe's field names and receipt labels. */
  emv: Array<{ field: string; label: string; value: string; required: boolean }>;
  receipt_url: string | null;
  [field: string]: unknown;
}

/** The receipt in `format`: the object for 'json', the document (string) for 'text' and 'html'. */
export type ReceiptOf<F extends ReceiptFormat> = F extends 'json' ? Receipt : string;

export interface BackendClient {
  request<R = unknown>(method: string, path: string, body?: object, options?: { retry?: boolean; paymentIntentId?: string; text?: boolean; timeoutMs?: number }): Promise<R>;
  connectionToken(params: { external_account_id: string; location?: string }): Promise<string>;
  createIntent(params: CreateIntentParams): Promise<PaymentIntentRecord>;
  capture(params: { payment_id: string; amount?: Amount; external_account_id: string }): Promise<Payment>;
  saveCard(params: { payment_id: string; external_customer_id: string; external_account_id: string }): Promise<SavedCard>;
  getPayment(params: { payment_id: string; external_account_id: string }): Promise<Payment>;
  cancelPayment(params: { payment_id: string; external_account_id: string }): Promise<Payment>;
  listCards(params: { external_account_id: string; external_customer_id: string }): Promise<SavedCard[]>;
  /** POST /v1/payment/increment: `amount` is the NEW TOTAL. Never retried automatically. */
  incrementAuthorization(params: { payment_id: string; amount: Amount; external_account_id: string }): Promise<Payment>;
  getReceipt<F extends ReceiptFormat = 'json'>(params: { payment_id: string; external_account_id: string; format?: F }): Promise<ReceiptOf<F>>;
  displayCart(params: { reader_id: string; external_account_id: string; currency: string; line_items: CartLine[]; tax?: Amount; total: Amount }): Promise<ReaderRecord>;
  /** Clears the cart (or stops the reader's payment action). */
  cancelReaderAction(params: { reader_id: string; external_account_id: string }): Promise<ReaderRecord>;
  processOnReader(params: {
    reader_id: string;
    external_account_id: string;
    payment_id: string;
    allow_redisplay?: 'always' | 'limited' | 'unspecified';
    skip_tipping?: boolean;
    /** Major units: what the tipping screen's percentages are computed on. */
    tip_eligible_amount?: Amount;
  }): Promise<ReaderRecord>;
  getReader(params: { reader_id: string; external_account_id: string }): Promise<ReaderRecord>;
  /** POST /v1/payment/refund/reader; retried under `idempotency_key` when given. */
  refundOnReader(params: { payment_id: string; external_account_id: string; amount?: Amount; reader_id?: string; idempotency_key?: string }): Promise<ReaderRefund>;
  /** GET /v1/payment/refund/reader/{id}. */
  getReaderRefund(params: { id: string; external_account_id: string }): Promise<ReaderRefund>;
  startReaderSetup(params: {
    external_account_id: string;
    external_customer_id: string;
    reader_id?: string;
    allow_redisplay?: 'always' | 'limited' | 'unspecified';
  }): Promise<ReaderSetup>;
  getReaderSetup(params: { setup_id: string; external_account_id: string }): Promise<ReaderSetup>;
  cancelReaderSetup(params: { setup_id: string; external_account_id: string }): Promise<ReaderSetup>;
  /** The reader only reads the card (server-driven collect); never retried automatically. */
  collectOnReader(params: {
    reader_id: string;
    external_account_id: string;
    payment_id: string;
    allow_redisplay?: 'always' | 'limited' | 'unspecified';
    skip_tipping?: boolean;
    tip_eligible_amount?: Amount;
  }): Promise<ReaderRecord>;
  /** The reader confirms the card it collected; never retried automatically. */
  confirmOnReader(params: { reader_id: string; external_account_id: string; payment_id: string }): Promise<ReaderRecord>;
  /** Long poll: answers when the reader's action changes past `after`, or after `timeout` s (0–30). */
  readerEvents(params: { reader_id: string; external_account_id: string; after?: number; timeout?: number }): Promise<ReaderEvents>;
}

/** The card a reader collected (server-driven collect), for the till to inspect. */
export interface CollectedCard {
  payment_method: string;
  type: string;
  brand: string | null;
  last4: string | null;
  funding: string | null;
  wallet: string | null;
}

/** A reader's action as recorded from our requests and Stripe's events. */
export interface ReaderActionState {
  type: string;
  status: 'in_progress' | 'succeeded' | 'failed' | 'canceled';
  payment_id: string | null;
  object_id: string | null;
  failure_code: string | null;
  failure_message: string | null;
  card: CollectedCard | null;
  updated_at: string | null;
}

/** GET /v1/terminal/readers/{id}/events. */
export interface ReaderEvents {
  reader_id: string;
  /** Pass it as the next `after`. */
  version: number;
  /** false: the wait timed out. */
  changed: boolean;
  action: ReaderActionState | null;
}

export declare function createBackendClient(options: BackendClientOptions): BackendClient;

/** A standalone onFetchConnectionToken: a fresh token from the backend on every call. */
export declare function createConnectionTokenFetcher(options: {
  backendUrl?: string;
  getAuthToken: AuthTokenSource;
  externalAccountId: string;
  location?: string;
  fetch?: FetchLike;
  backend?: BackendClient;
}): () => Promise<string>;

export declare function paymentIntentIdFromSecret(clientSecret: string): string | null;

// ---------------------------------------------------------------------------------------------
// PosTerminal

export type ChargeStep =
  | 'intent'
  | 'collect'
  | 'process'
  | 'declined'
  | 'verify'
  | 'capture'
  | 'save_card'
  | 'done'
  | 'cancelled';

export declare const ChargeSteps: Readonly<{
  INTENT: 'intent';
  COLLECT: 'collect';
  PROCESS: 'process';
  DECLINED: 'declined';
  VERIFY: 'verify';
  CAPTURE: 'capture';
  SAVE_CARD: 'save_card';
  DONE: 'done';
  CANCELLED: 'cancelled';
}>;

export interface ChargeStepEvent {
  step: ChargeStep;
  paymentIntentId: string | null;
  /** Card attempt number (1 for the first card). */
  attempt: number;
  /** 'declined': the decline; 'verify': the processing error being checked. */
  error?: PosTerminalError;
  payment?: Payment;
  card?: SavedCard | null;
  cardError?: PosTerminalError | null;
}

export interface AbortSignalLike {
  readonly aborted: boolean;
  addEventListener(type: 'abort', listener: () => void): void;
}

export interface DeclineContext {
  attempt: number;
  paymentIntentId: string;
  /** Aborted when cancel() is called while you decide. */
  signal: AbortSignalLike;
}

export interface ChargeParams {
  /** Defaults to the PosTerminal's externalAccountId. */
  external_account_id?: string;
  amount: Amount;
  currency?: string;
  /** Your sale id. The same id again resumes the same payment (never a second charge). */
  external_transaction_id: string;
  /** Required with saveCard. */
  external_customer_id?: string;
  /** Save the card on file after capture. */
  saveCard?: boolean;
  /**
   * Passed to collection as config_override.allow_redisplay. With a customer (the intent then has
   * setup_future_usage and Stripe requires 'always' or 'limited') it defaults to 'limited': the card
   * is kept for the merchant's own later charges, not offered again in online checkouts; 'always'
   * when the customer agreed to that. 'unspecified' with a customer is an invalid_request.
   */
  allowRedisplay?: 'always' | 'limited' | 'unspecified';
  description?: string;
  metadata?: Record<string, string>;
  /**
   * false: stop once the card is authorised (the payment is returned in requires_capture), e.g.
   * an open tab: incrementAuthorization as it grows, capturePayment to close it. Default true.
   */
  capture?: boolean;
  /** The intent asks for incremental authorisation support (for incrementAuthorization). */
  requestIncrementalAuthorizationSupport?: boolean;
  /** `['card_present', 'interac_present']` for a CAD sale that takes Interac (captured at once; refunded on the reader only). */
  paymentMethodTypes?: Array<'card_present' | 'interac_present'>;
  /** The SDK's config_override.skip_tipping: no tipping screen for this sale. */
  skipTipping?: boolean;
  /** Major units: the part of the amount the tipping screen's percentages apply to (the SDK's config_override.tipping.eligible_amount, converted exactly). */
  tipEligibleAmount?: Amount;
  /** The SDK's per-sale tip_configuration (tip options shown instead of the location's). */
  tipConfiguration?: unknown;
  onStep?: (event: ChargeStepEvent) => void;
  /**
   * Called on each decline. Resolve true to read another card on the same intent (e.g. after the
   * cashier asked for another card), false to stop: charge() then rejects with the decline and
   * can be resumed later with the same external_transaction_id. Without onDecline, a decline
   * rejects at once.
   */
  onDecline?: (error: PosTerminalError, context: DeclineContext) => boolean | Promise<boolean>;
}

export interface ChargeResult {
  /** The captured payment (status 'succeeded'), or the authorised one with capture: false ('requires_capture'). */
  payment: Payment;
  /** The saved card (saveCard), else null. */
  card: SavedCard | null;
  /** Why the card could not be saved (e.g. code 'card_not_saveable' for a wallet). The payment still succeeded. */
  cardError: PosTerminalError | null;
  /** The card the reader read in this call (brand, last4, …), when the terminal reported it. */
  cardPresent: CardPresentDetails | null;
  paymentIntentId: string;
  intent: PaymentIntentRecord;
  /** The PaymentIntent processPayment returned in this call (null when resumed or recovered). */
  paymentIntent: unknown;
  /** Cards presented in this call. */
  attempts: number;
  declines: PosTerminalError[];
  /** True when the outcome was established by asking the backend after a processing error. */
  recovered: boolean;
}

export interface CardPresentDetails {
  brand: string | null;
  last4: string | null;
  exp_month: number | null;
  exp_year: number | null;
  /** Wallet type ('apple_pay', …) for a wallet tap. */
  wallet: string | null;
}

/** Card details from a collected PaymentIntent (sdk_payment_details.card_present), or null. */
export declare function cardPresentDetails(paymentIntent: unknown): CardPresentDetails | null;

export interface CollectOptions<C = Record<string, unknown>> {
  /** Shortcut for allowRedisplay 'limited' (the default for an intent that saves the card). */
  saveCard?: boolean;
  allowRedisplay?: 'always' | 'limited' | 'unspecified';
  config_override?: C;
  tip_configuration?: unknown;
  /** Sets config_override.skip_tipping. */
  skipTipping?: boolean;
  /** Sets config_override.tipping.eligible_amount: MINOR units (cents), a positive whole number, as the SDK takes it. */
  tipEligibleAmount?: number;
}

export interface ConnectOptions {
  simulated?: boolean;
  location?: string;
  readerId?: string;
  label?: string;
  connectOptions?: unknown;
}

export interface PosTerminalOptions<T extends TerminalLike> {
  /** The backend's origin; '' (default) = same origin. */
  backendUrl?: string;
  /** The JWT, or a function asked before every backend request. */
  getAuthToken: AuthTokenSource;
  /** The merchant this till works for: used for connection tokens and as charge()'s default account. */
  externalAccountId?: string;
  /** Terminal location for connection tokens and discovery. */
  location?: string;
  terminal: TerminalSource<T>;
  /** Extra StripeTerminal.create() options (logLevel, readerBehavior, …). */
  terminalOptions?: Record<string, unknown>;
  fetch?: FetchLike;
  /** Use this backend client instead of building one. */
  backend?: BackendClient;
  requestTimeoutMs?: number;
  requestRetries?: number;
  retryDelayMs?: number;
  /**
   * Stop waiting for processPayment after this long (default 120 000; 0 = never): the SDK call is
   * cancelled (cancelProcessPayment) and the backend asked. If Stripe has no answer yet, charge()
   * rejects with kind 'unknown_outcome' (the reader may still authorise the card).
   */
  processTimeoutMs?: number;
  /** After that timeout, how long the cancelled SDK call may still answer (default 5 000). */
  processCancelTimeoutMs?: number;
  /** processPayment retries when the request provably never reached Stripe (default 1). */
  processRetries?: number;
  /** How long to keep asking the backend for a payment's true status (default 30 000). */
  verifyTimeoutMs?: number;
  verifyIntervalMs?: number;
  onUnexpectedReaderDisconnect?: (event: { error?: SdkError }) => void;
  onConnectionStatusChange?: (event: { status: ConnectionStatusValue }) => void;
  onPaymentStatusChange?: (event: { status: PaymentStatusValue }) => void;
}

export interface PosTerminal<T extends TerminalLike = TerminalLike> {
  /** The SDK (or simulated) terminal instance. */
  readonly terminal: T;
  readonly backend: BackendClient;
  /** The onFetchConnectionToken given to the SDK: a fresh token on every call. */
  fetchConnectionToken(): Promise<string>;
  discoverReaders(config?: Parameters<T['discoverReaders']>[0]): Promise<Array<DiscoveredReaderOf<T>>>;
  connectReader(reader: Parameters<T['connectReader']>[0], connectOptions?: Parameters<T['connectReader']>[1]): Promise<ReaderOf<T>>;
  /** Discover and connect (by readerId / label, else the first reader); no-op when connected. */
  connect(options?: ConnectOptions): Promise<ReaderOf<T>>;
  collectPaymentMethod(clientSecret: string, options?: CollectOptions<CollectConfigOf<T>>): Promise<CollectedIntentOf<T>>;
  processPayment(
    paymentIntent: Parameters<T['processPayment']>[0],
    options?: { timeoutMs?: number } & Record<string, unknown>,
  ): Promise<ProcessedIntentOf<T>>;
  /** intent → collect → process → capture → save card. See ChargeParams. */
  charge(params: ChargeParams): Promise<ChargeResult>;
  /**
   * Cancels the charge in progress before processing (reader collection + the intent at the
   * backend). Resolves true when cancelled (charge() then rejects with kind 'cancelled').
   */
  cancel(): Promise<boolean>;
  getState(): { phase: ChargeStep; paymentIntentId: string | null } | null;
  isReaderConnected(): boolean;
  getPayment(paymentId: string, externalAccountId?: string): Promise<Payment>;
  capturePayment(paymentId: string, options?: { amount?: Amount; external_account_id?: string }): Promise<Payment>;
  cancelPayment(paymentId: string, externalAccountId?: string): Promise<Payment>;
  saveCard(paymentId: string, externalCustomerId: string, externalAccountId?: string): Promise<SavedCard>;
  /**
   * Saves a card without a sale: on the smart reader `readerId` (server-driven), else with this
   * terminal's SDK (collectSetupIntentPaymentMethod + confirmSetupIntent). Rejects kind 'declined'
   * (declineCode), 'cancelled', … with `setup` on the error.
   */
  saveCardOnReader(params: SaveCardOnReaderParams): Promise<{ setup: ReaderSetup; card: SavedCard }>;
  getReaderSetup(setupId: string, externalAccountId?: string): Promise<ReaderSetup>;
  cancelReaderSetup(setupId: string, externalAccountId?: string): Promise<ReaderSetup>;
  listCards(externalCustomerId: string, externalAccountId?: string): Promise<SavedCard[]>;
  /** Raises an authorised payment to `newTotal` (the new TOTAL, major units): POST /v1/payment/increment. */
  incrementAuthorization(paymentId: string, newTotal: Amount, options?: { external_account_id?: string }): Promise<Payment>;
  getReceipt<F extends ReceiptFormat = 'json'>(paymentId: string, options?: { format?: F; external_account_id?: string }): Promise<ReceiptOf<F>>;
  /** Shows a cart on a smart reader; `total` is computed exactly when omitted. */
  showCart(readerId: string, cart: Cart, options?: { external_account_id?: string }): Promise<ReaderRecord>;
  /** Clears the reader's cart. */
  clearCart(readerId: string, options?: { external_account_id?: string }): Promise<ReaderRecord>;
  /** Server-driven: the smart reader collects and processes the payment. */
  processOnReader(readerId: string, paymentId: string, options?: {
    skipTipping?: boolean;
    /** Major units. */
    tipEligibleAmount?: Amount;
    allowRedisplay?: 'always' | 'limited' | 'unspecified';
    external_account_id?: string;
  }): Promise<ReaderRecord>;
  getReader(readerId: string, externalAccountId?: string): Promise<ReaderRecord>;
  /** Long-polls the reader's events until its action ends (or `until` holds); `timeout` error past `deadlineMs`. */
  waitForReaderAction(readerId: string, options?: {
    paymentId?: string;
    until?: (action: ReaderActionState | null) => boolean;
    after?: number;
    deadlineMs?: number;
    external_account_id?: string;
  }): Promise<ReaderEvents>;
  /** processOnReader, then waits (events, no polling) for the ended action. */
  processOnReaderAndWait(readerId: string, paymentId: string, options?: {
    skipTipping?: boolean;
    tipEligibleAmount?: Amount;
    allowRedisplay?: 'always' | 'limited' | 'unspecified';
    deadlineMs?: number;
    external_account_id?: string;
  }): Promise<ReaderActionState>;
  /** Collect only, then waits for the card (the ended collect action, its `card`). */
  collectOnReader(readerId: string, paymentId: string, options?: {
    skipTipping?: boolean;
    tipEligibleAmount?: Amount;
    allowRedisplay?: 'always' | 'limited' | 'unspecified';
    deadlineMs?: number;
    external_account_id?: string;
  }): Promise<ReaderActionState>;
  /** The reader confirms the payment whose card it collected. */
  confirmOnReader(readerId: string, paymentId: string, options?: { external_account_id?: string }): Promise<ReaderRecord>;
  /**
   * Refunds a paid payment in person (Interac must be). With `readerId` (server-driven) it
   * resolves with the pending reader refund once the reader asks for the card; without, the
   * connected reader collects the card through the SDK and it resolves with the outcome.
   */
  refundOnReader(params: {
    paymentId: string;
    /** Major units; default: what is left to refund. */
    amount?: Amount;
    readerId?: string;
    idempotencyKey?: string;
    external_account_id?: string;
  }): Promise<{ readerRefund: ReaderRefund; refund?: RefundLike | null }>;
  /** The reader refund, its outcome read from Stripe while pending. */
  getReaderRefund(id: string, externalAccountId?: string): Promise<ReaderRefund>;
}

export declare function createPosTerminal<T extends TerminalLike>(options: PosTerminalOptions<T>): PosTerminal<T>;

// ---------------------------------------------------------------------------------------------
// Exact money (src/money.js): decimal major units ↔ minor units, BigInt only

/** Decimals of `currency` (0 for jpy, 3 for kwd, else 2). */
export declare function currencyExponent(currency: string): number;
/** "12.99" / 12.99 → 1299n; too many decimals or a malformed amount is an invalid_request naming `param`. */
export declare function toMinorUnits(amount: Amount, currency: string, param?: string): bigint;
/** 1299n → "12.99". */
export declare function fromMinorUnits(minor: bigint | number, currency: string): string;
/** The exact total of a cart: lines (amount × quantity) plus tax, as a decimal string. */
export declare function cartTotal(cart: { currency: string; line_items?: CartLine[]; tax?: Amount | null }): string;

// ---------------------------------------------------------------------------------------------
// Simulated terminal (src/simulated.js, also re-exported from the package root)

export interface TestCard {
  readonly number: string;
  readonly brand: string;
  readonly label: string;
  readonly outcome: 'approved' | 'declined';
  readonly declineCode?: string;
  readonly wallet?: boolean;
}

export declare const TEST_CARDS: ReadonlyArray<TestCard>;

export interface SimulatedReader {
  id: string;
  object: 'terminal.reader';
  action: null;
  device_sw_version: string;
  device_type: string;
  ip_address: string;
  label: string;
  last_seen_at: number | null;
  livemode: boolean;
  location: string | null;
  metadata: Record<string, string>;
  serial_number: string;
  status: 'online' | 'offline' | null;
}

/** A Stripe PaymentIntent as the simulator returns it. */
export interface SimulatedPaymentIntent {
  id: string;
  object: 'payment_intent';
  amount: number;
  currency: string;
  status: PaymentIntentStatus;
  capture_method: 'manual' | 'automatic' | 'automatic_async';
  client_secret?: string | null;
  customer?: string | null;
  payment_method?: unknown;
  latest_charge?: string | null;
  metadata?: Record<string, string>;
  [field: string]: unknown;
}

export interface SimulatedCollectedPaymentIntent extends SimulatedPaymentIntent {
  sdk_payment_details: unknown;
}

export interface SimulatorConfiguration {
  testCardNumber?: string | null;
  testPaymentMethod?: string | null;
  /** The tip the customer picks on the tipping screen, minor units (as in the SDK's simulator). */
  tipAmount?: number | null;
  [key: string]: unknown;
}

export interface SimulatedFault {
  operation: 'connect' | 'collect' | 'process';
  /** SDK error code to answer with (default 'network_timeout'). */
  code?: string;
  message?: string;
  /** process: send the request first (the payment goes through), then lose the answer. */
  reachServer?: boolean;
  /** process: never answer (until cancelProcessPayment). */
  hang?: boolean;
  /** process: wait this long before sending the request (a slow reader); cancelProcessPayment meanwhile stops it. */
  delayMs?: number;
  /** process: also drop the reader (onUnexpectedReaderDisconnect fires). */
  disconnect?: boolean;
}

export interface SimulatedTerminalOptions {
  /** The backend's origin; '' = same origin. */
  backendUrl?: string;
  /** The simulator's base: a path joined to backendUrl (default '/sim/stripe') or an absolute URL. */
  stripeApiBase?: string;
  fetch?: FetchLike;
  onFetchConnectionToken: () => Promise<string>;
  onUnexpectedReaderDisconnect?: (event: { error?: SdkError }) => void;
  onConnectionStatusChange?: (event: { status: ConnectionStatusValue }) => void;
  onPaymentStatusChange?: (event: { status: PaymentStatusValue }) => void;
  /** How long the simulated customer takes to present a card (default 0). */
  readerDelayMs?: number;
  requestTimeoutMs?: number;
  readers?: SimulatedReader[];
  /**
   * Simulator only: called when the reader shows a tipping screen (and no tipAmount is
   * configured); resolve the tip the customer picks in minor units (0 or null: no tip).
   * `cancelled` resolves when the collection is cancelled meanwhile.
   */
  onTipScreen?: (screen: TipScreen & { paymentIntentId: string; cancelled: Promise<void> }) => number | null | Promise<number | null>;
}

/** One choice of the tipping screen (amounts in minor units). */
export type TipOption =
  | { type: 'percentage'; percentage: number; amount: number }
  | { type: 'fixed_amount'; amount: number };

/** What the simulated reader shows before the card. */
export interface TipScreen {
  screen: 'tipping' | 'collect_payment_method';
  /** The amount before any tip, minor units. */
  amount: number;
  currency: string;
  tip_options: TipOption[] | null;
}

/** A SetupIntent as the simulated SDK returns it. */
export interface SimulatedSetupIntent {
  id: string;
  status: string;
  client_secret?: string | null;
  customer?: string | null;
  payment_method?: unknown;
  latest_attempt?: unknown;
  [field: string]: unknown;
}

export interface SimulatedTerminal {
  getConnectionStatus(): ConnectionStatusValue;
  getPaymentStatus(): PaymentStatusValue;
  getConnectedReader(): SimulatedReader | null;
  discoverReaders(config?: { simulated?: boolean; location?: string; method?: string; device_type?: string }):
    Promise<{ discoveredReaders: SimulatedReader[] } | SdkErrorResult>;
  connectReader(reader: SimulatedReader, connectOptions?: { fail_if_in_use?: boolean | null }):
    Promise<{ reader: SimulatedReader } | SdkErrorResult>;
  disconnectReader(): Promise<Record<string, never>>;
  clearCachedCredentials(): Promise<Record<string, never>>;
  collectPaymentMethod(
    clientSecret: string,
    options?: {
      config_override?: { allow_redisplay?: 'always' | 'limited' | 'unspecified' | null; [key: string]: unknown };
      tip_configuration?: unknown;
      /** Simulator only: the card presented for this call. */
      testCardNumber?: string;
    },
  ): Promise<{ paymentIntent: SimulatedCollectedPaymentIntent } | SdkErrorResult>;
  cancelCollectPaymentMethod(): Promise<Record<string, never> | SdkErrorResult>;
  processPayment(paymentIntent: SimulatedCollectedPaymentIntent | SimulatedPaymentIntent, options?: unknown):
    Promise<{ paymentIntent: SimulatedPaymentIntent } | SdkErrorResult>;
  /** Stops a processPayment in progress (it resolves with error code 'canceled'). */
  cancelProcessPayment(): Promise<Record<string, never> | SdkErrorResult>;
  /** In-person refund (Interac): the card of the charge is presented; `amount` in minor units. */
  collectRefundPaymentMethod(chargeId: string, amount: number, currency: string, options?: unknown): Promise<Record<string, never> | SdkErrorResult>;
  cancelCollectRefundPaymentMethod(): Promise<Record<string, never> | SdkErrorResult>;
  /** Makes the refund collected. */
  processRefund(): Promise<{ refund: RefundLike } | SdkErrorResult>;
  /** Reads a card for a card_present SetupIntent (saved without a payment). */
  collectSetupIntentPaymentMethod(
    clientSecret: string,
    allowRedisplay: 'always' | 'limited' | 'unspecified' | boolean,
    config?: { testCardNumber?: string } | null,
  ): Promise<{ setupIntent: SimulatedSetupIntent } | SdkErrorResult>;
  cancelCollectSetupIntentPaymentMethod(): Promise<Record<string, never> | SdkErrorResult>;
  /** Confirms the collected SetupIntent: the card is saved (latest_attempt names it), or a decline. */
  confirmSetupIntent(setupIntent: SimulatedSetupIntent): Promise<{ setupIntent: SimulatedSetupIntent } | SdkErrorResult>;
  /** Overwrites the configuration; reset after each processPayment, like the real simulated reader. */
  setSimulatorConfiguration(config: SimulatorConfiguration): void;
  getSimulatorConfiguration(): SimulatorConfiguration;
  /** Simulator only: the screen the reader shows before the card (tipping or not), config_override as for collect. */
  getTipScreen(clientSecret: string, configOverride?: { skip_tipping?: boolean | null; tipping?: { eligible_amount?: number | null } | null }):
    Promise<TipScreen | SdkErrorResult>;
  /** Simulator only: make the next operation fail. */
  simulateFault(fault: SimulatedFault): void;
  /** Simulator only: the reader drops off. */
  simulateReaderDisconnect(): void;
}

export declare function createSimulatedTerminal(options: SimulatedTerminalOptions): SimulatedTerminal;

/** A StripeTerminal-like namespace whose create() builds simulated terminals. */
export interface SimulatedStripeTerminal {
  create(props: Partial<SimulatedTerminalOptions> & { onFetchConnectionToken: () => Promise<string> }): SimulatedTerminal;
  PaymentStatus: Readonly<{ NOT_READY: 'not_ready'; READY: 'ready'; WAITING_FOR_INPUT: 'waiting_for_input'; PROCESSING: 'processing' }>;
  ConnectionStatus: Readonly<{ CONNECTING: 'connecting'; CONNECTED: 'connected'; NOT_CONNECTED: 'not_connected' }>;
  OutputLogLevel: Readonly<{ NONE: 'none'; VERBOSE: 'verbose' }>;
}

export declare function createSimulatedStripeTerminal(defaults?: Partial<SimulatedTerminalOptions>): SimulatedStripeTerminal;
