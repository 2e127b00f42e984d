// The whole-process floor for "derive a key from a password in Node": start Node, load the native
// `argon2` package, hash once with kpm's default parameters (Argon2id, 64 MiB, t=3, p=4, 32 bytes),
// exit. bench/kdf.sh times it next to `kpm get --password-stdin` and `kpm unlock`.
import { createRequire } from 'node:module';

const argon2 = createRequire(import.meta.url)('argon2');
await argon2.hash(Buffer.from(process.argv[2] ?? 'bench master password 1'), {
  type: argon2.argon2id,
  raw: true,
  salt: Buffer.alloc(16, 7),
  memoryCost: 65536,
  timeCost: 3,
  parallelism: 4,
  hashLength: 32,
  version: 0x13,
});
