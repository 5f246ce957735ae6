// A simulated Stripe Terminal: the subset of the StripeTerminal JS SDK's Terminal that terminal-js
// uses, backed by pos-backend's embedded Stripe simulator (`{backendUrl}{stripeApiBase}/_sim/terminal/*`).
//
// Like the real SDK, every method resolves (never rejects) to a result object or `{error}`, with
// the real SDK's error codes (no_established_connection, canceled, network_timeout, …) and, for
// declines, Stripe's card error with `decline_code` and the updated `payment_intent`.
//
// Choose the card the "customer" presents with setSimulatorConfiguration({testCardNumber}) (reset
// after each processPayment, as the real SDK does) or per call with
// collectPaymentMethod(secret, {testCardNumber}).
//
// Tipping: when the session's location configures tipping for the intent's currency (and the
// collect's config_override does not skip_tipping), the reader shows a tipping screen. The tip the
// customer picks is setSimulatorConfiguration({tipAmount}) (minor units, as in the SDK's
// simulator), or, with the simulator-only option onTipScreen, the answer of
// onTipScreen({paymentIntentId, amount, currency, tip_options}) — a UI that shows the screen and
// lets a person choose.

const DEFAULT_CARD = '4242424242424242';

/** Test cards understood by the simulator. */
export const TEST_CARDS = Object.freeze([
  { number: '4242424242424242', brand: 'visa', label: 'Visa · approved', outcome: 'approved' },
  { number: '5555555555554444', brand: 'mastercard', label: 'Mastercard · approved', outcome: 'approved' },
  { number: '4111111111111111', brand: 'visa', label: 'Wallet tap · approved, not saveable', outcome: 'approved', wallet: true },
  { number: '4000000000000002', brand: 'visa', label: 'Declined · generic_decline', outcome: 'declined', declineCode: 'generic_decline' },
  { number: '4000000000009995', brand: 'visa', label: 'Declined · insufficient_funds', outcome: 'declined', declineCode: 'insufficient_funds' },
  { number: '4000000000000069', brand: 'visa', label: 'Declined · expired_card', outcome: 'declined', declineCode: 'expired_card' },
  { number: '4000000000000119', brand: 'visa', label: 'Declined · processing_error', outcome: 'declined', declineCode: 'processing_error' },
].map(Object.freeze));

const TEST_PAYMENT_METHODS = {
  visa: '4242424242424242',
  mastercard: '5555555555554444',
  visa_debit: '4242424242424242',
};

const SIMULATED_READERS = Object.freeze([
  {
    id: 'tmr_simulated_wisepos_e',
    object: 'terminal.reader',
    action: null,
    device_sw_version: '2.26.0.0',
    device_type: 'simulated_wisepos_e',
    ip_address: '0.0.0.0',
    label: 'Simulated WisePOS E',
    last_seen_at: null,
    livemode: false,
    location: null,
    metadata: {},
    serial_number: 'SIM-WPE-0001',
    status: 'online',
  },
  {
    id: 'tmr_simulated_s700',
    object: 'terminal.reader',
    action: null,
    device_sw_version: '2.26.0.0',
    device_type: 'stripe_s700',
    ip_address: '0.0.0.0',
    label: 'Simulated S700',
    last_seen_at: null,
    livemode: false,
    location: null,
    metadata: {},
    serial_number: 'SIM-S700-0001',
    status: 'online',
  },
]);

const sdkError = (code, message, extra = {}) => ({ error: { code, message, ...extra } });

function joinUrl(base, path) {
  return `${(base ?? '').replace(/\/+$/, '')}${path}`;
}

function defaultFetch() {
  if (typeof globalThis.fetch !== 'function') throw new TypeError('No fetch available: pass options.fetch');
  return globalThis.fetch.bind(globalThis);
}

/**
 * @param {object} options
 * @param {string} [options.backendUrl] the backend's origin ('' = same origin)
 * @param {string} [options.stripeApiBase] the simulator's base: a path ('/sim/stripe', default) joined
 *   to backendUrl, or an absolute URL
 * @param {() => Promise<string>} options.onFetchConnectionToken
 */
