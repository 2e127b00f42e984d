// A QR code as an inline SVG (the TOTP set-up page), drawn on the server: no script, no image request.
// The encoder is the one qrcode-terminal (a dependency already, MIT) ships in vendor/QRCode.
import { createRequire } from 'node:module';

interface QrEncoder {
  addData(data: string): void;
  make(): void;
  getModuleCount(): number;
  isDark(row: number, col: number): boolean;
}

const require = createRequire(import.meta.url);
let Encoder: (new (type: number, level: number) => QrEncoder) | undefined;
const LEVEL_M = 0; // vendor/QRCode/QRErrorCorrectLevel: L 1, M 0, Q 3, H 2

/** The modules of the QR code of `text` (error correction M, the smallest version that fits). */
export function qrModules(text: string): boolean[][] {
  Encoder ??= require('qrcode-terminal/vendor/QRCode/index.js') as new (type: number, level: number) => QrEncoder;
  const qr = new Encoder(-1, LEVEL_M);
  qr.addData(text);
  qr.make();
  const n = qr.getModuleCount();
  return Array.from({ length: n }, (_, r) => Array.from({ length: n }, (_, c) => qr.isDark(r, c)));
}

/** One SVG path of the dark modules, with the 4-module quiet zone the standard asks for. */
export function qrSvg(text: string, label: string): string {
  const m = qrModules(text);
  const size = m.length + 8;
  let d = '';
  m.forEach((row, r) => row.forEach((dark, c) => dark && (d += `M${c + 4} ${r + 4}h1v1h-1z`)));
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${size} ${size}" role="img" aria-label="${label.replace(/[<>&"]/g, '')}" shape-rendering="crispEdges"><rect width="${size}" height="${size}" fill="#fff"/><path fill="#000" d="${d}"/></svg>`;
}
