import { readFileSync } from 'node:fs';

/**
 * The kiosk (locker touchscreen) page: plain static files, no build step. The hub serves
 * `index.html` at `GET /` and every entry at `GET /kiosk/<name>`.
 */
export interface KioskAsset {
  body: string;
  type: string;
}

const FILES: ReadonlyArray<readonly [name: string, type: string]> = [
  ['index.html', 'text/html; charset=utf-8'],
  ['kiosk.css', 'text/css; charset=utf-8'],
  ['kiosk.js', 'text/javascript; charset=utf-8'],
  ['i18n.js', 'text/javascript; charset=utf-8'],
];

/**
 * Headers worth sending with every kiosk asset: the page loads nothing from elsewhere and has
 * no inline script or style, so a strict same-origin policy holds; the camera (QR) is the only
 * device it may ask for.
 */
export const KIOSK_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self' blob: mediastream:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'",
  'permissions-policy': 'camera=(self), microphone=(), geolocation=()',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
});

let cache: Map<string, KioskAsset> | undefined;

/** The kiosk's files by name, read from disk once per process. */
export function kioskAssets(): Map<string, KioskAsset> {
  if (!cache) {
    cache = new Map();
    for (const [name, type] of FILES) {
      const body = readFileSync(new URL(`./static/${name}`, import.meta.url), 'utf8');
      cache.set(name, Object.freeze({ body, type }));
    }
  }
  // a fresh Map so a caller cannot change what the next caller gets
  return new Map(cache);
}
