import { createCipheriv, createDecipheriv, createPublicKey, createPrivateKey, diffieHellman, generateKeyPairSync, hkdfSync, randomBytes, type KeyObject } from 'node:crypto';

/**
 * Anonymous public-key encryption ("sealed box"): X25519 with an ephemeral key, HKDF-SHA256,
 * ChaCha20-Poly1305. The hub seals a fresh pickup code to the cloud's public key; only the
 * cloud (holder of the private key) can open it. Equivalent to libsodium's crypto_box_seal.
 *
 * Wire format (base64url): ephemeralPublicKey(32) || nonce(12) || ciphertext || tag(16).
 */
const INFO = Buffer.from('cubby sealed-box v1');

export interface SealKeyPair {
  /** Raw 32-byte X25519 public key, base64url. Hub config. */
  publicKey: string;
  /** PKCS#8 DER private key, base64url. Cloud key store only. */
  privateKey: string;
}

export function generateSealKeyPair(): SealKeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('x25519');
  return {
    publicKey: rawPublic(publicKey).toString('base64url'),
    privateKey: privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64url'),
  };
}

export function seal(plaintext: string, recipientPublicKey: string): string {
  const recipient = x25519Public(Buffer.from(recipientPublicKey, 'base64url'));
  const eph = generateKeyPairSync('x25519');
  const ephPub = rawPublic(eph.publicKey);
  const key = derive(diffieHellman({ privateKey: eph.privateKey, publicKey: recipient }), ephPub, Buffer.from(recipientPublicKey, 'base64url'));
  const nonce = randomBytes(12);
  const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
  const body = Buffer.concat([c.update(plaintext, 'utf8'), c.final()]);
  return Buffer.concat([ephPub, nonce, body, c.getAuthTag()]).toString('base64url');
}

/** Open a sealed box. Throws when the box was not sealed to this key or was tampered with. */
export function open(sealed: string, keys: SealKeyPair): string {
  const buf = Buffer.from(sealed, 'base64url');
  if (buf.length < 32 + 12 + 16) throw new Error('sealed box too short');
  const ephPub = buf.subarray(0, 32);
  const nonce = buf.subarray(32, 44);
  const tag = buf.subarray(buf.length - 16);
  const body = buf.subarray(44, buf.length - 16);
  const priv = createPrivateKey({ key: Buffer.from(keys.privateKey, 'base64url'), format: 'der', type: 'pkcs8' });
  const key = derive(diffieHellman({ privateKey: priv, publicKey: x25519Public(ephPub) }), ephPub, Buffer.from(keys.publicKey, 'base64url'));
  const d = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
  d.setAuthTag(tag);
  return Buffer.concat([d.update(body), d.final()]).toString('utf8');
}

function derive(shared: Buffer, ephPub: Buffer, recipientPub: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', shared, Buffer.concat([ephPub, recipientPub]), INFO, 32));
}

const X25519_SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');
function x25519Public(raw: Buffer): KeyObject {
  if (raw.length !== 32) throw new Error('an X25519 public key is 32 bytes');
  return createPublicKey({ key: Buffer.concat([X25519_SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
}
function rawPublic(k: KeyObject): Buffer {
  return k.export({ format: 'der', type: 'spki' }).subarray(X25519_SPKI_PREFIX.length);
}
