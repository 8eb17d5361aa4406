/**
 * `cubby <command>`: one entry point for every program of the system.
 *   cubby cloud                 run the cloud (API, sync, MQTT broker)
 *   cubby edge --bank bank-1    run one bank's hub
 *   cubby tech <cmd> --hub URL  the field technician's tool
 *   cubby support diagnose ID   why did a parcel's code not arrive?
 */
const [command, ...rest] = process.argv.slice(2);

const commands: Record<string, () => Promise<{ main(args: string[]): Promise<void> }>> = {
  cloud: () => import('../cloud/main.js'),
  edge: () => import('../edge/main.js'),
  tech: () => import('../edge/tech-cli/main.js'),
  support: () => import('../cloud/support-cli/main.js'),
};

const load = command ? commands[command] : undefined;
if (!load) {
  process.stderr.write(`usage: cubby <${Object.keys(commands).join('|')}> [options]\n`);
  process.exit(2);
}
const mod = await load();
await mod.main(rest);
