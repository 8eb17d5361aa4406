import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { KIOSK_HEADERS, kioskAssets } from '../../edge/kiosk/kiosk-assets.js';

type Dict = Record<string, string>;
interface I18n {
  STRINGS: { en: Dict; de: Dict };
  LANGUAGES: string[];
  pickLanguage(prefs: readonly (string | undefined)[]): string;
  t(lang: string, key: string, params?: Record<string, unknown>): string;
}

const i18nUrl = new URL('../../edge/kiosk/static/i18n.js', import.meta.url);

const TEST_IDS = [
  'code-display',
  ...Array.from({ length: 10 }, (_, i) => `key-${i}`),
  'key-ok',
  'key-clear',
  'key-back',
  'message',
  'offline-banner',
  'lang-toggle',
  'courier-mode',
  'courier-id',
  'courier-secret',
  'parcel-id',
  'parcel-size',
  'courier-submit',
  'courier-done',
  'countdown',
];

const OUTCOMES = [
  'opened',
  'invalid_code',
  'throttled',
  'code_expired',
  'code_revoked',
  'code_used',
  'door_fault',
  'malformed_code',
  'error',
  'deposit_open',
  'deposited',
];

const placeholders = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

describe('kiosk static assets', () => {
  const assets = kioskAssets();
  const html = assets.get('index.html')?.body ?? '';
  const js = assets.get('kiosk.js')?.body ?? '';
  let i18n: I18n;

  beforeAll(async () => {
    i18n = (await import(i18nUrl.href)) as I18n;
  });

  it('serves exactly the four files with their content types', () => {
    expect([...assets.keys()].sort()).toEqual(['i18n.js', 'index.html', 'kiosk.css', 'kiosk.js']);
    expect(assets.get('index.html')?.type).toMatch(/^text\/html\b/);
    expect(assets.get('kiosk.css')?.type).toMatch(/^text\/css\b/);
    expect(assets.get('kiosk.js')?.type).toMatch(/^text\/javascript\b/);
    expect(assets.get('i18n.js')?.type).toMatch(/^text\/javascript\b/);
    for (const [name, asset] of assets) expect(asset.body.length, name).toBeGreaterThan(100);
    // read once: the same bodies come back, and mutating one result does not leak into the next
    assets.delete('kiosk.js');
    expect(kioskAssets().get('kiosk.js')?.body).toBe(js);
  });

  it('the page loads its own assets from /kiosk/ and nothing from elsewhere', () => {
    expect(html).toContain('href="/kiosk/kiosk.css"');
    expect(html).toMatch(/<script type="module" src="\/kiosk\/kiosk.js"><\/script>/);
    expect(js).toContain("from './i18n.js'");
    for (const [name, asset] of kioskAssets()) {
      expect(asset.body, name).not.toMatch(/(?:https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}\//i);
      expect(asset.body, name).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/i); // no inline script (CSP)
      expect(asset.body, name).not.toMatch(/\sstyle="/i); // no inline style (CSP)
    }
    expect(KIOSK_HEADERS['content-security-policy']).toContain("default-src 'self'");
  });

  it('has every data-testid the browser tests rely on', () => {
    for (const id of TEST_IDS) {
      const inHtml = html.includes(`data-testid="${id}"`);
      const inJs = js.includes(`testid = '${id}'`) || js.includes(`data-testid="${id}"`);
      expect(inHtml || inJs, id).toBe(true);
    }
    // each id appears once in the page
    for (const id of TEST_IDS) expect(html.split(`data-testid="${id}"`).length - 1, id).toBeLessThanOrEqual(1);
  });

  it('the outcome region is an assertive live region carrying data-outcome', () => {
    expect(html).toMatch(/data-testid="message"[^>]*data-outcome=""[^>]*aria-live="assertive"/);
    expect(html).toMatch(/<html lang="en">/);
    for (const key of OUTCOMES) expect(js, key).toMatch(new RegExp(`['"]${key}['"]`));
  });

  it('every key exists in English and German, with the same placeholders', () => {
    const { en, de } = i18n.STRINGS;
    expect(i18n.LANGUAGES).toEqual(['en', 'de']);
    expect(Object.keys(de).sort()).toEqual(Object.keys(en).sort());
    for (const key of Object.keys(en)) {
      expect(typeof en[key] === 'string' && en[key]!.trim().length > 0, `en.${key}`).toBe(true);
      expect(typeof de[key] === 'string' && de[key]!.trim().length > 0, `de.${key}`).toBe(true);
      expect(placeholders(de[key]!), key).toEqual(placeholders(en[key]!));
    }
  });

  it('every key the page and the script use is defined', () => {
    const { en } = i18n.STRINGS;
    const used = new Set<string>();
    for (const m of html.matchAll(/data-i18n(?:-aria-label)?="(\w+)"/g)) used.add(m[1]!);
    for (const m of js.matchAll(/\btr\('(\w+)'/g)) used.add(m[1]!);
    for (const m of js.matchAll(/\btextKey: '(\w+)'/g)) used.add(m[1]!);
    for (const m of js.matchAll(/\btr\(courier \? '(\w+)' : '(\w+)'\)/g)) used.add(m[1]!).add(m[2]!);
    for (const m of js.matchAll(/: '(courier_\w+)',/g)) used.add(m[1]!);
    for (const key of OUTCOMES) if (key !== 'throttled') used.add(key);
    for (const key of ['throttled', 'wrong_bank', 'qr_invalid', 'scan_hint', 'invalid_code_one', 'invalid_code_other']) used.add(key);
    expect(used.size).toBeGreaterThan(40);
    for (const key of used) expect(en, key).toHaveProperty(key);
  });

  it('picks the language from the browser and fills placeholders', () => {
    expect(i18n.pickLanguage(['de-AT', 'en'])).toBe('de');
    expect(i18n.pickLanguage(['fr-FR', 'en-GB'])).toBe('en');
    expect(i18n.pickLanguage(['fr-FR'])).toBe('en');
    expect(i18n.pickLanguage([undefined])).toBe('en');
    expect(i18n.t('en', 'opened', { n: 7 })).toBe('Compartment 7 is open — take your parcel and close the door');
    expect(i18n.t('de', 'invalid_code_other', { n: 3 })).toBe('Falscher Code — noch 3 Versuche');
    expect(i18n.t('en', 'throttled')).toContain('{time}'); // filled with the live countdown node
  });

  it('never persists the pickup code', () => {
    expect(js).not.toMatch(/localStorage|sessionStorage|indexedDB|document\.cookie|caches\./);
  });

  it('the scripts are valid ES modules', () => {
    for (const name of ['kiosk.js', 'i18n.js']) {
      const path = fileURLToPath(new URL(`../../edge/kiosk/static/${name}`, import.meta.url));
      expect(() => execFileSync(process.execPath, ['--check', path], { stdio: 'pipe' }), name).not.toThrow();
    }
  });
});
