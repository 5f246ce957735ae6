// Type-checked (tsc --noEmit) inside the scratch project test/pack.test.js builds, against the
// installed tarball and its peer dependency: what a TypeScript app sees.
import { loadStripeTerminal, type Terminal } from '@stripe/terminal-js';
import {
  createPosTerminal,
  ErrorKinds,
  isPosTerminalError,
  type ChargeResult,
  type PosTerminal,
  type PosTerminalError,
} from '@pos-backend/terminal-js';
import { createSimulatedStripeTerminal, TEST_CARDS, type SimulatedTerminal } from '@pos-backend/terminal-js/simulated';

const base = { backendUrl: 'https://pos.example.com', getAuthToken: async () => 'jwt', externalAccountId: 'acct_1' };

// The real SDK, loaded by its own package, is accepted as `terminal` and typed through.
export async function live(): Promise<PosTerminal<Terminal> | null> {
  const StripeTerminal = await loadStripeTerminal();
  if (!StripeTerminal) return null;
  return createPosTerminal({ ...base, terminal: StripeTerminal });
}

// The simulator from the second entry point.
export const sim: PosTerminal<SimulatedTerminal> = createPosTerminal({
  ...base,
  terminal: createSimulatedStripeTerminal({ backendUrl: base.backendUrl }),
});

export async function sale(pos: PosTerminal<Terminal>): Promise<string> {
  try {
    const result: ChargeResult = await pos.charge({
      amount: '12.99',
      external_transaction_id: 'sale-1',
      onDecline: async (error: PosTerminalError) => error.declineCode === 'insufficient_funds',
    });
    return result.payment.id;
  } catch (e) {
    if (isPosTerminalError(e) && e.kind === ErrorKinds.UNKNOWN_OUTCOME) return `check ${e.paymentIntentId}`;
    throw e;
  }
}

export const firstCard: string | undefined = TEST_CARDS[0]?.number;

// @ts-expect-error: only the entry points are exported, not the modules behind them.
import('@pos-backend/terminal-js/src/backend.js');
