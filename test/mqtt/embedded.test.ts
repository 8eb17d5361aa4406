import argon2 from 'argon2';
import { startBroker } from '../../cloud/mqtt/broker.js';
import { describeBrokerContract } from './broker-contract.js';
import { CREDS } from './mqtt-test-kit.js';

// The embedded aedes broker, with device secrets checked by argon2 as in production.
describeBrokerContract('the embedded aedes broker', async () => {
  const hashes = new Map<string, string>();
  for (const [bankId, secret] of Object.entries(CREDS.banks)) hashes.set(bankId, await argon2.hash(secret, { type: argon2.argon2id }));
  const broker = await startBroker({
    port: 0,
    cloudUser: CREDS.cloud,
    verifyDevice: async (bankId, secret) => {
      const h = hashes.get(bankId);
      return h ? argon2.verify(h, secret) : false;
    },
  });
  return {
    url: broker.url,
    close: async () => {
      const s = broker.stats();
      console.log(`[embedded] argon2 verifications ${s.verifications}, answered from cache ${s.cacheHits}`);
      await broker.close();
    },
  };
});
