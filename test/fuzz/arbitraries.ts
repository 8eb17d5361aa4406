/**
 * fast-check arbitraries for adversarial HTTP input, reusable for any of our Hono apps (the
 * hub now, the cloud later): describe the routes as a table of {@link RouteSpec} and
 * {@link requestsFor} yields requests that are mostly *almost* right — the right keys with the
 * wrong types, a field missing or one too many, prototype-pollution keys, huge or strange
 * strings, numbers JSON cannot hold, deep nesting, broken JSON, wrong content types, empty and
 * oversized bodies, odd path parameters and forged credentials — plus stray requests (unknown
 * routes, wrong methods).
 *
 * ```ts
 * const table: RouteSpec[] = [{ method: 'POST', path: '/api/pickup', bodyShape: { code: { valid: fc.constant('123-456789') } } }];
 * await fc.assert(fc.asyncProperty(requestsFor(table, { maxBodyBytes: 16 * 1024 }), async (r) => {
 *   const res = await app.request(toRequest(r));
 *   expect(res.status).toBeLessThan(500);
 * }));
 * ```
 */
import fc from 'fast-check';
import { forgedAuthorization, headerValue } from './credentials-arbitraries.js';
import { objectWith, raw, RawJson, toJsonText } from './json-text.js';

export { forgedAuthorization, headerValue } from './credentials-arbitraries.js';

// ---------------------------------------------------------------------------------------------
// Values

/** Strings that have broken parsers, loggers and databases before. */
export const SPECIAL_STRINGS: readonly string[] = [
  '', ' ', '\u0000', 'a\u0000b', '\t\r\n', '\u200b', '\u200c\u200d', '\ufeff', '\u202e123-456789', '\u200f', '\u2028\u2029',
  'مرحبا', 'שלום', '١٢٣-٤٥٦٧٨٩', '１２３-４５６７８９', '123\u00a0456\u2003789', '👩‍👩‍👧', 'e\u0301', '\ud800', '\udfff', 'a\ud83d',
  '${7*7}', '{{7*7}}', '<script>alert(1)</script>', "'; DROP TABLE throttle; --", '%s%n%x', '../../etc/passwd', '..\\..\\boot.ini',
  'null', 'undefined', 'NaN', 'true', '[]', '{}', '-1', '1e309', '0x10', 'cubby:bank-1:', 'Bearer x',
];

/** Object keys and ids that are members of `Object.prototype` (ids looked up with `map[id]`). */
export const PROTO_KEYS: readonly string[] = [
  '__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty', 'isPrototypeOf', '__defineGetter__', '__lookupSetter__',
];

/** Marker properties a successful pollution would add to every object; the test asserts none appear. */
export const POLLUTION_MARKERS: readonly string[] = ['polluted', 'fuzzPolluted', 'isAdmin'];

/** A UTF-16 code unit that is half of a surrogate pair, alone. */
export const loneSurrogate: fc.Arbitrary<string> = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));

/** Unicode at its worst: any code points, lone surrogates, RTL and zero-width marks, NUL, and the specials above. */
export const weirdString: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(...SPECIAL_STRINGS),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.array(fc.oneof(fc.constantFrom(...SPECIAL_STRINGS), loneSurrogate, fc.string({ maxLength: 4 })), { maxLength: 8 }).map((p) => p.join('')),
);

/** A string of `min`..`max` UTF-16 units made of one repeated piece (cheap to build even at 100 KB). */
export function hugeString(min = 1_000, max = 100_000): fc.Arbitrary<string> {
  return fc
    .tuple(fc.constantFrom('x', '9', 'é', '\u200b', '😀', '\u0000', '\\', '"', 'ab-'), fc.integer({ min, max }))
    .map(([piece, n]) => piece.repeat(Math.ceil(n / piece.length)).slice(0, n));
}

/** Numbers JSON cannot hold or holds oddly, written verbatim: `NaN`, `1e309` (Infinity), `-0`, `0x10`… */
export const numberText: fc.Arbitrary<RawJson> = fc
  .constantFrom(
    'NaN', 'Infinity', '-Infinity', '1e309', '-1e309', '1e-400', '-0', '0x10', '1_000', '01', '+1', '.5', '5.', '2.0', '1E1', '3.0e0',
    '9007199254740993', '-9007199254740993', '1e21', '123456789012345678901234567890',
  )
  .map(raw);

