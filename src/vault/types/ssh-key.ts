// ssh-key: an OpenSSH private key (unencrypted, inside the entry's ciphertext only) and what is
// derived from it (src/ssh/entry.ts makes the payload); served by `kpm ssh-agent`. `hosts`
// (comma-separated ssh_config patterns) limits the servers it is offered to; `confirm` = "yes"
// asks before each use.
import { defineType } from './spec.js';

export default defineType({
  type: 'ssh-key',
  description: 'an SSH key, served by `kpm ssh-agent`',
  fields: [
    { name: 'private-key', secret: true },
    { name: 'public-key' },
    { name: 'fingerprint' },
    { name: 'key-type' },
    { name: 'comment' },
    { name: 'hosts' },
    { name: 'confirm' },
    { name: 'notes' },
  ],
  primary: 'public-key',
  addedBy: '`kpm ssh generate NAME` or `kpm ssh import NAME FILE`',
  bitwardenType: 5,
  transfer: { 'kpm-json': 'round-trip', 'bitwarden-json': { becomes: 'ssh-key', rewritten: ['private-key'], why: 'Bitwarden keeps the key; kpm writes it anew on import (the same key, new check numbers)' }, kdbx: 'round-trip', 'keepass-xml': 'round-trip', csv: 'round-trip' },
});
