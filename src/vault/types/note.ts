// note: free text (from --notes, stdin, or $EDITOR on a terminal).
import { defineType } from './spec.js';

export default defineType({
  type: 'note',
  description: 'free text',
  fields: [{ name: 'notes' }],
  primary: 'notes',
  notesFromInput: true,
  bitwardenType: 2,
  transfer: { 'kpm-json': 'round-trip', 'bitwarden-json': 'round-trip', kdbx: 'round-trip', 'keepass-xml': 'round-trip', csv: 'round-trip' },
});
