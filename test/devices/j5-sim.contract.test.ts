import { lockerBankContract } from '../contracts/locker-bank.contract.js';
import { createSimulatedBank } from '../support/board.js';

// The Johnny-Five bank, talking real Firmata bytes through firmata-io to the simulated board.
lockerBankContract('Johnny-Five on the simulated Firmata board', async ({ model, pulseMs, openTimeoutMs }) => {
  const { bank, board, close } = await createSimulatedBank({ model, pulseMs, openTimeoutMs });
  return { bank, hardware: board, close };
});
