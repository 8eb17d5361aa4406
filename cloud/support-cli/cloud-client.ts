/** An error answer of the cloud API (API.md's `{ error: { code, message } }`), or no answer at all. */
export class CloudError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** A thin client of the cloud's support API. The token is sent, never printed. */
export class CloudClient {
  constructor(
    readonly base: string,
    private readonly token: string | undefined,
    private readonly fetchFn: typeof fetch = fetch,
  ) {}

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response;
    try {
      res = await this.fetchFn(new URL(path, this.base), {
        method,
        headers: {
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (err) {
      throw new CloudError(0, 'cloud_unreachable', `Cannot reach the cloud at ${this.base} (${(err as Error).message}).`);
    }
    const json = (await res.json().catch(() => ({}))) as { error?: { code: string; message: string } } & T;
    if (!res.ok) throw new CloudError(res.status, json.error?.code ?? `http_${res.status}`, json.error?.message ?? res.statusText);
    return json;
  }
}
