import { describeBrokerContract } from './broker-contract.js';
import { CREDS } from './mqtt-test-kit.js';
import { startMosquitto } from '../support/mosquitto.js';

/**
 * The same flow against a real Mosquitto (the Debian package): password file made with
 * `mosquitto_passwd`, ACL from `mosquittoAcl`, no anonymous access. Not skippable: the
 * deployment table names Mosquitto, so CI must prove Cubby works with it.
 */
describeBrokerContract('Mosquitto', () => startMosquitto(CREDS.cloud, CREDS.banks));
