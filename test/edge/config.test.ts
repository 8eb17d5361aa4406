import { describe, expect, it } from 'vitest';
import { hubConfigSchema, provisionSchema } from '../../edge/config.js';

describe('hub configuration: the cloud URL', () => {
  const base = { bankId: 'bank-1', port: 0, model: 'cubby-24' };
  it('is one URL, or every cloud node’s, comma-separated', () => {
    expect(hubConfigSchema.parse({ ...base, cloudUrl: 'http://127.0.0.1:8000' }).cloudUrl).toBe('http://127.0.0.1:8000');
    expect(hubConfigSchema.parse({ ...base, cloudUrl: 'http://10.0.0.1:8000, https://10.0.0.2:8000' }).cloudUrl).toBe('http://10.0.0.1:8000, https://10.0.0.2:8000');
    for (const bad of ['10.0.0.1:8000', 'http://a:1,', 'ftp://x', 'http://a:1,nonsense']) {
      expect(hubConfigSchema.safeParse({ ...base, cloudUrl: bad }).success, bad).toBe(false);
    }
  });
  it('a provisioning file written by a clustered cloud carries the list', () => {
    const p = { bankId: 'bank-1', pepper: 'x'.repeat(22), deviceSecret: 'secret-123', cloudSealPublicKey: 'k'.repeat(20), cloudSigningPublicKey: 's'.repeat(20), cloudUrl: 'http://n1:8000,http://n2:8000' };
    expect(provisionSchema.parse(p).cloudUrl).toBe('http://n1:8000,http://n2:8000');
  });
});
