import { createHash } from 'node:crypto';
import argon2 from 'argon2';
import type { SqlDb } from '../../adapters/sql/sql-db.js';
import { DEFAULT_ARGON2, type Argon2Params } from '../../shared/codes/hasher.js';

/** Who a bearer token speaks for. */
export type Role = 'carrier' | 'support';
export interface Principal {
  role: Role;
  /** The carrier's name (as in `POST /v1/parcels`' `carrier`), or the support agent. */
  subject: string;
}

export interface CredentialStoreOptions {
  /** argon2id cost of stored secrets. Default: DESIGN.md's (19 MiB, t=2). Tests pass cheaper ones. */
  hashParams?: Argon2Params;
  /** Verified credentials kept in memory. Default 10,000. */
  cacheSize?: number;
}

/** SHA-256 hex: finds a credential's row without scanning, and keys the verified cache. */
export const fingerprint = (secret: string): string => createHash('sha256').update(secret).digest('hex');

/**
 * Bearer tokens (carriers, support) and device credentials (one per bank, for sync and MQTT).
 *
 * Each secret is stored as an argon2id hash, found by its SHA-256 fingerprint. A secret is
 * verified with argon2 once, then remembered (by fingerprint, which only the same secret
 * produces) so the hot path costs a hash, not ~90 ms. Nothing here logs or returns a secret.
 */
export class CredentialStore {
  private readonly params: Argon2Params;
  private readonly cacheSize: number;
  private readonly tokens = new Map<string, Principal>();
  private readonly devices = new Map<string, string>();
  private readonly stmts;

  constructor(
    readonly db: SqlDb,
    opts: CredentialStoreOptions = {},
  ) {
    this.params = opts.hashParams ?? DEFAULT_ARGON2;
    this.cacheSize = opts.cacheSize ?? 10_000;
    this.stmts = {
      token: db.prepare('SELECT role, subject, hash FROM api_tokens WHERE fingerprint = ?'),
      addToken: db.prepare(`INSERT INTO api_tokens (fingerprint, role, subject, hash, created_at) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT (fingerprint) DO UPDATE SET role = excluded.role, subject = excluded.subject, hash = excluded.hash, created_at = excluded.created_at`),
      device: db.prepare('SELECT hash FROM devices WHERE bank_id = ?'),
      setDevice: db.prepare('INSERT INTO devices (bank_id, hash, created_at) VALUES (?, ?, ?) ON CONFLICT (bank_id) DO UPDATE SET hash = excluded.hash'),
    };
  }

  static migrate(db: SqlDb): void {
    db.exec(`CREATE TABLE IF NOT EXISTS api_tokens (
      fingerprint TEXT PRIMARY KEY,
      role TEXT NOT NULL CHECK (role IN ('carrier', 'support')),
      subject TEXT NOT NULL,
      hash TEXT NOT NULL,
      created_at INTEGER NOT NULL
    );
    CREATE TABLE IF NOT EXISTS devices (
      bank_id TEXT PRIMARY KEY,
      hash TEXT NOT NULL,
      created_at INTEGER NOT NULL
    );`);
  }

  async addToken(token: string, principal: Principal, at: number): Promise<void> {
    const hash = await this.hash(token);
    this.stmts.addToken.run(fingerprint(token), principal.role, principal.subject, hash, at);
    this.tokens.delete(fingerprint(token));
  }

  hasToken(token: string): boolean {
    return this.stmts.token.get(fingerprint(token)) !== undefined;
  }

  /** The principal of a bearer token, or undefined. */
  async verifyToken(token: string): Promise<Principal | undefined> {
    if (token.length === 0 || token.length > 512) return undefined;
    const fp = fingerprint(token);
    const cached = this.tokens.get(fp);
    if (cached) return cached;
    const row = this.stmts.token.get(fp) as { role: Role; subject: string; hash: string } | undefined;
    if (!row || !(await this.verify(row.hash, token))) return undefined;
    const principal: Principal = { role: row.role, subject: row.subject };
    remember(this.tokens, fp, principal, this.cacheSize);
    return principal;
  }

  /** Set (or rotate) the device credential of a bank. */
  async setDeviceSecret(bankId: string, secret: string, at: number): Promise<void> {
    this.stmts.setDevice.run(bankId, await this.hash(secret), at);
    this.devices.delete(bankId);
  }

  hasDevice(bankId: string): boolean {
    return this.stmts.device.get(bankId) !== undefined;
  }

  /** True when `secret` is the device credential of `bankId`. */
  async verifyDevice(bankId: string, secret: string): Promise<boolean> {
    if (secret.length === 0 || secret.length > 512) return false;
    const fp = fingerprint(`${bankId}\u0000${secret}`);
    if (this.devices.get(bankId) === fp) return true;
    const row = this.stmts.device.get(bankId) as { hash: string } | undefined;
    if (!row || !(await this.verify(row.hash, secret))) return false;
    remember(this.devices, bankId, fp, this.cacheSize);
    return true;
  }

  private hash(secret: string): Promise<string> {
    return argon2.hash(secret, { type: argon2.argon2id, ...this.params });
  }

  private async verify(hash: string, secret: string): Promise<boolean> {
    try {
      return await argon2.verify(hash, secret);
    } catch {
      return false;
    }
  }
}

function remember<K, V>(m: Map<K, V>, k: K, v: V, cap: number): void {
  if (m.size >= cap) m.delete(m.keys().next().value as K);
  m.set(k, v);
}
