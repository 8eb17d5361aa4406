import type { Context, MiddlewareHandler } from 'hono';
import { Forbidden, Unauthorized } from '../../shared/errors.js';
import type { CredentialStore, Principal, Role } from '../store/credential-store.js';

/** Hono variables set by `bearerAuth`. */
export type AuthEnv = { Variables: { principal: Principal } };

/**
 * `Authorization: Bearer <token>`: resolves the token to its principal (argon2-verified once,
 * then cached) or answers 401. The token is never logged.
 */
export function bearerAuth(credentials: CredentialStore): MiddlewareHandler<AuthEnv> {
  return async (c, next) => {
    const header = c.req.header('authorization') ?? '';
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!m) throw new Unauthorized('Send "Authorization: Bearer <token>" with a carrier or support token.', 'missing_token');
    const principal = await credentials.verifyToken(m[1]!);
    if (!principal) throw new Unauthorized('That bearer token is not valid.', 'invalid_token');
    c.set('principal', principal);
    await next();
  };
}

/** The caller, who must have one of `roles` (403 otherwise). */
export function requireRole(c: Context<AuthEnv>, ...roles: Role[]): Principal {
  const p = c.get('principal');
  if (!roles.includes(p.role)) throw new Forbidden(`This needs a ${roles.join(' or ')} token.`, 'forbidden_role');
  return p;
}
