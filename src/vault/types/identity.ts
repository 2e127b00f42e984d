// identity: a person's name, address and contact details (for filling in forms).
import { defineType } from './spec.js';

export default defineType({
  type: 'identity',
  description: "a person's name, address and contact details",
  fields: ['fullname', 'address', 'city', 'postcode', 'country', 'phone', 'email', 'birthday', 'notes'].map((name) => ({ name })),
  primary: 'fullname',
  promptFields: true,
  bitwardenType: 4,
  transfer: { 'kpm-json': 'round-trip', 'bitwarden-json': 'round-trip', kdbx: 'round-trip', 'keepass-xml': 'round-trip', csv: 'round-trip' },
});
