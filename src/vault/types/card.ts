// card: a bank card. The brand is detected from the number, which is checked with Luhn (a
// warning, not a refusal) and shown masked ("•••• 4242") in lists and `kpm show`.
import { cardBrand, luhnValid, maskCardNumber } from '../card.js';
import { defineType } from './spec.js';

export default defineType({
  type: 'card',
  description: 'a bank card',
  fields: [
    { name: 'cardholder' },
    { name: 'number', secret: true, mask: maskCardNumber },
    { name: 'expiry' },
    { name: 'code', secret: true },
    { name: 'pin', secret: true },
    { name: 'brand', noPrompt: true },
    { name: 'notes' },
  ],
  primary: 'number',
  promptFields: true,
  hint: (f) => (f.number ? maskCardNumber(f.number) : undefined),
  complete(f) {
    if (!f.number) return undefined;
    const brand = cardBrand(f.number);
    if (brand && !f.brand) f.brand = brand;
    return luhnValid(f.number) ? undefined : 'the card number fails the Luhn check; saved anyway, but check for a typo';
  },
  bitwardenType: 3,
  transfer: { 'kpm-json': 'round-trip', 'bitwarden-json': 'round-trip', kdbx: 'round-trip', 'keepass-xml': 'round-trip', csv: 'round-trip' },
});
