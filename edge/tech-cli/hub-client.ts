/** A thin client of the hub's technician API; errors carry API.md's `{ code, message }`. */
export class HubError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export class HubClient {
  constructor(
    readonly hub: string,
    private token?: string,
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
        signal: AbortSignal.timeout(130_000),
      });
    } catch (err) {
      throw new HubError(0, 'hub_unreachable', `Cannot reach the hub at ${this.hub} (${(err as Error).message}). Are you on the locker's LAN?`);
    }
    const json = (await res.json().catch(() => ({}))) as { error?: { code: string; message: string } } & T;
    if (!res.ok) throw new HubError(res.status, json.error?.code ?? 'http_' + res.status, json.error?.message ?? res.statusText);
    return json;
  }
}