/** Arrays nested up to `maxDepth` deep, as text (a recursive parser or validator would overflow its stack). */
export function deepArray(maxDepth = 20_000): fc.Arbitrary<RawJson> {
  return fc.integer({ min: 1, max: maxDepth }).map((n) => raw('['.repeat(n) + ']'.repeat(n)));
}

/** Objects that try to pollute prototypes: `__proto__`, `constructor.prototype`, `prototype`, nested or at the top. */
export const pollution: fc.Arbitrary<Record<string, unknown>> = fc
  .tuple(fc.constantFrom(...POLLUTION_MARKERS), fc.constantFrom<unknown>('yes', true, 1, { nested: true }), fc.nat({ max: 3 }))
  .map(([marker, value, shape]) => {
    const payload = objectWith([[marker, value]]);
    switch (shape) {
      case 0:
        return objectWith([['__proto__', payload]]);
      case 1:
        return objectWith([['constructor', objectWith([['prototype', payload]])]]);
      case 2:
        return objectWith([['prototype', payload]]);
      default:
        return objectWith([['a', objectWith([['__proto__', objectWith([['__proto__', payload]])]])]]);
    }
  });

/** Any value a body field might be sent as, wrong ones first among equals. */
export const anyValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  weirdString,
  fc.constantFrom<unknown>(null, true, false, 0, -1, 1, 1.5, -0, 2 ** 31, 2 ** 53, Number.MAX_VALUE, [], {}, ''),
  fc.constantFrom(...PROTO_KEYS),
  numberText,
  deepArray(200),
  pollution,
  hugeString(100, 2_000),
);

// ---------------------------------------------------------------------------------------------
// Bodies

/** One field of a route's body: a generator of valid values, and whether it may be left out. */
export interface FieldSpec {
  valid: fc.Arbitrary<unknown>;
  optional?: boolean;
}
export type BodyShape = Readonly<Record<string, FieldSpec>>;

/** What a body generator produced: the bytes, the content type to send (`null`: none), and its kind for reports. */
export interface BodySample {
  body: string | Uint8Array | undefined;
  contentType: string | null;
  kind: string;
}

const JSON_TYPE = 'application/json';

/** Content types a client might send, right and wrong. */
export const contentType: fc.Arbitrary<string | null> = fc.oneof(
  { weight: 12, arbitrary: fc.constant(JSON_TYPE) },
  {
    weight: 3,
    arbitrary: fc.constantFrom<string | null>(
      null, 'text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=utf-16', 'APPLICATION/JSON; charset=UTF-8',
      'multipart/form-data; boundary=x', 'application/jsonp', 'text/json', 'application/ld+json', '*/*', '',
    ),
  },
  { weight: 1, arbitrary: headerValue },
);

/** Texts that are not JSON, or are JSON in a way a careless parser gets wrong. */
export const invalidJsonText: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '{', '}', '{"code":', '{"code":}', "{'code':'123-456789'}", '{"code":"1",}', '[1,2', 'undefined', 'NaN', '\ufeff{}', '{"a":1}{"b":2}',
    '// comment\n{}', '{"a":"\\x41"}', '{"a":"unterminated', '{"a":1e}', '{"a":01}', ' ', '\u0000', 'nul', '{"__proto__":', '{a:1}',
  ),
  fc.string({ unit: 'binary', maxLength: 60 }),
  fc.jsonValue().map((v) => toJsonText(v).slice(0, -1) + '\u0000'),
);

/**
 * Bodies for a route that takes `shape` (or none): valid ones, right keys with wrong types,
 * missing and extra fields, pollution, stray JSON values, verbatim numbers, deep nesting, weird
 * unicode, huge strings (up to ~100 KB, past `maxBodyBytes` too), broken JSON, empty, binary,
 * UTF-16, and oversized.
 */
