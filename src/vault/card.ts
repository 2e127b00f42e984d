// Bank cards: brand from the number (IIN ranges), the Luhn check, and the masked form shown in lists.

export function cardDigits(number: string): string {
  return number.replace(/[\s-]/g, '');
}

/** Luhn (mod 10) check over the digits; false for anything that is not 12–19 digits. */
export function luhnValid(number: string): boolean {
  const d = cardDigits(number);
  if (!/^\d{12,19}$/.test(d)) return false;
  let sum = 0;
  for (let i = 0; i < d.length; i++) {
    let n = d.charCodeAt(d.length - 1 - i) - 48;
    if (i % 2 === 1) {
      n *= 2;
      if (n > 9) n -= 9;
    }
    sum += n;
  }
  return sum % 10 === 0;
}

const BRANDS: [string, (d: string) => boolean][] = [
  ['American Express', (d) => /^3[47]/.test(d)],
  ['Diners Club', (d) => /^3(0[0-5]|[689])/.test(d)],
  ['JCB', (d) => { const p = Number(d.slice(0, 4)); return p >= 3528 && p <= 3589; }],
  ['Visa', (d) => /^4/.test(d)],
  ['Mastercard', (d) => { const p2 = Number(d.slice(0, 2)); const p4 = Number(d.slice(0, 4)); return (p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720); }],
  ['Discover', (d) => /^(6011|65|64[4-9])/.test(d)],
  ['UnionPay', (d) => /^62/.test(d)],
  ['Maestro', (d) => /^(5[06-8]|6)/.test(d)],
  ['Mir', (d) => /^220[0-4]/.test(d)],
];

export function cardBrand(number: string): string | undefined {
  const d = cardDigits(number);
  // Mir's 2200–2204 sits inside no other range; check it before the generic ones.
  if (/^220[0-4]/.test(d)) return 'Mir';
  return BRANDS.find(([, test]) => test(d))?.[0];
}

export function maskCardNumber(number: string): string {
  const d = cardDigits(number);
  return `•••• ${d.slice(-4)}`;
}
