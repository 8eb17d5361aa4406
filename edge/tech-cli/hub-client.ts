/**
 * A thin client of the hub's technician API. A refusal becomes a {@link HubError} carrying
 * API.md's `{ code, message }` and the error's extra public fields (e.g. `retryAfterSeconds`).
 */
export class HubError extends Error {
  constructor(
    /** HTTP status; 0 when the hub could not be reached at all. */
    readonly status: number,
    readonly code: string,
    message: string,
    /** Extra public fields of the error body (`retryAfterSeconds`, `compartment`…). */
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** How long one request may take: a door open waits for the sensor (2 s), a self-test too. */
const REQUEST_TIMEOUT_MS = 60_000;

/**
 * The hub's base URL from what a person typed: `10.0.0.7:8082`, `http://10.0.0.7:8082/`
 * and `http://10.0.0.7:8082` are the same hub (and share one saved session).
 * Throws a `RangeError` for anything that is not an http(s) address.
 */
export function normalizeHubUrl(raw: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new RangeError(`"${raw}" is not a hub address; use http://HOST:PORT.`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new RangeError(`"${raw}" is not a hub address; use http://HOST:PORT.`);
  return url.origin;
}

export class HubClient {
  constructor(
    readonly hub: string,
    private readonly token?: string,
  ) {}

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await fetch(new URL(path, this.hub), {
        method,
        headers: {
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (err) {
      const why = (err as Error).name === 'TimeoutError' ? `no answer within ${REQUEST_TIMEOUT_MS / 1000} s` : causeOf(err);
      throw new HubError(0, 'hub_unreachable', `Cannot reach the hub at ${this.hub} (${why}). Are you on the locker's LAN, and is the hub running?`);
    }
    const json = (await res.json().catch(() => ({}))) as { error?: { code: string; message: string } & Record<string, unknown> } & T;
    if (!res.ok) {
      const { code, message, ...details } = json.error ?? { code: `http_${res.status}`, message: res.statusText || `HTTP ${res.status}` };
      throw new HubError(res.status, code, message, details);
    }
    return json;
  }
}

/** `fetch failed` says nothing: the cause (ECONNREFUSED, ENOTFOUND…) does. */
function causeOf(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (err as Error).message;
}