export function bodyFor(shape: BodyShape | undefined, opts: { maxBodyBytes: number; validBody?: fc.Arbitrary<Record<string, unknown>> }): fc.Arbitrary<BodySample> {
  const json = (kind: string, value: fc.Arbitrary<unknown>, weight: number): fc.WeightedArbitrary<BodySample> => ({
    weight,
    arbitrary: fc.tuple(value, contentType).map(([v, type]) => ({ body: toJsonText(v), contentType: type, kind })),
  });
  const text = (kind: string, value: fc.Arbitrary<string | Uint8Array | undefined>, weight: number, type: fc.Arbitrary<string | null> = contentType) => ({
    weight,
    arbitrary: fc.tuple(value, type).map(([body, t]) => ({ body, contentType: t, kind })),
  });
  const keys = Object.keys(shape ?? {});
  const valid = shape ? (opts.validBody ?? validObject(shape)) : undefined;
  const arms: fc.WeightedArbitrary<BodySample>[] = [
    json('json-value', fc.jsonValue(), 2),
    json('number-text', fc.oneof(numberText, fc.dictionary(fc.constantFrom(...keys, 'n'), numberText, { minKeys: 1, maxKeys: 3 })), 1),
    json('deep', fc.oneof(deepArray(), fc.dictionary(fc.constantFrom(...keys, 'd'), deepArray(), { minKeys: 1, maxKeys: 2 })), 1),
    json('pollution', valid ? fc.tuple(valid, pollution).map(([o, p]) => merge(o, p)) : pollution, 2),
    text('invalid-json', invalidJsonText, 2),
    text('empty', fc.constantFrom<string | undefined>(undefined, '', ' ', '\n'), 1),
    text('binary', fc.uint8Array({ maxLength: 256 }), 1),
    text('utf16', fc.jsonValue().map((v) => new Uint8Array(Buffer.from(toJsonText(v), 'utf16le'))), 1, fc.constant('application/json; charset=utf-16')),
    json('huge', fc.tuple(fc.constantFrom(...keys, 'x'), hugeString()).map(([k, s]) => objectWith([[k, s]])), 1),
    text('oversized', oversizedText(opts.maxBodyBytes), 1, fc.constant(JSON_TYPE)),
  ];
  if (shape && valid) {
    arms.push(
      json('valid', valid, 8),
      json('wrong-types', wrongTypes(shape), 8),
      json('missing', missingFields(shape, valid), 3),
      json('extra', extraFields(shape, valid), 3),
      json('unicode', fc.tuple(valid, fc.constantFrom(...keys), weirdString).map(([o, k, s]) => merge(o, objectWith([[k, s]]))), 3),
    );
  }
  return fc.oneof(...arms);
}

/** A body with every field valid (optional ones sometimes left out). */
export function validObject(shape: BodyShape): fc.Arbitrary<Record<string, unknown>> {
  const entries = Object.entries(shape);
  return fc.record(Object.fromEntries(entries.map(([k, f]) => [k, f.valid])), {
    requiredKeys: entries.filter(([, f]) => !f.optional).map(([k]) => k),
  }) as fc.Arbitrary<Record<string, unknown>>;
}

/** The right keys, each value valid or of any other type. */
export function wrongTypes(shape: BodyShape): fc.Arbitrary<Record<string, unknown>> {
  const entries = Object.entries(shape);
  return fc.record(Object.fromEntries(entries.map(([k, f]) => [k, fc.oneof(f.valid, anyValue, anyValue)])));
}

/** A valid body with one or more fields dropped. */
export function missingFields(shape: BodyShape, valid = validObject(shape)): fc.Arbitrary<Record<string, unknown>> {
  return fc.tuple(valid, fc.subarray(Object.keys(shape), { minLength: 1 })).map(([o, drop]) => {
    const out = { ...o };
    for (const k of drop) delete out[k];
    return out;
  });
}

/** A valid body plus fields nobody asked for (prototype names among them). */
export function extraFields(shape: BodyShape, valid = validObject(shape)): fc.Arbitrary<Record<string, unknown>> {
  const key = fc.oneof(fc.constantFrom(...PROTO_KEYS, 'extra', 'id', 'role', 'admin'), weirdString.filter((k) => !(k in shape)));
  return fc
    .tuple(valid, fc.uniqueArray(fc.tuple(key, anyValue), { minLength: 1, maxLength: 3, selector: ([k]) => k }))
    .map(([o, extra]) => merge(o, objectWith(extra)));
}

/** A JSON body of `maxBodyBytes + 1` to about 100 KB (valid JSON, so only the size is wrong). */
export function oversizedText(maxBodyBytes: number): fc.Arbitrary<string> {
  return fc.integer({ min: maxBodyBytes + 1, max: Math.max(100_000, maxBodyBytes * 2) }).map((n) => paddedJson(n));
}

