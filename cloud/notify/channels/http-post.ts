/**
 * One JSON POST with a hard timeout, shared by the HTTP-based channels. It never throws:
 * a network failure (refused, reset, DNS, timeout) comes back as `{ ok: false }` so the
 * channel can map it to a retryable failure. Bodies are never logged or echoed here.
 */

/** The `fetch` the channels use; injectable for tests of odd transports. */
export type FetchFn = typeof fetch;

/** A response that arrived (any status). `json` is `undefined` when the body is not JSON. */
export interface HttpAnswer {
  ok: true;
  status: number;
  json: unknown;
}
/** No response: connection refused/reset, timeout. `error` is a short reason. */
export interface HttpNoAnswer {
  ok: false;
  error: string;
}

/** Options of {@link postJson}. */
export interface PostJsonOptions {
  /** Abort (and report `timeout`) after this many ms, including reading the body. */
  timeoutMs: number;
  /** Extra request headers. */
  headers?: Record<string, string>;
  /** Defaults to global `fetch`. */
  fetch?: FetchFn;
}

/** POST `rawBody` (already serialised JSON, so callers can sign the exact bytes). */
export async function postJson(url: string, rawBody: string, opts: PostJsonOptions): Promise<HttpAnswer | HttpNoAnswer> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), opts.timeoutMs);
  try {
    const res = await (opts.fetch ?? fetch)(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...opts.headers },
      body: rawBody,
      signal: controller.signal,
    });
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { ok: true, status: res.status, json };
  } catch (err) {
    if (controller.signal.aborted) return { ok: false, error: `timeout after ${opts.timeoutMs} ms` };
    return { ok: false, error: networkReason(err) };
  } finally {
    clearTimeout(timer);
  }
}

/** `fetch failed` hides the reason in `cause`; surface its code (ECONNREFUSED, ...). */
function networkReason(err: unknown): string {
  const cause = (err as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause;
  if (cause && typeof cause.code === 'string') return `network error: ${cause.code}`;
  if (cause && typeof cause.message === 'string') return `network error: ${cause.message}`;
  return `network error: ${err instanceof Error ? err.message : String(err)}`;
}

/**
 * Whether an HTTP error status is the provider's trouble (retry later) or the recipient's
 * (do not retry on this channel). 408/429 and 5xx are transient; 401/403 mean our
 * credentials are wrong, which is a provider-side configuration fault, not the recipient's.
 */
export function isRetryableStatus(status: number): boolean {
  return status >= 500 || status === 408 || status === 429 || status === 401 || status === 403;
}

/** The provider's error string from `{ error: "..." }` or `{ error: { code } }`, else `HTTP <status>`. */
export function providerError(status: number, json: unknown): string {
  const e = (json as { error?: unknown } | undefined)?.error;
  if (typeof e === 'string') return `HTTP ${status}: ${e.slice(0, 200)}`;
  const code = (e as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string') return `HTTP ${status}: ${code.slice(0, 200)}`;
  return `HTTP ${status}`;
}
