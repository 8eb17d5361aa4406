import { describe, expect, it } from 'vitest';
import { decodeWords, parseMail } from '../../../cloud/notify/sim/mime-parse.js';

const mail = (lines: string[]): Buffer => Buffer.from(lines.join('\r\n'), 'utf8');

describe('mime-parse', () => {
  it('unfolds headers and decodes RFC 2047 words (Q and B, adjacent words joined)', () => {
    const m = parseMail(mail(['Subject: =?UTF-8?Q?Ihr_Code_?=', ' =?UTF-8?B?4oCTIEZhY2g=?= 3', 'From: a@b.c', '', 'x', '']));
    expect(m.headers.get('subject')).toBe('Ihr Code – Fach 3');
    expect(decodeWords('plain')).toBe('plain');
  });

  it('decodes quoted-printable with soft breaks and padding, dropping only the transport line break', () => {
    const m = parseMail(
      mail(['Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: quoted-printable', '', 'Hallo J=C3=BCrgen,  ', 'ab=', 'cd =E2=82=AC', '']),
    );
    expect(m.text).toBe('Hallo Jürgen,\nabcd €');
  });

  it('decodes base64 exactly and raw 8bit UTF-8', () => {
    const b64 = Buffer.from('Zeile 1\nZeile 2 ü\n').toString('base64');
    expect(parseMail(mail(['Content-Transfer-Encoding: base64', '', b64, ''])).text).toBe('Zeile 1\nZeile 2 ü\n');
    expect(parseMail(mail(['Content-Transfer-Encoding: 8bit', '', 'Grüße', ''])).text).toBe('Grüße');
  });

  it('takes the text/plain part of a multipart/alternative message', () => {
    const m = parseMail(
      mail([
        'Content-Type: multipart/alternative; boundary="XX"',
        '',
        '--XX',
        'Content-Type: text/html',
        '',
        '<p>html</p>',
        '--XX',
        'Content-Type: text/plain; charset=utf-8',
        'Content-Transfer-Encoding: quoted-printable',
        '',
        'plain =C3=A4',
        '--XX--',
        '',
      ]),
    );
    expect(m.text).toBe('plain ä');
  });
});