/** `{"pad":"xxx…"}` of exactly `bytes` bytes (at least 10). */
export function paddedJson(bytes: number): string {
  return `{"pad":"${'x'.repeat(Math.max(0, bytes - 10))}"}`;
}

function merge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  return objectWith([...Object.entries(a), ...Object.entries(b)]);
}

// ---------------------------------------------------------------------------------------------
// Paths

/** Path parameters that are not what the route wants: traversal, NUL, bad escapes, huge and odd numbers, unicode. */
export const weirdPathParam: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(
    '..%2F..%2Fetc%2Fpasswd', '..%2f', '%2e%2e', '..', '.', '%00', 'a%00b', '%', '%zz', '%E0%A4%A', '%ED%A0%80', '%C0%AE%C0%AE', '%252e',
    '-1', '0', '-0', '00', '01', '1e3', '2.5', '0x2', '0b1', '%202', '+2', '2%20', ' 2', '99999999999999999999', '1e309', 'NaN', 'Infinity',
    '%D9%A1', '%EF%BC%92', 'constructor', '__proto__', 'toString', '%5F%5Fproto%5F%5F', '%3Bx', 'a;b', "'", '%22', '%0d%0a',
  ),
  fc.integer().map(String),
  fc.bigInt({ min: -(10n ** 40n), max: 10n ** 40n }).map(String),
  fc.integer({ min: 256, max: 20_000 }).map((n) => 'x'.repeat(n)),
  weirdString.map(encodeLoosely),
  fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 20 }).map((s) => s.replace(/[/?#]/g, '_')),
);

/**
 * `encodeURIComponent` that does not throw on a lone surrogate: it is written as its three
 * (invalid) UTF-8 bytes, which a server's decoder must survive.
 */
export function encodeLoosely(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      out += encodeURIComponent(s.slice(i, i + 2));
      i++;
    } else if (c >= 0xd800 && c <= 0xdfff) {
      out += `%${(0xe0 | (c >> 12)).toString(16).toUpperCase()}%${(0x80 | ((c >> 6) & 0x3f)).toString(16).toUpperCase()}%${(0x80 | (c & 0x3f)).toString(16).toUpperCase()}`;
    } else out += encodeURIComponent(s[i]!);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Requests

export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS';

/** One row of an app's route table. */
export interface RouteSpec {
  method: HttpMethod;
  /** Path with `:name` parameters, e.g. `/api/tech/compartments/:n/open`. */
  path: string;
  /** The body's fields; absent: the route reads no body (the fuzzer sends junk anyway). */
  bodyShape?: BodyShape;
  /** Valid bodies when the fields depend on each other (e.g. exactly one of two); default: every field valid. */
  validBody?: fc.Arbitrary<Record<string, unknown>>;
  /** Valid values of the path parameters (weird ones are mixed in); a missing one is only ever weird. */
  params?: Readonly<Record<string, fc.Arbitrary<string>>>;
  /** Name of the credential kind this route wants, a key of {@link FuzzOptions.credentials}. */
  auth?: string;
  /** Valid query strings (without `?`); weird ones are mixed in. */
  query?: fc.Arbitrary<string>;
}

export interface FuzzOptions {
  /** The app's body limit: bodies around and past it are generated. */
  maxBodyBytes: number;
  /** Valid `authorization` header values per credential kind; forged ones are derived from them. */
  credentials?: Readonly<Record<string, readonly string[]>>;
  /** Share of requests to an authenticated route that carry a valid credential, 0..1. Default 0.5. */
  validCredentialShare?: number;
  /**
   * Only well-formed requests: valid parameters, a valid JSON body, the first valid credential.
   * For races between handlers that validation would otherwise stop. Default false.
   */
  wellFormedOnly?: boolean;
}

/** A request to send, printable in a failure report without 100 KB of padding. */
export interface FuzzRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string | Uint8Array | undefined;
  /** The route it was made for (absent for stray requests), and what kind of body it carries. */
  route?: RouteSpec;
  kind: string;
}

/** Requests for one route: its method (or, rarely, a lowercase spelling), a fuzzed path, headers and body. */
export function requestFor(route: RouteSpec, opts: FuzzOptions): fc.Arbitrary<FuzzRequest> {
  const withBody = route.method !== 'GET' && route.method !== 'HEAD';
  const none = fc.constant<BodySample>({ body: undefined, contentType: null, kind: 'none' });
  if (opts.wellFormedOnly) return wellFormedRequest(route, opts, withBody, none);
  const body = withBody ? bodyFor(route.bodyShape, { maxBodyBytes: opts.maxBodyBytes, validBody: route.validBody }) : none;
  return fc
    .record({
      path: pathFor(route),
      body,
      auth: authFor(route, opts),
      extra: extraHeaders,
      method: fc.oneof({ weight: 20, arbitrary: fc.constant<string>(route.method) }, { weight: 1, arbitrary: fc.constant(route.method.toLowerCase()) }),
    })
    .map(({ path, body: b, auth, extra, method }) => {
      const headers: Record<string, string> = { ...extra };
      if (b.contentType !== null) headers['content-type'] = b.contentType;
      if (auth !== undefined) headers.authorization = auth;
      return printable({ method: method === 'patch' ? 'PATCH' : method, path, headers, body: b.body, route, kind: b.kind });
    });
}

function wellFormedRequest(route: RouteSpec, opts: FuzzOptions, withBody: boolean, none: fc.Arbitrary<BodySample>): fc.Arbitrary<FuzzRequest> {
  const shape = route.bodyShape;
  const body: fc.Arbitrary<BodySample> =
    withBody && shape
      ? (route.validBody ?? validObject(shape)).map((v) => ({ body: toJsonText(v), contentType: JSON_TYPE, kind: 'well-formed' }))
      : withBody
        ? fc.constant({ body: undefined, contentType: null, kind: 'well-formed' })
        : none;
  const credential = route.auth ? opts.credentials?.[route.auth]?.[0] : undefined;
  return fc.tuple(pathFor(route, true), body).map(([path, b]) => {
    const headers: Record<string, string> = {};
    if (b.contentType !== null) headers['content-type'] = b.contentType;
    if (credential !== undefined) headers.authorization = credential;
    return printable({ method: route.method, path, headers, body: b.body, route, kind: b.kind });
  });
}

/** Requests no route answers: unknown paths, and known paths with the wrong method. */
export function strayRequest(table: readonly RouteSpec[], opts: FuzzOptions): fc.Arbitrary<FuzzRequest> {
  const methods: HttpMethod[] = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];
  const unknownPath = fc.oneof(
    fc.array(fc.oneof(fc.constantFrom('api', 'tech', 'v1', 'admin', 'courier', 'kiosk', '..', '.', '%2e%2e', ''), weirdPathParam), { maxLength: 6 }).map((s) => '/' + s.join('/')),
    fc.constantFrom('/api', '/api/', '/api/tech', '/api/tech/', '//api/pickup', '/api//pickup', '/API/PICKUP', '/api/pickup/', '/health/', '/.env', '/kiosk/', '/kiosk/../../package.json', '/%2e%2e/%2e%2e/etc/passwd'),
  );
  const wrongMethod = fc.constantFrom(...table).chain((route) =>
    fc.tuple(fc.constantFrom(...methods.filter((m) => m !== route.method && !(route.method === 'GET' && m === 'HEAD'))), requestFor(route, opts)).map(([method, r]) =>
      printable({ ...r, method, body: method === 'GET' || method === 'HEAD' ? undefined : r.body, kind: `wrong-method(${r.kind})` }),
    ),
  );
  const unknown = fc.tuple(fc.constantFrom(...methods), unknownPath.filter((p) => !table.some((r) => pathMatches(r.path, p))), bodyFor(undefined, opts), extraHeaders).map(([method, path, b, extra]) =>
    printable({
      method,
      path,
      headers: b.contentType === null ? extra : { ...extra, 'content-type': b.contentType },
      body: method === 'GET' || method === 'HEAD' ? undefined : b.body,
      kind: `unknown-route(${b.kind})`,
    }),
  );
  return fc.oneof(wrongMethod, unknown);
}

