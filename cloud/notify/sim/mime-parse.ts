/**
 * Just enough RFC 5322 / MIME parsing for the SMTP sink to show what a mail client would:
 * unfolded headers, RFC 2047 encoded words in headers, and the text/plain body decoded from
 * 7bit/8bit, quoted-printable or base64 (also the first text/plain part of a multipart).
 * Line breaks come out as `\n`; the one line break SMTP adds at the end of a 7bit or
 * quoted-printable body is removed (so a body's own final line break is not recoverable).
 */

/** A parsed message: header names lower-cased, the last occurrence wins. */
export interface ParsedMail {
  headers: Map<string, string>;
  text: string;
}

/** Parse a raw message (CRLF or LF line endings) as the bytes that came over SMTP. */
export function parseMail(raw: Buffer): ParsedMail {
  // latin1 maps each byte to one char, so nothing is decoded before we know the charset.
  const { headers, body } = splitHeaders(raw.toString('latin1').replace(/\r\n/g, '\n'));
  return { headers, text: textOf(headers, body) };
}

function splitHeaders(src: string): { headers: Map<string, string>; body: string } {
  const end = src.indexOf('\n\n');
  const head = end === -1 ? src : src.slice(0, end);
  const body = end === -1 ? '' : src.slice(end + 2);
  const headers = new Map<string, string>();
  for (const line of head.replace(/\n[ \t]+/g, ' ').split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const value = Buffer.from(line.slice(colon + 1).trim(), 'latin1').toString('utf8'); // SMTPUTF8 headers
    headers.set(line.slice(0, colon).trim().toLowerCase(), decodeWords(value));
  }
  return { headers, body };
}

function textOf(headers: Map<string, string>, body: string): string {
  const type = headers.get('content-type') ?? 'text/plain';
  if (/^multipart\//i.test(type)) {
    const boundary = /boundary="?([^";]+)"?/i.exec(type)?.[1];
    if (!boundary) return '';
    for (const part of body.split(`--${boundary}`).slice(1)) {
      if (part.startsWith('--')) break;
      const inner = splitHeaders(part.replace(/^\n/, ''));
      const innerType = inner.headers.get('content-type') ?? 'text/plain';
      if (/^(text\/plain|multipart\/)/i.test(innerType)) {
        return textOf(inner.headers, inner.body.replace(/\n$/, ''));
      }
    }
    return '';
  }
  const charset = /charset="?([^";]+)"?/i.exec(type)?.[1] ?? 'utf-8';
  const encoding = (headers.get('content-transfer-encoding') ?? '7bit').toLowerCase();
  if (encoding === 'base64') return decodeBytes(Buffer.from(body.replace(/\s+/g, ''), 'base64'), charset);
  const withoutFinalBreak = body.replace(/\n$/, '');
  if (encoding === 'quoted-printable') {
    // Trailing whitespace on a QP line is transport padding (RFC 2045 6.7 rule 3).
    return decodeBytes(decodeQuotedPrintable(withoutFinalBreak.replace(/[ \t]+$/gm, '')), charset);
  }
  return decodeBytes(Buffer.from(withoutFinalBreak, 'latin1'), charset);
}

/** Quoted-printable (one char per byte) to bytes: soft breaks (`=\n`) vanish, `=XX` becomes a byte. */
export function decodeQuotedPrintable(s: string): Buffer {
  const joined = s.replace(/=\n/g, '');
  const bytes: number[] = [];
  for (let i = 0; i < joined.length; i++) {
    const ch = joined[i]!;
    const hex = joined.slice(i + 1, i + 3);
    if (ch === '=' && /^[0-9A-Fa-f]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(ch.charCodeAt(0) & 0xff);
    }
  }
  return Buffer.from(bytes);
}

/** RFC 2047 `=?charset?Q|B?text?=` words; whitespace between adjacent words is dropped. */
export function decodeWords(value: string): string {
  return value
    .replace(/(\?=)\s+(=\?)/g, '$1$2')
    .replace(/=\?([^?]+)\?([QqBb])\?([^?]*)\?=/g, (_m, charset: string, enc: string, text: string) => {
      const bytes =
        enc.toUpperCase() === 'B' ? Buffer.from(text, 'base64') : decodeQuotedPrintable(text.replace(/_/g, ' '));
      return decodeBytes(bytes, charset);
    });
}

function decodeBytes(bytes: Buffer, charset: string): string {
  try {
    return new TextDecoder(charset.toLowerCase(), { fatal: false }).decode(bytes);
  } catch {
    return bytes.toString('utf8'); // unknown charset label
  }
}
