// A child process that writes to a vault with kpm's own store code, for the concurrency and crash
// tests. It gets the account key on stdin in the agent's handover format, so it pays no key
// derivation and many processes can be started, killed and restarted cheaply.
//
//   node vault-worker.mjs PREFIX COUNT     (KPM_HOME set; handover bytes on stdin)
// adds COUNT login entries PREFIX0…, one commit each, and prints "ok NAME" after each commit.
import { decodeHandover } from '../../src/agent/handover.js';
import { resolvePaths } from '../../src/core/paths.js';
import { Session } from '../../src/vault/session.js';

async function main(): Promise<void> {
  const [prefix, count] = process.argv.slice(2);
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  const { profile } = decodeHandover(Buffer.concat(chunks));
  const session = await Session.open(resolvePaths(), profile);
  process.stdout.write('ready\n');
  for (let i = 0; i < Number(count); i++) {
    const name = `${prefix}${i}`;
    const now = new Date().toISOString();
    await session.add(undefined, { type: 'login', name, fields: { password: `pw-${name}` }, custom: [], tags: [], created: now, updated: now, passwordChanged: now });
    process.stdout.write(`ok ${name}\n`);
  }
}

main().catch((e) => {
  process.stderr.write(`worker: ${(e as Error).message}\n`);
  process.exit(1);
});