/**
 * Does `path` (as a client sends it: dot segments, escapes, a query) reach the route `template`?
 * Approximates the router closely enough to keep "unknown" paths unknown.
 */
export function pathMatches(template: string, path: string): boolean {
  let pathname: string;
  try {
    pathname = new URL(`http://x${path}`).pathname;
  } catch {
    return false;
  }
  const decode = (seg: string): string => {
    try {
      return decodeURIComponent(seg);
    } catch {
      return seg;
    }
  };
  const got = pathname.split('/').map(decode);
  const want = template.split('/');
  return got.length === want.length && want.every((w, i) => (w.startsWith(':') ? got[i] !== '' : w === got[i]));
}

/** Any request for any route of the table, stray ones included. */
export function requestsFor(table: readonly RouteSpec[], opts: FuzzOptions): fc.Arbitrary<FuzzRequest> {
  return fc.oneof(...table.map((r) => requestFor(r, opts)), strayRequest(table, opts));
}

/** The `Request` to hand to `app.request()` / `app.fetch()`. */
export function toRequest(r: FuzzRequest, origin = 'http://hub.test'): Request {
  return new Request(origin + r.path, { method: r.method, headers: r.headers, body: r.body as RequestInit['body'] });
}

/** A one-line description of a request (huge fields cut). */
export function describeRequest(r: FuzzRequest): string {
  const body = r.body === undefined ? '' : typeof r.body === 'string' ? r.body : `<${r.body.length} bytes>`;
  const cut = (s: string, n: number) => (s.length > n ? `${s.slice(0, n)}…(${s.length} chars)` : s);
  return `${r.method} ${cut(r.path, 200)} [${r.kind}] headers=${cut(JSON.stringify(r.headers), 300)} body=${cut(JSON.stringify(body), 300)}`;
}

