// Compile-time checks (npm run typecheck = tsc --noEmit): the real @stripe/terminal-js types fit our
// wrappers, and the wrappers hand back the SDK's own types. Nothing here runs.
import type {
  ErrorResponse,
  ExposedError,
  IPaymentIntent,
  ISdkManagedPaymentIntent,
  Reader,
  StripeTerminal,
  Terminal,
  TerminalProps,
} from '@stripe/terminal-js';
import {
  createConnectionTokenFetcher,
  createPosTerminal,
  createSimulatedStripeTerminal,
  createSimulatedTerminal,
  fromSdkError,
  normalizeError,
  PosTerminalError,
  type ChargeResult,
  type PosTerminal,
  type Receipt,
  type ReaderRecord,
  type TipScreen,
  type SdkError,
  type SimulatedCollectedPaymentIntent,
  type SimulatedPaymentIntent,
  type SimulatedReader,
  type SimulatedTerminal,
  type TerminalLike,
} from './index.js';
import { createSimulatedTerminal as createSimulatedTerminal2, TEST_CARDS } from './simulated.js';

type Equals<A, B> = (<X>() => X extends A ? 1 : 2) extends (<X>() => X extends B ? 1 : 2) ? true : false;
function assertType<_T extends true>(): void {}

declare const terminal: Terminal;
declare const StripeTerminalSdk: StripeTerminal;

// The real SDK's Terminal is a TerminalLike, and its ExposedError an SdkError.
export const asLike: TerminalLike = terminal;
// The cancel terminal-js calls after a process timeout is the real SDK's, and the simulator has it.
export const realCancelProcess: NonNullable<TerminalLike['cancelProcessPayment']> = () => terminal.cancelProcessPayment();
declare const exposed: ExposedError;
export const asSdkError: SdkError = exposed;

const base = { backendUrl: 'https://pos.example.com', getAuthToken: async () => 'jwt', externalAccountId: 'acct_1' };

// Every way of passing the real SDK infers PosTerminal<Terminal>.
const pos = createPosTerminal({ ...base, terminal });
assertType<Equals<typeof pos, PosTerminal<Terminal>>>();
const posFromNamespace = createPosTerminal({ ...base, terminal: StripeTerminalSdk, terminalOptions: { logLevel: 'verbose' } });
assertType<Equals<typeof posFromNamespace, PosTerminal<Terminal>>>();
const posFromFactory = createPosTerminal({
  ...base,
  terminal: (props) => StripeTerminalSdk.create(props),
});
assertType<Equals<typeof posFromFactory, PosTerminal<Terminal>>>();
// Our callbacks are valid StripeTerminal.create() props.
export const propsCheck = (props: Parameters<Extract<Parameters<typeof createPosTerminal>[0]['terminal'], (p: any) => any>>[0]): TerminalProps => props;
// An instance the app creates with our token fetcher.
export const ownInstance = StripeTerminalSdk.create({ onFetchConnectionToken: createConnectionTokenFetcher(base), onUnexpectedReaderDisconnect: () => {} });

