import { startFakeBackend, FAKE_TOKEN, FAKE_ACCOUNT } from './fake-backend.js';
import { createFakeTerminal } from './fake-terminal.js';
import { createPosTerminal, createSimulatedStripeTerminal } from '../../src/index.js';

export { FAKE_TOKEN, FAKE_ACCOUNT };

let txnCounter = 0;
export const txn = (label = 'txn') => `${label}-${process.pid}-${Date.now()}-${++txnCounter}`;

/** Fast retry/verify settings so that tests of failure paths stay quick. */
export const FAST = { retryDelayMs: 5, verifyIntervalMs: 10, verifyTimeoutMs: 500, requestTimeoutMs: 2_000 };

/**
 * A fake backend and a PosTerminal on it. `terminal: 'simulated'` (default) uses our simulated
 * terminal against the fake simulator endpoints; `terminal: 'fake'` uses the scripted fake terminal
 * (script in `script`). `simulator` holds extra createSimulatedTerminal options (readerDelayMs, …).
 */
export async function setup({ terminal = 'simulated', script = {}, simulator = {}, connect = true, ...posOptions } = {}) {
  const fake = await startFakeBackend();
  let sdk = null;
  const terminalOption = terminal === 'fake'
    ? (props) => (sdk = createFakeTerminal(props, script))
    : {
      create(props) {
        sdk = createSimulatedStripeTerminal({ backendUrl: fake.url, ...simulator }).create(props);
        return sdk;
      },
    };
  const pos = createPosTerminal({
    backendUrl: fake.url,
    getAuthToken: () => FAKE_TOKEN,
    externalAccountId: FAKE_ACCOUNT,
    terminal: terminalOption,
    ...FAST,
    ...posOptions,
  });
  if (connect) await pos.connect({ simulated: true });
  return {
    fake,
    pos,
    get sdk() { return sdk; },
    async close() { await fake.close(); },
  };
}