function printable(r: FuzzRequest): FuzzRequest {
  Object.defineProperty(r, fc.toStringMethod, { value: () => describeRequest(r), enumerable: false });
  return r;
}

function pathFor(route: RouteSpec, wellFormed = false): fc.Arbitrary<string> {
  const names = [...route.path.matchAll(/:([A-Za-z]+)/g)].map((m) => m[1]!);
  const param = (name: string) => {
    const valid = route.params?.[name];
    if (valid && wellFormed) return valid;
    return valid ? fc.oneof({ weight: 3, arbitrary: valid }, { weight: 2, arbitrary: weirdPathParam }) : weirdPathParam;
  };
  const query = wellFormed
    ? (route.query?.map((q) => `?${q}`) ?? fc.constant(''))
    : route.query
    ? fc.oneof({ weight: 3, arbitrary: route.query.map((q) => `?${q}`) }, { weight: 1, arbitrary: weirdQuery }, { weight: 2, arbitrary: fc.constant('') })
    : fc.oneof({ weight: 5, arbitrary: fc.constant('') }, { weight: 1, arbitrary: weirdQuery });
  return fc.tuple(fc.tuple(...names.map(param)), query).map(([values, q]) => {
    let i = 0;
    return route.path.replace(/:([A-Za-z]+)/g, () => values[i++]!) + q;
  });
}

const weirdQuery: fc.Arbitrary<string> = fc
  .tuple(fc.constantFrom('since', 'x', '__proto__', 'since[]', ''), weirdPathParam)
  .map(([k, v]) => `?${k}=${v}`);

/** Headers that should not matter, with odd values. */
const extraHeaders: fc.Arbitrary<Record<string, string>> = fc.oneof(
  { weight: 6, arbitrary: fc.constant({}) },
  {
    weight: 1,
    arbitrary: fc.dictionary(
      fc.constantFrom('x-forwarded-for', 'accept', 'accept-encoding', 'cookie', 'origin', 'x-request-id', 'transfer-encoding', 'expect', 'x-http-method-override'),
      headerValue,
      { maxKeys: 3 },
    ),
  },
);

function authFor(route: RouteSpec, opts: FuzzOptions): fc.Arbitrary<string | undefined> {
  const valid = route.auth ? (opts.credentials?.[route.auth] ?? []) : [];
  const share = opts.validCredentialShare ?? 0.5;
  const forged = forgedAuthorization(valid);
  if (!route.auth) return fc.oneof({ weight: 8, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: forged });
  if (valid.length === 0) return forged;
  const w = Math.round(share * 100);
  return fc.oneof({ weight: w, arbitrary: fc.constantFrom(...valid) }, { weight: 100 - w, arbitrary: forged });
}
