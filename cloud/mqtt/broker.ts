import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { Aedes, type AuthenticateError, type Client } from 'aedes';
import { systemClock, type Clock } from '../../shared/ports.js';
import { canBankPublish, canBankSubscribe, isBankClientId, isValidBankUsername } from './bank-acl.js';
import { DeviceAuthCache, type DeviceAuthCacheOptions, type VerifyDevice } from './device-auth-cache.js';

/** The cloud's own MQTT account: full access to every bank's topics. */
export interface CloudUser {
  username: string;
  secret: string;
}

/** Options of {@link startBroker}. */
export interface BrokerOptions {
  /** TCP port. Default 1883; 0 picks a free port (tests). */
  port?: number;
  /** Interface to listen on. Default `127.0.0.1`. */
  host?: string;
  /**
   * Checks a bank's device credential (username = bank id, password = device secret).
   * Production passes the device registry's argon2 verify; successful results are cached
   * (see {@link DeviceAuthCache}). A throw answers CONNACK "server unavailable" (3), so
   * the hub retries later instead of treating it as a wrong password.
   */
  verifyDevice: VerifyDevice;
  /** The cloud service account; it is never passed to `verifyDevice`. */
  cloudUser: CloudUser;
  /** Tuning of the verification cache. */
  authCache?: DeviceAuthCacheOptions;
  /** Clock for the cache's expiry. Default the system clock. */
  clock?: Clock;
}

/** A running broker. */
export interface BrokerHandle {
  /** `mqtt://host:port`, for clients. */
  url: string;
  /** The port actually bound (useful with `port: 0`). */
  port: number;
  /** Forget cached verifications of a bank (call after rotating its device secret). */
  forgetDevice(bankId: string): void;
  /** Counters for tests and `/health`. */
  stats(): { connectedClients: number; verifications: number; cacheHits: number };
  /** Disconnect every client and stop listening. */
  close(): Promise<void>;
}

type Principal = { kind: 'cloud' } | { kind: 'bank'; bankId: string };

/** Who an authenticated aedes client is; kept out of the client object's own fields. */
const principals = new WeakMap<Client, Principal>();

function authError(returnCode: 2 | 3 | 4 | 5, message: string): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError;
}

function sameSecret(a: string, b: string): boolean {
  // Compare digests so neither the length nor the content leaks through timing.
  const da = createHash('sha256').update(a).digest();
  const db = createHash('sha256').update(b).digest();
  return timingSafeEqual(da, db);
}

/**
 * Start the embedded MQTT broker (aedes over a `net` server).
 *
 * Authentication: the cloud user by constant-time comparison; a bank by `verifyDevice`
 * (cached). Authorization (see `bank-acl.ts`): a bank publishes and subscribes only under
 * `cubby/banks/{itsBankId}/`, never publishes on its own `cmd`, must use the client id
 * `hub:{bankId}[:…]`, and may only leave a last will it could publish itself. A forbidden
 * PUBLISH closes the connection (MQTT 3.1.1 has no negative PUBACK); a forbidden SUBSCRIBE
 * is answered with the failure code 0x80.
 *
 * The broker never logs usernames' passwords or payloads.
 */
export async function startBroker(opts: BrokerOptions): Promise<BrokerHandle> {
  const host = opts.host ?? '127.0.0.1';
  const cache = new DeviceAuthCache(opts.verifyDevice, opts.clock ?? systemClock, opts.authCache);
  const aedes = await Aedes.createBroker();

  aedes.authenticate = (client, username, password, done) => {
    const secret = password?.toString('utf8') ?? '';
    if (!username || !secret) return done(authError(4, 'missing credentials'), false);
    if (username === opts.cloudUser.username) {
      if (!sameSecret(secret, opts.cloudUser.secret)) return done(authError(4, 'bad credentials'), false);
      principals.set(client, { kind: 'cloud' });
      return done(null, true);
    }
    if (!isValidBankUsername(username)) return done(authError(4, 'bad credentials'), false);
    if (!isBankClientId(username, client.id)) return done(authError(2, 'client id must be hub:<bankId>'), false);
    const will = (client as Client & { _will?: { topic?: string } | null })._will;
    if (will?.topic !== undefined && !canBankPublish(username, will.topic)) {
      return done(authError(5, 'last will outside the bank subtree'), false);
    }
    cache.check(username, secret).then(
      (good) => {
        if (!good) return done(authError(4, 'bad credentials'), false);
        principals.set(client, { kind: 'bank', bankId: username });
        done(null, true);
      },
      () => done(authError(3, 'credential check unavailable'), false),
    );
  };

  aedes.authorizePublish = (client, packet, done) => {
    if (packet.topic.startsWith('$SYS')) return done(new Error('$SYS is reserved'));
    // client is null only for wills aedes republishes on behalf of a vanished broker
    // instance; those wills were checked at CONNECT (above).
    if (!client) return done(null);
    const who = principals.get(client);
    if (who?.kind === 'cloud') return done(null);
    if (who?.kind === 'bank' && canBankPublish(who.bankId, packet.topic)) return done(null);
    done(new Error('publish not allowed'));
  };

  aedes.authorizeSubscribe = (client, sub, done) => {
    const who = principals.get(client);
    if (who?.kind === 'cloud') return done(null, sub);
    if (who?.kind === 'bank' && canBankSubscribe(who.bankId, sub.topic)) return done(null, sub);
    done(null, null); // SUBACK 0x80 for this filter; the connection stays up
  };

  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    aedes.handle(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 1883, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : (opts.port ?? 1883);

  return {
    url: `mqtt://${host}:${port}`,
    port,
    forgetDevice: (bankId) => cache.forget(bankId),
    stats: () => ({
      connectedClients: aedes.connectedClients,
      verifications: cache.verifications,
      cacheHits: cache.hits,
    }),
    close: async () => {
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
