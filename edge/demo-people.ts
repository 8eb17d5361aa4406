import type { SimBoard } from '../devices/sim/sim-board.js';
import type { HubServices } from './hub-services.js';

/**
 * The people of the demo: on a simulated board nobody really puts a parcel in or takes it
 * out, so when a door opens for a pending deposit a "courier" places the parcel, and when
 * a door opens for a pickup a "recipient" takes it. Doors close on their own (the board's
 * auto-close). Only `npm start`'s simulated banks use this; real hardware has real people.
 */
export function simulatePeople(board: SimBoard, services: HubServices): () => void {
  return services.deps.bank.on('door', (no, state) => {
    if (state !== 'open') return;
    const pending = services.deposit.pendingCompartments().has(no);
    const holdsLiveParcel = services.deps.store.ledger.occupancy().has(no);
    try {
      if (pending && !board.physics.isOccupied(no)) board.placeParcel(no);
      else if (!pending && !holdsLiveParcel && board.physics.isOccupied(no)) board.removeParcel(no);
    } catch {
      // The door closed again before the person reached it; nothing to do.
    }
  });
}
