import type { LockerBank } from '../devices/locker-bank.js';
import type { CodeHasher } from '../shared/codes/hasher.js';
import type { Clock, Random } from '../shared/ports.js';
import { HubEvents } from './hub-events.js';
import { CompartmentAllocator } from './services/compartment-allocator.js';
import { CredentialVerifier } from './services/credentials.js';
import { DepositService } from './services/deposit-service.js';
import { PickupService } from './services/pickup-service.js';
import { TechAuth } from './services/tech-auth.js';
import { DEFAULT_POLICY, Throttle, type ThrottlePolicy } from './services/throttle.js';
import type { HubStore } from './store/hub-store.js';

/** What the hub knows about its link to the cloud (provided by the sync client). */
export interface Connectivity {
  online: boolean;
  lastSyncAt: number | null;
  lastContactAt: number | null;
}

/** Everything the hub's services need, passed in at start-up (ports and adapters). */
export interface HubDeps {
  bankId: string;
  store: HubStore;
  bank: LockerBank;
  /** Pickup-code hasher keyed with this bank's pepper. */
  hasher: CodeHasher;
  clock: Clock;
  random: Random;
  /** The cloud's sealed-box public key; absent when the hub runs standalone. */
  cloudSealKey?: string;
  /** Link state; absent = standalone (never online). */
  connectivity?: () => Connectivity;
  throttlePolicy?: ThrottlePolicy;
}

export interface HubServices {
  deps: HubDeps;
  events: HubEvents;
  throttle: Throttle;
  credentials: CredentialVerifier;
  allocator: CompartmentAllocator;
  pickup: PickupService;
  deposit: DepositService;
  techAuth: TechAuth;
  connectivity(): Connectivity;
}

/** Wire the hub's services. Constructors only assign and create tables; nothing starts here. */
export function createHubServices(deps: HubDeps): HubServices {
  const { store, bank, clock, random, bankId } = deps;
  const events = new HubEvents(store.audit);
  const throttle = new Throttle(store.db, clock, deps.throttlePolicy ?? DEFAULT_POLICY);
  const credentials = new CredentialVerifier(bankId, store.docs);
  let deposit: DepositService | undefined;
  const allocator = new CompartmentAllocator(bank, store, () => deposit?.pendingCompartments() ?? new Set());
  deposit = new DepositService({
    bankId,
    store,
    bank,
    hasher: deps.hasher,
    credentials,
    throttle,
    allocator,
    random,
    events,
    cloudSealKey: deps.cloudSealKey,
  });
  const pickup = new PickupService({ bankId, store, bank, hasher: deps.hasher, throttle, random, events });
  const techAuth = new TechAuth(store.db, credentials, throttle, clock, random);
  return {
    deps,
    events,
    throttle,
    credentials,
    allocator,
    pickup,
    deposit,
    techAuth,
    connectivity: () => deps.connectivity?.() ?? { online: false, lastSyncAt: null, lastContactAt: null },
  };
}
