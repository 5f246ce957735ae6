// Types for @pos-backend/terminal-js/simulated (src/simulated.js).
export {
  createSimulatedTerminal,
  createSimulatedStripeTerminal,
  TEST_CARDS,
  TestCard,
  SimulatedTerminal,
  SimulatedTerminalOptions,
  SimulatedStripeTerminal,
  SimulatedReader,
  SimulatedPaymentIntent,
  SimulatedCollectedPaymentIntent,
  SimulatedSetupIntent,
  SimulatorConfiguration,
  SimulatedFault,
  TipScreen,
  TipOption,
} from './index.js';
