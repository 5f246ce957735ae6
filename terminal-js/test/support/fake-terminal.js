// A scripted Terminal for unit tests: the same method shapes as the Stripe Terminal JS SDK, whose
// answers each test chooses. It records every call.

export function createFakeTerminal(props = {}, script = {}) {
  const calls = [];
  let connected = false;
  let collecting = null;
  let processing = null;
  const record = (name, args) => calls.push({ name, args });

  const terminal = {
    calls,
    props,
    script,
    getConnectionStatus: () => (connected ? 'connected' : 'not_connected'),
    getPaymentStatus: () => (collecting ? 'waiting_for_input' : connected ? 'ready' : 'not_ready'),
    getConnectedReader: () => (connected ? { id: 'tmr_fake', label: 'Fake reader' } : null),
    async discoverReaders(config) {
      record('discoverReaders', [config]);
      if (script.discoverReaders) return script.discoverReaders(config);
      return { discoveredReaders: [{ id: 'tmr_fake', label: 'Fake reader', device_type: 'simulated_wisepos_e' }] };
    },
    async connectReader(reader, options) {
      record('connectReader', [reader, options]);
      if (script.connectReader) return script.connectReader(reader, options);
      try {
        await props.onFetchConnectionToken();
      } catch (e) {
        return { error: { code: 'failed_fetch_connection_token', message: String(e?.message ?? e) } };
      }
      connected = true;
      return { reader };
    },
    async collectPaymentMethod(clientSecret, options) {
      record('collectPaymentMethod', [clientSecret, options]);
      let cancel;
      const cancelled = new Promise((resolve) => { cancel = resolve; });
      collecting = { cancel };
      try {
        const answer = script.collect
          ? script.collect(clientSecret, options, { cancelled })
          : { paymentIntent: { id: clientSecret.split('_secret_')[0], client_secret: clientSecret, status: 'requires_confirmation', sdk_payment_details: {} } };
        return await Promise.race([
          answer,
          cancelled.then(() => ({ error: { code: 'canceled', message: 'The command was canceled.' } })),
        ]);
      } finally {
        collecting = null;
      }
    },
    async cancelCollectPaymentMethod() {
      record('cancelCollectPaymentMethod', []);
      if (!collecting) return { error: { code: 'no_active_collect_payment_method_attempt', message: 'nothing to cancel' } };
      collecting.cancel();
      return {};
    },
    async processPayment(paymentIntent, options) {
      record('processPayment', [paymentIntent, options]);
      let cancel;
      const cancelled = new Promise((resolve) => { cancel = resolve; });
      processing = { cancel };
      try {
        const answer = script.process
          ? script.process(paymentIntent, options)
          : { paymentIntent: { ...paymentIntent, status: 'requires_capture' } };
        return await Promise.race([
          answer,
          cancelled.then(() => ({ error: { code: 'canceled', message: 'The command was canceled.' } })),
        ]);
      } finally {
        processing = null;
      }
    },
    /** script.cancelProcess() may answer instead (e.g. an {error}: too late, the call goes on). */
    async cancelProcessPayment() {
      record('cancelProcessPayment', []);
      if (script.cancelProcess) return script.cancelProcess();
      if (!processing) return { error: { code: 'no_active_process_payment_attempt', message: 'nothing to cancel' } };
      processing.cancel();
      return {};
    },
    /** In-person refunds: script.collectRefund / script.processRefund may answer. */
    async collectRefundPaymentMethod(chargeId, amount, currency, options) {
      record('collectRefundPaymentMethod', [chargeId, amount, currency, options]);
      if (script.collectRefund) return script.collectRefund(chargeId, amount, currency, options);
      return {};
    },
    async processRefund() {
      record('processRefund', []);
      if (script.processRefund) return script.processRefund();
      return { refund: { id: 're_fake', amount: 0, status: 'succeeded' } };
    },
    count(name) {
      return calls.filter((c) => c.name === name).length;
    },
  };
  return terminal;
}
