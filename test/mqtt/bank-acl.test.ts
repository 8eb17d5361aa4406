import { describe, expect, it } from 'vitest';
import { canBankPublish, canBankSubscribe, isBankClientId } from '../../cloud/mqtt/bank-acl.js';
import { parseBankTopic } from '../../shared/mqtt/topics.js';
import { mosquittoAcl } from '../../cloud/mqtt/mosquitto-config.js';
import { externalMqttUrl } from '../../cloud/mqtt/mqtt-url.js';

describe('bank ACL rules', () => {
  it('publish: own subtree except cmd', () => {
    for (const t of ['cubby/banks/bank-1/presence', 'cubby/banks/bank-1/events', 'cubby/banks/bank-1/telemetry', 'cubby/banks/bank-1/commands-log']) {
      expect(canBankPublish('bank-1', t), t).toBe(true);
    }
    for (const t of ['cubby/banks/bank-1/cmd', 'cubby/banks/bank-1/cmd/x', 'cubby/banks/bank-10/events', 'cubby/banks/bank-2/events', 'cubby/banks/bank-1/', 'cubby/banks/bank-1', 'cubby/banks/bank-1/+', 'x/cubby/banks/bank-1/events']) {
      expect(canBankPublish('bank-1', t), t).toBe(false);
    }
  });

  it('subscribe: only filters rooted in the own subtree', () => {
    for (const f of ['cubby/banks/bank-1/#', 'cubby/banks/bank-1/+', 'cubby/banks/bank-1/cmd']) expect(canBankSubscribe('bank-1', f), f).toBe(true);
    for (const f of ['#', 'cubby/#', 'cubby/banks/+/cmd', 'cubby/banks/bank-10/#', 'cubby/banks/bank-1', '+/banks/bank-1/cmd', '$share/g/cubby/banks/bank-1/#']) {
      expect(canBankSubscribe('bank-1', f), f).toBe(false);
    }
  });

  it('client ids are bound to the bank', () => {
    expect(isBankClientId('bank-1', 'hub:bank-1')).toBe(true);
    expect(isBankClientId('bank-1', 'hub:bank-1:tech')).toBe(true);
    expect(isBankClientId('bank-1', 'hub:bank-10')).toBe(false);
    expect(isBankClientId('bank-1', 'hub:bank-1-x')).toBe(false);
  });

  it('parses bank topics and rejects others', () => {
    expect(parseBankTopic('cubby/banks/bank-1/events')).toEqual({ bankId: 'bank-1', leaf: 'events' });
    expect(parseBankTopic('cubby/banks/bank-1/events/x')).toBeUndefined();
    expect(parseBankTopic('cubby/banks/b@d/events')).toBeUndefined();
  });

  it('the Mosquitto ACL file grants banks read-only cmd and the cloud everything under cubby/', () => {
    const acl = mosquittoAcl('cubby-cloud');
    expect(acl).toContain('pattern read cubby/banks/%u/cmd');
    expect(acl).not.toMatch(/pattern (readwrite|write) cubby\/banks\/%u\/(#|cmd)/);
    expect(acl).toMatch(/user cubby-cloud\ntopic readwrite cubby\/#/);
  });

  it('CUBBY_MQTT_URL: any mqtt(s)/ws(s) URL without credentials', () => {
    expect(externalMqttUrl({})).toBeUndefined();
    expect(externalMqttUrl({ CUBBY_MQTT_URL: 'mqtts://broker.example:8883' })).toBe('mqtts://broker.example:8883');
    expect(() => externalMqttUrl({ CUBBY_MQTT_URL: 'http://x' })).toThrow();
    expect(() => externalMqttUrl({ CUBBY_MQTT_URL: 'mqtt://user:pw@x' })).toThrow();
  });
});
