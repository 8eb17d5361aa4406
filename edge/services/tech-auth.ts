import { createHmac, timingSafeEqual } from 'node:crypto';
import type Database from 'better-sqlite3';
import { Forbidden, Throttled, Unauthorized } from '../../shared/errors.js';
import type { Clock, Random } from '../../shared/ports.js';
import type { CredentialVerifier } from './credentials.js';
import type { Throttle } from './throttle.js';

export const TECH_SCOPE = 'technician';
export type TechRole = 'technician' | 'auditor';
export interface TechPrincipal {
  technicianId: string;
  role: TechRole;
}

/** How long a technician token lasts. */
export const TECH_TOKEN_TTL_MS = 8 * 3600_000;

/**
 * Technician login at the hub, offline: the secret is checked against the argon2id hash in
 * the cloud-authored config document; the hub answers with a short-lived token signed with
 * a key only this hub knows (kept in its SQLite file, so tokens survive a restart).
 */
export class TechAuth {
  private readonly key: Buffer;

  constructor(
    db: Database.Database,
    private readonly credentials: CredentialVerifier,
    private readonly throttle: Throttle,
    private readonly clock: Clock,
    random: Random,
  ) {
    db.exec('CREATE TABLE IF NOT EXISTS hub_secrets (name TEXT PRIMARY KEY, value BLOB NOT NULL)');
    const row = db.prepare("SELECT value FROM hub_secrets WHERE name = 'tech_token_key'").get() as { value: Buffer } | undefined;
    if (row) this.key = row.value;
    else {
      this.key = Buffer.from(random.bytes(32));
      db.prepare("INSERT INTO hub_secrets (name, value) VALUES ('tech_token_key', ?)").run(this.key);
    }
  }

  async login(technicianId: string, secret: string): Promise<{ token: string; expiresAt: number; role: TechRole }> {
    const gate = this.throttle.check(TECH_SCOPE);
    if (!gate.allowed) throw new Throttled(gate.retryAfterSeconds);
    const who = await this.credentials.technician(technicianId, secret);
    if (!who) {
      this.throttle.fail(TECH_SCOPE);
      throw new Unauthorized('Unknown technician or wrong secret.', 'invalid_credentials');
    }
    this.throttle.succeed(TECH_SCOPE);
    const expiresAt = this.clock.now() + TECH_TOKEN_TTL_MS;
    const payload = Buffer.from(JSON.stringify({ sub: technicianId, role: who.role, exp: expiresAt })).toString('base64url');
    return { token: `${payload}.${this.sign(payload)}`, expiresAt, role: who.role };
  }

  /** The principal of a bearer token; throws 401 when missing, forged or expired. */
  verify(authorization: string | undefined): TechPrincipal {
    const m = /^Bearer ([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/.exec(authorization ?? '');
    if (!m) throw new Unauthorized('Log in first: send "Authorization: Bearer <token>".');
    const expected = Buffer.from(this.sign(m[1]!));
    const given = Buffer.from(m[2]!);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) throw new Unauthorized('This token is not valid here.');
    const claims = JSON.parse(Buffer.from(m[1]!, 'base64url').toString()) as { sub: string; role: TechRole; exp: number };
    if (claims.exp <= this.clock.now()) throw new Unauthorized('Your session has expired. Log in again.', 'token_expired');
    return { technicianId: claims.sub, role: claims.role };
  }

  /** Only a `technician` may change anything; an `auditor` reads. */
  static requireTechnician(p: TechPrincipal): void {
    if (p.role !== 'technician') throw new Forbidden('Auditors may read status and events only.');
  }

  private sign(payload: string): string {
    return createHmac('sha256', this.key).update(payload).digest('base64url');
  }
}
