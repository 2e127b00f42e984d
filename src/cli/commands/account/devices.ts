// kpm devices [list|revoke|rename]: the devices signed in to the account.
import type { Command } from 'commander';
import { KpmError, EXIT, usageError } from '../../../core/errors.js';
import type { DeviceT } from '../../../protocol/schemas.js';
import { info, json, out } from '../../io.js';
import { requireSettingsPassword } from '../../guard.js';
import { serverOptions, signedIn } from './connect.js';
import { deviceName } from './input.js';
import { since } from './output.js';

export function registerDevices(program: Command): void {
  const devices = program.command('devices').description('devices signed in to your account').addHelpText('after', '\nExamples:\n  kpm devices\n  kpm devices revoke 3f2a9c1b0d4e5f60');
  serverOptions(devices.command('list', { isDefault: true }).description('list the signed-in devices (the default)').option('--json', 'print JSON'))
    .addHelpText('after', '\nExamples:\n  kpm devices\n  kpm devices --json')
    .action(async (o) => {
      const { call, api } = await signedIn(o);
      const { devices: list } = await call<{ devices: DeviceT[] }>('devices');
      await api.close();
      if (o.json) return json(list);
      const w = Math.max(4, ...list.map((d) => d.name.length));
      out(`${'ID'.padEnd(16)}  ${'NAME'.padEnd(w)}  ${'SIGNED IN'.padEnd(16)}  LAST SEEN`);
      for (const d of list) out(`${d.id.padEnd(16)}  ${d.name.padEnd(w)}  ${since(d.createdAt).padEnd(16)}  ${since(d.lastSeenAt)}${d.current ? '  (this device)' : ''}`);
    });
  serverOptions(devices.command('revoke <id>').description('sign a device out (its id, or the first 4+ characters of it)'))
    .option('--settings-password-stdin', 'read the settings password from stdin (when the settings are protected; after any other stdin lines)')
    .addHelpText('after', '\nExamples:\n  kpm devices revoke 3f2a9c1b0d4e5f60\n  kpm devices revoke 3f2a')
    .action(async (given: string, o) => {
      const prefix = given.toLowerCase();
      if (!/^[0-9a-f]{4,32}$/.test(prefix)) throw usageError(`"${given}" is not a device id`, 'see `kpm devices`');
      await requireSettingsPassword('devices revoke', { settingsPasswordStdin: o.settingsPasswordStdin });
      const { call, api, session, h, paths } = await signedIn(o);
      const { devices: list } = await call<{ devices: DeviceT[] }>('devices');
      const hits = list.filter((d) => d.id.startsWith(prefix));
      if (hits.length !== 1) await api.close();
      if (hits.length === 0) throw new KpmError(`no device ${given}`, EXIT.notFound, 'see `kpm devices`');
      if (hits.length > 1) throw new KpmError(`"${given}" matches ${hits.length} devices; give more of the id`, EXIT.usage);
      const id = hits[0].id;
      await call('revokeDevice', { params: { id } });
      await api.close();
      if (id === session.device.id) {
        h.clearSession(paths);
        return info('This device is signed out.');
      }
      info(`Device ${id} is signed out.`);
    });
  serverOptions(devices.command('rename <id> <name>').description('rename a device'))
    .addHelpText('after', '\nExample:\n  kpm devices rename 3f2a9c1b0d4e5f60 "work laptop"')
    .action(async (id: string, name: string, o) => {
      const { call, api, session, h, paths } = await signedIn(o);
      const d = await call<DeviceT>('renameDevice', { params: { id }, body: { name: deviceName(name) } });
      await api.close();
      if (d.current) h.saveSession(paths, { ...session, device: { id: d.id, name: d.name } });
      info(`Device ${d.id} is now "${d.name}".`);
    });
}
