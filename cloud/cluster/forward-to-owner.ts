import { Agent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import type { MiddlewareHandler } from 'hono';
import { DomainError } from '../../shared/errors.js';
import type { ClusterNode } from './cluster.js';

/** Set on a request one node passes to another: the receiver serves it, whatever it thinks of ownership. */
export const FORWARDED_HEADER = 'x-cubby-forwarded-by';
/** Set on every answer of a clustered node: which node served the request. */
export const SERVED_BY_HEADER = 'x-cubby-served-by';

/** The part of the cluster the forwarder needs (cloud/cluster/cluster.ts). */
export interface OwnerLookup {
  readonly self: ClusterNode;
  owner(bankId: string): ClusterNode;
}

export interface ForwardOptions {
  cluster: OwnerLookup;
  /** The bank a parcel belongs to (the parcel registry, in the shared database). */
  bankOfParcel(parcelId: string): string | undefined;
  /** How long to wait for the owner before serving the request here. Default 5 s. */
  timeoutMs?: number;
  log?: (msg: string) => void;
}

const BANK_PATH = /^\/v1\/banks\/([^/]+)(?:\/|$)/;
const PARCEL_PATH = /^\/v1\/(?:parcels|recipients)\/([^/]+)(?:\/|$)/;
/** Bodies that name the bank or the parcel instead of the path. */
const BODY_ROUTES: Record<string, 'bankId' | 'parcelId'> = { '/v1/parcels': 'bankId', '/v1/self-service/diagnosis': 'parcelId' };
const HOP_BY_HOP = ['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'host'];

/**
 * Several cloud nodes: a carrier's or support's request about a bank goes to the node that
 * serves the bank (the one its hub syncs with), so a bank's documents live in ONE node's memory
 * and every write to them is made there and reaches the hub at once. Any node still answers any
 * request — this node passes it on, as it came (the owner checks the token), and relays the
 * answer. When the owner refuses the connection (it is down, and the others have not noticed
 * yet) nothing reached it, so this node serves the request itself, which is always correct
 * (documents are CRDTs in the shared database), only costlier. When the request may have
 * reached it (the connection broke, no answer within `timeoutMs`) the caller gets 502
 * `node_unavailable` and retries, as after any lost answer: serving it here too could do it
 * twice (a second SMS, a door opened twice). A request passed on once is never passed on again.
 * Requests about no bank in particular (channel health, receipts, the help page) are served
 * where they arrive.
 */
export function forwardToOwner(opts: ForwardOptions): MiddlewareHandler {
  const { cluster } = opts;
  // A parcel never changes banks: remember where each one is (bounded), so passing a request
  // on costs no database read.
  const banks = new Map<string, string>();
  const bankOfParcel = (parcelId: string): string | undefined => {
    const known = banks.get(parcelId);
    if (known !== undefined) return known;
    const bank = opts.bankOfParcel(parcelId);
    if (bank !== undefined) {
      if (banks.size >= 100_000) banks.clear();
      banks.set(parcelId, bank);
    }
    return bank;
  };
  return async (c, next) => {
    c.header(SERVED_BY_HEADER, cluster.self.id);
    if (c.req.header(FORWARDED_HEADER)) return next();
    const path = c.req.path;
    let bankId = BANK_PATH.exec(path)?.[1];
    let body: string | undefined;
    if (!bankId) {
      let parcelId = PARCEL_PATH.exec(path)?.[1];
      const field = c.req.method === 'POST' ? BODY_ROUTES[path] : undefined;
      if (field) {
        body = await c.req.text();
        const value = parseField(body, field);
        if (field === 'bankId') bankId = value;
        else parcelId = value;
      }
      if (!bankId && parcelId) bankId = bankOfParcel(decodeURIComponent(parcelId));
    } else bankId = decodeURIComponent(bankId);
    if (!bankId) return next();
    const owner = cluster.owner(bankId);
    if (owner.id === cluster.self.id) return next();

    const url = new URL(c.req.url);
    const headers: Record<string, string> = {};
    c.req.raw.headers.forEach((v, k) => {
      if (!HOP_BY_HOP.includes(k)) headers[k] = v;
    });
    headers[FORWARDED_HEADER] = cluster.self.id;
    const payload = c.req.method === 'GET' || c.req.method === 'HEAD' ? undefined : (body ?? (await c.req.text()));
    let res: Relayed;
    try {
      res = await relay(new URL(url.pathname + url.search, owner.url), c.req.method, headers, payload, opts.timeoutMs ?? 5000);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'ECONNREFUSED') {
        opts.log?.(`cluster: node ${owner.id} refused a request about ${bankId}; serving it here`);
        return next();
      }
      opts.log?.(`cluster: node ${owner.id} did not answer a request about ${bankId} (${code ?? (err as Error).name})`);
      throw new DomainError('node_unavailable', `The cloud node serving bank ${bankId} did not answer; the request may or may not have been carried out. Try again.`, 502);
    }
    const out = new Headers();
    for (const [k, v] of Object.entries(res.headers)) {
      if (v === undefined || HOP_BY_HOP.includes(k)) continue;
      for (const one of Array.isArray(v) ? v : [v]) out.append(k, one);
    }
    return new Response(res.body, { status: res.status, headers: out });
  };
}

interface Relayed {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** Connections to the other nodes, kept open between requests. */
const agent = new Agent({ keepAlive: true, maxSockets: 64 });

/**
 * One HTTP request to another node (plain `node:http` on a keep-alive agent: passing a request
 * on happens for most API calls of a cluster, so it should cost little). Rejects with the
 * socket's error — `ECONNREFUSED` when nothing reached the node — or a `TimeoutError`.
 */
function relay(target: URL, method: string, headers: Record<string, string>, body: string | undefined, timeoutMs: number): Promise<Relayed> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(target, { method, headers: body === undefined ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) }, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (b: Buffer) => chunks.push(b));
      res.on('end', () => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { name: 'TimeoutError' })));
    req.on('error', reject);
    req.end(body);
  });
}

function parseField(body: string, field: string): string | undefined {
  try {
    const v = (JSON.parse(body) as Record<string, unknown>)?.[field];
    return typeof v === 'string' ? v : undefined;
  } catch {
    return undefined; // the route answers the malformed body
  }
}
