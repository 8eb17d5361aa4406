import type { Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { z, ZodError } from 'zod';
import { BadRequest, DomainError } from '../errors.js';

/** API.md's error body. */
export interface ErrorBody {
  error: { code: string; message: string; [k: string]: unknown };
}

export function errorBody(code: string, message: string, details: Record<string, unknown> = {}): ErrorBody {
  return { error: { ...details, code, message } };
}

/** Name the first offending field of a zod error in a sentence a person can act on. */
export function describeZodError(err: ZodError): string {
  const issue = err.issues[0];
  if (!issue) return 'The request body is not valid.';
  const field = issue.path.length ? issue.path.join('.') : 'body';
  return `Field "${field}": ${issue.message}.`;
}

/**
 * The one place errors become HTTP answers (STYLE.md): typed domain errors keep their status
 * and details, zod errors become 400 naming the field, anything else is a 500 that says
 * nothing internal. Also installs a body size limit and a JSON 404.
 */
export function installErrorHandling(
  app: Hono<any>,
  opts: {
    maxBodyBytes: number;
    log?: (err: unknown) => void;
    /** Turn an error of an adapter into a domain error first (e.g. a damaged database into 503 `store_corrupted`). */
    mapError?: (err: unknown) => DomainError | undefined;
  },
): void {
  app.use('*', bodyLimit({
    maxSize: opts.maxBodyBytes,
    onError: (c) => c.json(errorBody('payload_too_large', `The request body is larger than ${opts.maxBodyBytes} bytes.`), 413),
  }));
  app.onError((thrown, c) => {
    const err = opts.mapError?.(thrown) ?? thrown;
    if (err instanceof DomainError) return c.json(errorBody(err.code, err.message, err.details), err.status as 400);
    if (err instanceof ZodError) return c.json(errorBody('invalid_input', describeZodError(err)), 400);
    const status = (err as { status?: number }).status;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      return c.json(errorBody('bad_request', err.message || 'Bad request.'), status as 400);
    }
    opts.log?.(err);
    return c.json(errorBody('internal_error', 'Something went wrong on our side. Nothing was changed; please try again.'), 500);
  });
  app.notFound((c) => c.json(errorBody('not_found', `No route for ${c.req.method} ${c.req.path}.`), 404));
}

/** 400 `unsupported_content_type` unless the request says its body is `application/json`. */
function requireJsonType(c: Context): void {
  // The media type itself, parameters (charset) aside: a substring test let "application/jsonp"
  // or "text/plain; x=application/json" through.
  const type = (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') {
    throw new BadRequest('Send the body as JSON with "Content-Type: application/json".', 'unsupported_content_type');
  }
}

/** Read and validate a JSON body. Wrong content type, broken JSON and schema errors are 400s. */
export async function jsonBody<S extends z.ZodType>(c: Context, schema: S): Promise<z.infer<S>> {
  requireJsonType(c);
  let raw: unknown;
  try {
    raw = JSON.parse(await c.req.text());
  } catch {
    throw new BadRequest('The request body is not valid JSON.', 'invalid_json');
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new BadRequest(describeZodError(parsed.error), 'invalid_input');
  return parsed.data;
}

/** A body that may be empty (`{}` when absent); one that is there must be JSON, as for {@link jsonBody}. */
export async function optionalJsonBody<S extends z.ZodType>(c: Context, schema: S): Promise<z.infer<S>> {
  const text = await c.req.text();
  if (text.trim() === '') {
    const parsed = schema.safeParse({});
    if (!parsed.success) throw new BadRequest(describeZodError(parsed.error), 'invalid_input');
    return parsed.data;
  }
  requireJsonType(c);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new BadRequest('The request body is not valid JSON.', 'invalid_json');
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new BadRequest(describeZodError(parsed.error), 'invalid_input');
  return parsed.data;
}
