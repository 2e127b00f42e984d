// login: a user name and password for a website or service (the default type of `kpm add`).
import { defineType } from './spec.js';

export default defineType({
  type: 'login',
  description: 'a user name and password for a website or service',
  fields: [{ name: 'username' }, { name: 'password', secret: true }, { name: 'url' }, { name: 'notes' }, { name: 'totp', secret: true }],
  primary: 'password',
  needsPassword: true,
  bitwardenType: 1,
  transfer: { 'kpm-json': 'round-trip', 'bitwarden-json': 'round-trip', kdbx: 'round-trip', 'keepass-xml': 'round-trip', csv: 'round-trip' },
});
