// The security check's captcha: characters from an unambiguous alphabet drawn in a 5×5 block font as
// text art (the CLI prints it), or as an SVG or PNG image on request. Jitter, mixed ink and noise keep
// it from being a plain string; it slows people-shaped attacks down, while the hard cap per account
// (throttle.ts) is what bounds guessing.
import { deflateSync } from 'node:zlib';
import { randomIndex } from '../crypto/random.js';

export const CAPTCHA_ALPHABET = 'ACDEFHJKLMNPRTUVWXY34679';
export const CAPTCHA_LENGTH = 5;
export const INK = '#@%&';
const NOISE = ".,'`";

/** Five rows of five cells per character; every column has ink, so characters separate cleanly. */
export const FONT: Record<string, string[]> = {
  A: ['.###.', '#...#', '#####', '#...#', '#...#'],
  C: ['.####', '#....', '#....', '#....', '.####'],
  D: ['####.', '#...#', '#...#', '#...#', '####.'],
  E: ['#####', '#....', '####.', '#....', '#####'],
  F: ['#####', '#....', '####.', '#....', '#....'],
  H: ['#...#', '#...#', '#####', '#...#', '#...#'],
  J: ['....#', '....#', '....#', '#...#', '.###.'],
  K: ['#...#', '#..#.', '###..', '#..#.', '#...#'],
  L: ['#....', '#....', '#....', '#....', '#####'],
  M: ['#...#', '##.##', '#.#.#', '#...#', '#...#'],
  N: ['#...#', '##..#', '#.#.#', '#..##', '#...#'],
  P: ['####.', '#...#', '####.', '#....', '#....'],
  R: ['####.', '#...#', '####.', '#..#.', '#...#'],
  T: ['#####', '..#..', '..#..', '..#..', '..#..'],
  U: ['#...#', '#...#', '#...#', '#...#', '.###.'],
  V: ['#...#', '#...#', '#...#', '.#.#.', '..#..'],
  W: ['#...#', '#...#', '#.#.#', '##.##', '#...#'],
  X: ['#...#', '.#.#.', '..#..', '.#.#.', '#...#'],
  Y: ['#...#', '.#.#.', '..#..', '..#..', '..#..'],
  '3': ['####.', '....#', '.###.', '....#', '####.'],
  '4': ['#..#.', '#..#.', '#####', '...#.', '...#.'],
  '6': ['.###.', '#....', '####.', '#...#', '.###.'],
  '7': ['#####', '....#', '...#.', '..#..', '..#..'],
  '9': ['.###.', '#...#', '.####', '....#', '.###.'],
};

const pick = (s: string): string => s[randomIndex(s.length)];

export function newCaptchaAnswer(length = CAPTCHA_LENGTH): string {
  let a = '';
  for (let i = 0; i < length; i++) a += pick(CAPTCHA_ALPHABET);
  return a;
}

interface Placed {
  ch: string;
  x: number; // first cell column
  y: number; // first cell row
}

const JITTER = 2;

function layout(answer: string): { placed: Placed[]; width: number; height: number } {
  const placed: Placed[] = [];
  let x = 1;
  for (const ch of answer) {
    placed.push({ ch, x, y: randomIndex(JITTER + 1) });
    x += 5 + 2 + randomIndex(2);
  }
  return { placed, width: x, height: 5 + JITTER };
}

/** Text art, each cell two characters wide so the letters look square in a terminal. */
export function captchaLines(answer: string): string[] {
  const { placed, width, height } = layout(answer);
  const grid = Array.from({ length: height }, () => Array.from({ length: width }, () => (randomIndex(100) < 8 ? pick(NOISE) : ' ')));
  for (const p of placed) {
    const ink = pick(INK);
    FONT[p.ch].forEach((row, dy) => [...row].forEach((c, dx) => c === '#' && (grid[p.y + dy][p.x + dx] = ink)));
  }
  return grid.map((row) => row.map((c) => c + (INK.includes(c) ? c : ' ')).join('').trimEnd());
}

const CELL = 6;

export function captchaSvg(answer: string): string {
  const { placed, width, height } = layout(answer);
  const W = (width + 1) * CELL;
  const H = (height + 2) * CELL;
  const parts: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">`, `<rect width="${W}" height="${H}" fill="#fff"/>`];
  for (let i = 0; i < 6; i++) {
    parts.push(`<line x1="${randomIndex(W)}" y1="${randomIndex(H)}" x2="${randomIndex(W)}" y2="${randomIndex(H)}" stroke="#999" stroke-width="1"/>`);
  }
  for (const p of placed) {
    const angle = randomIndex(25) - 12;
    const cx = (p.x + 2.5) * CELL;
    const cy = (p.y + 3.5) * CELL;
    parts.push(`<g transform="rotate(${angle} ${cx} ${cy})" fill="#222">`);
    FONT[p.ch].forEach((row, dy) =>
      [...row].forEach((c, dx) => c === '#' && parts.push(`<rect x="${(p.x + dx) * CELL}" y="${(p.y + dy + 1) * CELL}" width="${CELL}" height="${CELL}"/>`)),
    );
    parts.push('</g>');
  }
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buf: Buffer): number {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/** A greyscale PNG of the captcha with noise pixels. */
export function captchaPng(answer: string): Buffer {
  const { placed, width, height } = layout(answer);
  const W = (width + 1) * CELL;
  const H = (height + 2) * CELL;
  const px = Buffer.alloc(W * H, 255);
  for (let i = 0; i < (W * H) / 12; i++) px[randomIndex(W * H)] = 96 + randomIndex(128);
  for (const p of placed) {
    const shear = randomIndex(5) - 2;
    FONT[p.ch].forEach((row, dy) =>
      [...row].forEach((c, dx) => {
        if (c !== '#') return;
        for (let yy = 0; yy < CELL; yy++) {
          for (let xx = 0; xx < CELL; xx++) {
            const y = (p.y + dy + 1) * CELL + yy;
            const x = (p.x + dx) * CELL + xx + Math.round((shear * (dy * CELL + yy)) / (5 * CELL));
            if (x >= 0 && x < W && y < H) px[y * W + x] = 24;
          }
        }
      }),
    );
  }
  const raw = Buffer.alloc((W + 1) * H);
  for (let y = 0; y < H; y++) px.copy(raw, y * (W + 1) + 1, y * W, (y + 1) * W);
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(W, 0);
  ihdr.writeUInt32BE(H, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // greyscale
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}