export function createSimulatedTerminal(options = {}) {
  const {
    backendUrl = '',
    stripeApiBase = '/sim/stripe',
    onFetchConnectionToken,
    onUnexpectedReaderDisconnect,
    onConnectionStatusChange,
    onPaymentStatusChange,
    readerDelayMs = 0,
    requestTimeoutMs = 30_000,
    onTipScreen,
  } = options;
  if (typeof onFetchConnectionToken !== 'function') {
    throw new TypeError('createSimulatedTerminal: onFetchConnectionToken must be a function returning a Promise<string>');
  }
  const fetchFn = options.fetch ?? defaultFetch();
  const simBase = /^https?:\/\//.test(stripeApiBase) ? stripeApiBase : joinUrl(backendUrl, stripeApiBase);
  const readers = (options.readers ?? SIMULATED_READERS).map((r) => ({ ...r }));

  let connectionStatus = 'not_connected';
  let paymentStatus = 'not_ready';
  let connectedReader = null;
  let session = null;
  let simulatorConfig = {};
  let collectOp = null; // {cancelled, cancel()}
  let processOp = null; // {cancelled, cancel()}
  const secrets = new Map(); // pi id → client secret (processPayment gets the PaymentIntent object)
  const faults = [];

  const notify = (fn, event) => {
    if (typeof fn !== 'function') return;
    try { fn(event); } catch { /* app callback errors never break the terminal */ }
  };
  const setConnectionStatus = (status) => {
    if (status === connectionStatus) return;
    connectionStatus = status;
    notify(onConnectionStatusChange, { status });
  };
  const setPaymentStatus = (status) => {
    if (status === paymentStatus) return;
    paymentStatus = status;
    notify(onPaymentStatusChange, { status });
  };

  /**
   * POST to the simulator; resolves to {ok, json} or an SDK `{error}`. Never rejects. `op`
   * (a cancellable operation) aborts the request when cancelled.
   */
  async function simPost(path, body, op = null) {
    const controller = typeof AbortController === 'function' ? new AbortController() : null;
    let timedOut = false;
    op?.cancelPromise.then(() => controller?.abort());
    const timer = controller && requestTimeoutMs > 0
      ? setTimeout(() => { timedOut = true; controller.abort(); }, requestTimeoutMs)
      : null;
    try {
      const res = await fetchFn(joinUrl(simBase, path), {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify(body),
        signal: controller?.signal,
      });
      const text = await res.text();
      let json = null;
      try { json = text ? JSON.parse(text) : null; } catch { json = null; }
      if (res.ok && json) return { ok: true, json };
      const e = json && typeof json.error === 'object' && json.error ? json.error : {};
      return {
        ok: false,
        status: res.status,
        error: {
          ...e,
          code: e.code ?? (res.status >= 500 ? 'network_error' : 'reader_error'),
          message: e.message ?? `Simulator answered HTTP ${res.status}`,
        },
      };
    } catch (cause) {
      return timedOut
        ? { ok: false, error: { code: 'network_timeout', message: 'The request to the simulated reader timed out.' } }
        : { ok: false, error: { code: 'network_error', message: `Could not reach the simulator: ${cause?.message ?? cause}` } };
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  /** Fetches a connection token (fresh, from the app) and redeems it for a simulator session. */
  async function openSession() {
    let token;
    try {
      token = await onFetchConnectionToken();
    } catch (cause) {
      return sdkError('failed_fetch_connection_token',
        `Failed to fetch a connection token: ${cause?.message ?? cause}`);
    }
    if (typeof token !== 'string' || !token) {
      return sdkError('failed_fetch_connection_token', 'onFetchConnectionToken did not resolve to a token string');
    }
    const res = await simPost('/_sim/terminal/sessions', { connection_token: token });
    if (!res.ok) return { error: res.error };
    if (typeof res.json.session !== 'string') return sdkError('reader_error', 'The simulator returned no session');
    session = res.json.session;
    return { session };
  }

  /** A session call that re-opens the session once if the simulator no longer knows it. */
  async function sessionPost(path, body, op = null) {
    if (!session) {
      const opened = await openSession();
      if (opened.error) return { ok: false, error: opened.error };
    }
    let res = await simPost(path, { session, ...body }, op);
    if (!res.ok && res.status === 401) {
      session = null;
      const opened = await openSession();
      if (opened.error) return { ok: false, error: opened.error };
      res = await simPost(path, { session, ...body }, op);
    }
    return res;
  }

  function takeFault(operation) {
    const i = faults.findIndex((f) => f.operation === operation);
    return i < 0 ? null : faults.splice(i, 1)[0];
  }

  function faultError(fault) {
    const messages = {
      network_timeout: 'The request to the reader timed out.',
      network_error: 'A network error occurred while talking to the reader.',
      reader_connection_error: 'The connection to the reader was lost.',
      no_established_connection: 'No reader is connected.',
    };
    return sdkError(fault.code, fault.message ?? messages[fault.code] ?? `Simulated ${fault.code}`);
  }

  function disconnectLocally() {
    session = null;
    connectedReader = null;
    setPaymentStatus('not_ready');
    setConnectionStatus('not_connected');
  }

  /** A reader command that cancel*() can stop: `cancelPromise` resolves when it is cancelled. */
  function cancellableOp() {
    let cancelResolve;
    return {
      cancelled: false,
      disconnected: false,
      cancelPromise: new Promise((resolve) => { cancelResolve = resolve; }),
      cancel() { this.cancelled = true; cancelResolve(); },
    };
  }

  /** Waits `ms` (forever when null) unless `op` is cancelled first. */
  async function waitUnlessCancelled(op, ms) {
    let timer;
    await Promise.race([
      ms === null ? new Promise(() => {}) : new Promise((resolve) => { timer = setTimeout(resolve, ms); }),
      op.cancelPromise,
    ]);
    clearTimeout(timer);
  }

  const cardFrom = (collectOptions) => {
    if (collectOptions?.testCardNumber) return String(collectOptions.testCardNumber);
    if (simulatorConfig.testCardNumber) return String(simulatorConfig.testCardNumber);
    if (simulatorConfig.testPaymentMethod && TEST_PAYMENT_METHODS[simulatorConfig.testPaymentMethod]) {
      return TEST_PAYMENT_METHODS[simulatorConfig.testPaymentMethod];
    }
    return DEFAULT_CARD;
  };

  /**
   * The SDK adds `sdk_payment_details` (what the reader read) to the collected PaymentIntent. Use
   * the simulator's expanded payment_method when it has one, else what our reader "read".
   */
  function withSdkDetails(pi, cardNumber) {
    if (!pi || typeof pi !== 'object') return pi;
    const pm = pi.payment_method;
    if (pm && typeof pm === 'object' && pm.card_present) return { ...pi, sdk_payment_details: pm };
    const known = TEST_CARDS.find((c) => c.number === cardNumber);
    const details = {
      id: typeof pm === 'string' ? pm : pm?.id ?? null,
      type: 'card_present',
      card_present: {
        brand: known?.brand ?? null,
        last4: cardNumber ? cardNumber.slice(-4) : null,
        exp_month: null,
        exp_year: null,
        wallet: known?.wallet ? { type: 'apple_pay' } : null,
      },
    };
    return { ...pi, sdk_payment_details: details };
  }

  /** The tipping screen the reader shows for an intent (`/_sim/terminal/tip_options`). */
  async function tipScreen(clientSecret, configOverride) {
    const eligible = configOverride?.tipping?.eligible_amount;
    const res = await sessionPost('/_sim/terminal/tip_options', {
      client_secret: clientSecret,
      ...(typeof configOverride?.skip_tipping === 'boolean' ? { skip_tipping: configOverride.skip_tipping } : {}),
      ...(Number.isSafeInteger(eligible) ? { tip_eligible_amount: eligible } : {}),
    });
    return res.ok ? { screen: res.json } : { error: { error: res.error } };
  }

  /**
   * The tip the customer picks: simulatorConfig.tipAmount, else onTipScreen's answer when the
   * reader shows a tipping screen, else none. Resolves {amount} (minor units) or {error}.
   */
  async function chooseTip(clientSecret, configOverride, op) {
    if (Number.isSafeInteger(simulatorConfig.tipAmount)) return { amount: simulatorConfig.tipAmount };
    if (typeof onTipScreen !== 'function' || configOverride?.skip_tipping === true) return { amount: 0 };
    const shown = await tipScreen(clientSecret, configOverride);
    if (shown.error) return shown;
    if (shown.screen.screen !== 'tipping') return { amount: 0 };
    const paymentIntentId = clientSecret.slice(0, clientSecret.indexOf('_secret_'));
    let picked;
    try {
      picked = await Promise.race([
        Promise.resolve(onTipScreen({ paymentIntentId, ...shown.screen, cancelled: op.cancelPromise })),
        op.cancelPromise.then(() => 0),
      ]);
    } catch (cause) {
      return { error: sdkError('reader_error', `The tipping screen failed: ${cause?.message ?? cause}`) };
    }
    const amount = picked === null || picked === undefined ? 0 : Number(picked);
    if (!Number.isSafeInteger(amount) || amount < 0) {
      return { error: sdkError('reader_error', 'onTipScreen must resolve a whole number of minor units (0: no tip)') };
    }
    return { amount };
  }

  const terminal = {
    getConnectionStatus: () => connectionStatus,
    getPaymentStatus: () => paymentStatus,
    getConnectedReader: () => connectedReader,

    async discoverReaders(_config = {}) {
      return { discoveredReaders: readers.map((r) => ({ ...r })) };
    },

    async connectReader(reader, _connectOptions) {
      if (connectionStatus === 'connected') {
        return sdkError('already_connected', 'Already connected to a reader. Disconnect first.');
      }
      const known = reader && readers.find((r) => r.id === reader.id);
      if (!known) return sdkError('invalid_reader_shape', 'connectReader needs a reader returned by discoverReaders.');
      const fault = takeFault('connect');
      if (fault) return faultError(fault);
      setConnectionStatus('connecting');
      session = null;
      const opened = await openSession();
      if (opened.error) {
        setConnectionStatus('not_connected');
        return { error: opened.error };
      }
      connectedReader = { ...known, status: 'online' };
      setConnectionStatus('connected');
      setPaymentStatus('ready');
      return { reader: { ...connectedReader } };
    },

    async disconnectReader() {
      if (collectOp) collectOp.cancel();
      disconnectLocally();
      return {};
    },

    async clearCachedCredentials() {
      session = null;
      return {};
    },

    async collectPaymentMethod(clientSecret, collectOptions = {}) {
      if (connectionStatus !== 'connected') return sdkError('no_established_connection', 'No reader is connected.');
      if (collectOp || processOp) {
        return sdkError('command_already_in_progress', 'Another command is already in progress on the reader.');
      }
      if (typeof clientSecret !== 'string' || !clientSecret.includes('_secret_')) {
        return sdkError('invalid_payment_intent_client_secret', 'collectPaymentMethod needs a PaymentIntent client secret.');
      }
      const op = cancellableOp();
      collectOp = op;
      setPaymentStatus('waiting_for_input');
      const canceledResult = () => (op.disconnected
        ? sdkError('reader_connection_error', 'The connection to the reader was lost.')
        : sdkError('canceled', 'The command was canceled.'));
      try {
        // The customer takes a moment to present the card; cancellable meanwhile.
        if (readerDelayMs > 0) await waitUnlessCancelled(op, readerDelayMs);
        if (op.cancelled) return canceledResult();
        const fault = takeFault('collect');
        if (fault) return faultError(fault);
        const allowRedisplay = collectOptions?.config_override?.allow_redisplay;
        const skipTipping = collectOptions?.config_override?.skip_tipping;
        const cardNumber = cardFrom(collectOptions);
        const tip = await chooseTip(clientSecret, collectOptions?.config_override, op);
        if (tip.error) return tip.error;
        if (op.cancelled) return canceledResult();
        const collectBody = {
          client_secret: clientSecret,
          card_number: cardNumber,
          ...(allowRedisplay ? { allow_redisplay: allowRedisplay } : {}),
          ...(typeof skipTipping === 'boolean' ? { skip_tipping: skipTipping } : {}),
          ...(tip.amount > 0 ? { tip_amount: tip.amount } : {}),
        };
        let res = await sessionPost('/_sim/terminal/collect', collectBody);
        if (!res.ok && res.error?.code === 'payment_intent_unexpected_state' && !op.cancelled) {
          // The intent still holds a card collected earlier that was never processed (a reader
          // that went silent, a page reload): Stripe lets a new read replace it, the simulator
          // wants it dropped first. cancel_collect only succeeds while nothing was charged.
          const dropped = await sessionPost('/_sim/terminal/cancel_collect', { client_secret: clientSecret });
          if (dropped.ok) res = await sessionPost('/_sim/terminal/collect', collectBody);
        }
        if (op.cancelled) {
          if (res.ok && !op.disconnected) {
            await sessionPost('/_sim/terminal/cancel_collect', { client_secret: clientSecret });
          }
          return canceledResult();
        }
        if (!res.ok) return { error: res.error };
        const pi = res.json;
        if (pi?.id) secrets.set(pi.id, clientSecret);
        return { paymentIntent: withSdkDetails(pi, cardNumber) };
      } finally {
        collectOp = null;
        if (connectionStatus === 'connected') setPaymentStatus('ready');
      }
    },

    async cancelCollectPaymentMethod() {
      if (!collectOp || collectOp.cancelled) {
        return sdkError('no_active_collect_payment_method_attempt',
          'cancelCollectPaymentMethod can only be called when collectPaymentMethod is in progress.');
      }
      collectOp.cancel();
      return {};
    },

    async processPayment(paymentIntent, _processOptions) {
      if (connectionStatus !== 'connected') return sdkError('no_established_connection', 'No reader is connected.');
      if (collectOp || processOp) {
        return sdkError('command_already_in_progress', 'Another command is already in progress on the reader.');
      }
      const clientSecret = paymentIntent?.client_secret ?? secrets.get(paymentIntent?.id);
      if (!paymentIntent || typeof paymentIntent !== 'object' || !clientSecret) {
        return sdkError('invalid_payment_intent_input_shape',
          'processPayment needs the PaymentIntent returned by collectPaymentMethod.');
      }
      const op = cancellableOp();
      processOp = op;
      setPaymentStatus('processing');
      const canceled = () => sdkError('canceled', 'The command was canceled.');
      try {
        const fault = takeFault('process');
        // A slow reader: cancelProcessPayment meanwhile means the request is never sent.
        if (fault?.delayMs > 0) await waitUnlessCancelled(op, fault.delayMs);
        if (op.cancelled) return canceled();
        if (fault && !fault.reachServer && !fault.delayMs) {
          if (fault.hang) await waitUnlessCancelled(op, null);
          return op.cancelled ? canceled() : faultError(fault);
        }
        // Once sent, the request may reach Stripe even if cancelled meanwhile (like a real reader):
        // an answer that still arrives is reported, cancelled or not.
        const res = await sessionPost('/_sim/terminal/process', { client_secret: clientSecret }, op);
        if (op.cancelled && (!res.ok || fault?.reachServer)) return canceled();
        if (fault?.reachServer) {
          // The request reached Stripe but its answer was lost.
          if (fault.disconnect) {
            disconnectLocally();
            notify(onUnexpectedReaderDisconnect, faultError(fault));
          }
          if (fault.hang) await waitUnlessCancelled(op, null);
          return op.cancelled ? canceled() : faultError(fault);
        }
        if (!res.ok) return { error: res.error };
        return { paymentIntent: res.json };
      } finally {
        processOp = null;
        simulatorConfig = {}; // the real simulated reader reverts to its defaults after processPayment
        if (connectionStatus === 'connected') setPaymentStatus('ready');
      }
    },

    /** Stops a processPayment in progress: it resolves with error code 'canceled'. */
    async cancelProcessPayment() {
      if (!processOp || processOp.cancelled) {
        return sdkError('no_active_process_payment_attempt',
          'cancelProcessPayment can only be called when processPayment is in progress.');
      }
      processOp.cancel();
      return {};
    },

    /**
     * In-person refund, step 1 (Interac): the cardholder presents the card of the charge
     * (setSimulatorConfiguration({testCardNumber}) presents another one; the simulator refuses a
     * card that is not the charge's). `amount` in minor units.
     */
    async collectRefundPaymentMethod(chargeId, amount, currency, _options = {}) {
      if (connectionStatus !== 'connected') return sdkError('no_established_connection', 'No reader is connected.');
      if (collectOp || processOp) {
        return sdkError('command_already_in_progress', 'Another command is already in progress on the reader.');
      }
      const op = cancellableOp();
      collectOp = op;
      setPaymentStatus('waiting_for_input');
      try {
        if (readerDelayMs > 0) await waitUnlessCancelled(op, readerDelayMs);
        if (op.cancelled) return sdkError('canceled', 'The command was canceled.');
        const card = simulatorConfig.testCardNumber ? { card_number: String(simulatorConfig.testCardNumber) } : {};
        const res = await sessionPost('/_sim/terminal/refunds/collect', { charge: chargeId, amount, currency, ...card });
        if (op.cancelled) {
          await sessionPost('/_sim/terminal/refunds/cancel', {});
          return sdkError('canceled', 'The command was canceled.');
        }
        if (!res.ok) return { error: res.error };
        return {};
      } finally {
        collectOp = null;
        if (connectionStatus === 'connected') setPaymentStatus('ready');
      }
    },

    async cancelCollectRefundPaymentMethod() {
      if (!collectOp || collectOp.cancelled) {
        return sdkError('no_active_collect_payment_method_attempt',
          'cancelCollectRefundPaymentMethod can only be called when collectRefundPaymentMethod is in progress.');
      }
      collectOp.cancel();
      return {};
    },

    /** In-person refund, step 2: makes the refund collected; resolves to `{refund}`. */
    async processRefund() {
      if (connectionStatus !== 'connected') return sdkError('no_established_connection', 'No reader is connected.');
      if (collectOp || processOp) {
        return sdkError('command_already_in_progress', 'Another command is already in progress on the reader.');
      }
      const op = cancellableOp();
      processOp = op;
      setPaymentStatus('processing');
      try {
        const res = await sessionPost('/_sim/terminal/refunds/process', {}, op);
        if (!res.ok) return { error: res.error };
        return { refund: res.json };
      } finally {
        processOp = null;
        simulatorConfig = {};
        if (connectionStatus === 'connected') setPaymentStatus('ready');
      }
    },

    /**
     * Reads a card to save without a payment (Stripe Terminal JS SDK): `clientSecret` of a
     * card_present SetupIntent, `allowRedisplay` the customer's consent ('always' | 'limited' |
     * 'unspecified'; `true`, the SDK's older customer_consent_collected, is 'limited'); `config`
     * may name the simulator's `testCardNumber`. Resolves `{setupIntent}` in requires_confirmation.
     */
    async collectSetupIntentPaymentMethod(clientSecret, allowRedisplay, config = null) {
      if (connectionStatus !== 'connected') return sdkError('no_established_connection', 'No reader is connected.');
      if (collectOp || processOp) {
        return sdkError('command_already_in_progress', 'Another command is already in progress on the reader.');
      }
      if (typeof clientSecret !== 'string' || !clientSecret.startsWith('seti_') || !clientSecret.includes('_secret_')) {
        return sdkError('invalid_setup_intent_client_secret', 'collectSetupIntentPaymentMethod needs a SetupIntent client secret.');
      }
      const consent = allowRedisplay === true ? 'limited' : allowRedisplay;
      if (!['always', 'limited', 'unspecified'].includes(consent)) {
        return sdkError('invalid_required_parameter', "allowRedisplay must be 'always', 'limited' or 'unspecified'.");
      }
      const op = cancellableOp();
      collectOp = op;
      setPaymentStatus('waiting_for_input');
      try {
        if (readerDelayMs > 0) await waitUnlessCancelled(op, readerDelayMs);
        if (op.cancelled) return sdkError('canceled', 'The command was canceled.');
        const fault = takeFault('collect');
        if (fault) return faultError(fault);
        const cardNumber = cardFrom(config ?? {});
        const res = await sessionPost('/_sim/terminal/setup/collect', {
          client_secret: clientSecret, card_number: cardNumber, allow_redisplay: consent,
        });
        if (op.cancelled) {
          if (res.ok) await sessionPost('/_sim/terminal/setup/cancel', { client_secret: clientSecret });
          return sdkError('canceled', 'The command was canceled.');
        }
        if (!res.ok) return { error: res.error };
        if (res.json?.id) secrets.set(res.json.id, clientSecret);
        return { setupIntent: res.json };
      } finally {
        collectOp = null;
        if (connectionStatus === 'connected') setPaymentStatus('ready');
      }
    },

    /** Stops a collectSetupIntentPaymentMethod in progress (it resolves with error code 'canceled'). */
    async cancelCollectSetupIntentPaymentMethod() {
      if (!collectOp || collectOp.cancelled) {
        return sdkError('no_active_collect_payment_method_attempt',
          'cancelCollectSetupIntentPaymentMethod can only be called when collectSetupIntentPaymentMethod is in progress.');
      }
      collectOp.cancel();
      return {};
    },

    /**
     * Confirms the SetupIntent collectSetupIntentPaymentMethod returned: the card is saved (its
     * `latest_attempt.payment_method_details.card_present.generated_card`), or an `{error}` with
     * the decline (card_declined, decline_code).
     */
    async confirmSetupIntent(setupIntent) {
      if (connectionStatus !== 'connected') return sdkError('no_established_connection', 'No reader is connected.');
      if (collectOp || processOp) {
        return sdkError('command_already_in_progress', 'Another command is already in progress on the reader.');
      }
      const clientSecret = setupIntent?.client_secret ?? secrets.get(setupIntent?.id);
      if (!setupIntent || typeof setupIntent !== 'object' || !clientSecret) {
        return sdkError('invalid_setup_intent_input_shape',
          'confirmSetupIntent needs the SetupIntent returned by collectSetupIntentPaymentMethod.');
      }
      const op = cancellableOp();
      processOp = op;
      setPaymentStatus('processing');
      try {
        const fault = takeFault('process');
        if (fault) return faultError(fault);
        const res = await sessionPost('/_sim/terminal/setup/confirm', { client_secret: clientSecret }, op);
        if (!res.ok) return { error: res.error };
        return { setupIntent: res.json };
      } finally {
        processOp = null;
        simulatorConfig = {};
        if (connectionStatus === 'connected') setPaymentStatus('ready');
      }
    },

    setSimulatorConfiguration(config) {
      simulatorConfig = config && typeof config === 'object' ? { ...config } : {};
    },

    getSimulatorConfiguration() {
      return { ...simulatorConfig };
    },

    // ---- simulator-only controls (not in the real SDK) ----

    /**
     * The screen the simulated reader shows for an intent before the card: `{screen: 'tipping' |
     * 'collect_payment_method', amount, currency, tip_options}` (config_override as for collect).
     */
    async getTipScreen(clientSecret, configOverride = {}) {
      if (connectionStatus !== 'connected') return sdkError('no_established_connection', 'No reader is connected.');
      const shown = await tipScreen(clientSecret, configOverride);
      return shown.error ?? shown.screen;
    },

    /**
     * Makes the next `operation` ('connect' | 'collect' | 'process') fail with SDK error `code`.
     * For 'process', `reachServer: true` first sends the request (the payment goes through) and
     * loses the answer; `hang: true` never answers (until cancelProcessPayment); `disconnect: true`
     * also drops the reader; `delayMs` waits that long before sending the request (a slow reader:
     * then it goes through normally, unless cancelled meanwhile).
     */
    simulateFault(fault) {
      if (!fault || !['connect', 'collect', 'process'].includes(fault.operation)) {
        throw new TypeError("simulateFault: operation must be 'connect', 'collect' or 'process'");
      }
      faults.push({ code: 'network_timeout', reachServer: false, hang: false, disconnect: false, ...fault });
    },

    /** The reader drops off: in-flight collection fails, onUnexpectedReaderDisconnect fires. */
    simulateReaderDisconnect() {
      if (connectionStatus !== 'connected') return;
      if (collectOp) {
        collectOp.disconnected = true;
        collectOp.cancel();
      }
      disconnectLocally();
      notify(onUnexpectedReaderDisconnect, sdkError('reader_connection_error', 'The connection to the reader was lost.'));
    },
  };
  return terminal;
}

/**
 * A StripeTerminal-like namespace whose create(props) returns a simulated terminal: pass it as
 * `terminal` to createPosTerminal exactly like `window.StripeTerminal`.
 */
export function createSimulatedStripeTerminal(defaults = {}) {
  return {
    create(props = {}) {
      return createSimulatedTerminal({ ...defaults, ...props });
    },
    PaymentStatus: Object.freeze({
      NOT_READY: 'not_ready', READY: 'ready', WAITING_FOR_INPUT: 'waiting_for_input', PROCESSING: 'processing',
    }),
    ConnectionStatus: Object.freeze({ CONNECTING: 'connecting', CONNECTED: 'connected', NOT_CONNECTED: 'not_connected' }),
    OutputLogLevel: Object.freeze({ NONE: 'none', VERBOSE: 'verbose' }),
  };
}