export async function realSdkFlow(): Promise<ChargeResult> {
  const readers = await pos.discoverReaders({ simulated: true });
  assertType<Equals<typeof readers, Reader[]>>();
  const reader = await pos.connectReader(readers[0], { fail_if_in_use: true });
  assertType<Equals<typeof reader, Reader>>();
  const connected: Reader = await pos.connect({ simulated: true });
  void connected;

  const collected = await pos.collectPaymentMethod('pi_1_secret_2', { saveCard: true, config_override: { skip_tipping: true } });
  assertType<Equals<typeof collected, ISdkManagedPaymentIntent>>();
  const processed = await pos.processPayment(collected);
  assertType<Equals<typeof processed, IPaymentIntent>>();

  // What the raw SDK returns feeds our wrappers and error helpers.
  const raw = await terminal.collectPaymentMethod('pi_1_secret_2');
  if ('error' in raw) {
    const err: PosTerminalError = fromSdkError(raw.error);
    const kind: 'declined' | 'cancelled' | string = err.kind;
    void kind;
  } else {
    await pos.processPayment(raw.paymentIntent);
  }
  const rawProcessed = await terminal.processPayment(collected);
  if ('error' in rawProcessed) {
    const response: ErrorResponse = rawProcessed;
    const e = normalizeError(response);
    const declineCode: string | null = e.declineCode;
    const status: string | null = fromSdkError(response.error).paymentStatus;
    void declineCode; void status;
  }

  // Saving a card without a sale, on the real SDK's terminal (its collectSetupIntentPaymentMethod fits).
  const saved = await pos.saveCardOnReader({ externalCustomerId: 'member-1', allowRedisplay: 'limited' });
  const savedLast4: string = saved.card.last4;
  const setupStatus: 'creating' | 'in_progress' | 'succeeded' | 'failed' | 'canceled' = saved.setup.status;
  void savedLast4; void setupStatus;
  // @ts-expect-error externalCustomerId is required
  await pos.saveCardOnReader({ readerId: 'tmr_1' });

  // @ts-expect-error processPayment takes the collected PaymentIntent, not a client secret
  await pos.processPayment('pi_1_secret_2');
  // @ts-expect-error amount is required
  await pos.charge({ external_transaction_id: 'sale-1' });
  // @ts-expect-error allowRedisplay is always | limited | unspecified
  await pos.charge({ amount: 1, external_transaction_id: 'sale-1', allowRedisplay: 'sometimes' });

  const result = await pos.charge({
    amount: '12.99',
    external_transaction_id: 'sale-1',
    external_customer_id: 'customer_12345',
    saveCard: true,
    allowRedisplay: 'always',
    onStep: ({ step }) => { const s: string = step; void s; },
    onDecline: async (error, { attempt, signal }) => error.kind === 'declined' && attempt < 3 && !signal.aborted,
  });
  const last4: string | undefined = result.card?.last4;
  const amount: string = result.payment.amount;
  void last4; void amount;

  // A counter sale: tips through the real SDK's config_override, the cart, the receipt, a tab.
  await pos.collectPaymentMethod('pi_1_secret_2', { config_override: { tipping: { eligible_amount: 1000 } } });
  await pos.collectPaymentMethod('pi_1_secret_2', { skipTipping: true, tipEligibleAmount: 1000 });
  await pos.charge({ amount: '12.99', external_transaction_id: 'sale-2', tipEligibleAmount: '10.00', skipTipping: false });
  const tab = await pos.charge({ amount: '8.00', external_transaction_id: 'tab-1', capture: false, requestIncrementalAuthorizationSupport: true });
  const raised = await pos.incrementAuthorization(tab.paymentIntentId, '20.00');
  const tip: string | null | undefined = raised.amount_tip;
  void tip;
  const shown: ReaderRecord = await pos.showCart('tmr_1', { currency: 'usd', line_items: [{ description: 'Coffee', amount: '3.50', quantity: 2 }] });
  void shown;
  await pos.clearCart('tmr_1');
  await pos.processOnReader('tmr_1', 'pi_1', { skipTipping: true, tipEligibleAmount: '10.00' });
  const receipt = await pos.getReceipt('pi_1');
  assertType<Equals<typeof receipt, Receipt>>();
  const html = await pos.getReceipt('pi_1', { format: 'html' });
  assertType<Equals<typeof html, string>>();
  const brand: string | null = receipt.card.brand;
  void brand;
  // @ts-expect-error a cart needs its lines
  await pos.showCart('tmr_1', { currency: 'usd' });
  // @ts-expect-error receipts come as json, text or html
  await pos.getReceipt('pi_1', { format: 'pdf' });
  return result;
}

// The simulated terminal plugs into the same slot, with its own precise types.
const sim = createSimulatedTerminal({ backendUrl: '', onFetchConnectionToken: async () => 'pst_test_1' });
export const simAsLike: TerminalLike = sim;
const simPos = createPosTerminal({ ...base, terminal: sim });
assertType<Equals<typeof simPos, PosTerminal<SimulatedTerminal>>>();
const simPosFromNamespace = createPosTerminal({ ...base, terminal: createSimulatedStripeTerminal({ readerDelayMs: 500 }) });
assertType<Equals<typeof simPosFromNamespace, PosTerminal<SimulatedTerminal>>>();
export async function simulatedFlow(): Promise<void> {
  const reader = await simPos.connect({ simulated: true });
  assertType<Equals<typeof reader, SimulatedReader>>();
  simPos.terminal.setSimulatorConfiguration({ testCardNumber: TEST_CARDS[0].number });
  const collected = await simPos.collectPaymentMethod('pi_1_secret_2');
  assertType<Equals<typeof collected, SimulatedCollectedPaymentIntent>>();
  const processed = await simPos.processPayment(collected);
  assertType<Equals<typeof processed, SimulatedPaymentIntent>>();
  simPos.terminal.simulateFault({ operation: 'process', reachServer: true });
  simPos.terminal.simulateFault({ operation: 'process', delayMs: 1_500 });
  const cancelled = await simPos.terminal.cancelProcessPayment();
  if ('error' in cancelled) void cancelled.error.code;
  simPos.terminal.setSimulatorConfiguration({ tipAmount: 200 });
  const screen = await simPos.terminal.getTipScreen('pi_1_secret_2', { tipping: { eligible_amount: 900 } });
  if (!('error' in screen)) {
    const choices: TipScreen['tip_options'] = screen.tip_options;
    void choices;
  }
}
// The simulated reader's tipping screen: the customer's pick, in minor units.
export const withTipScreen = createSimulatedTerminal({
  onFetchConnectionToken: async () => 'pst_test_1',
  onTipScreen: async ({ tip_options, cancelled }) => { void cancelled; return tip_options?.[0]?.amount ?? null; },
});
export const sameFactory: typeof createSimulatedTerminal = createSimulatedTerminal2;
