// document: files (`kpm doc add`, src/cli/commands/docs.ts) with notes; the files are blobs.
import { defineType } from './spec.js';

export default defineType({
  type: 'document',
  description: 'files with notes (`kpm doc add`)',
  fields: [{ name: 'notes' }],
  primary: 'notes',
  bitwardenType: 2,
  transfer: { 'kpm-json': 'round-trip', 'bitwarden-json': { becomes: 'note', why: 'a document becomes a secure note; its files are not in the export' }, kdbx: 'round-trip', 'keepass-xml': 'round-trip', csv: 'round-trip' },
});
