// Entry point. Internal sub-processes (the agent, the clipboard clearer) are dispatched before the
// command-line program is even loaded, and so is the hot path `kpm get NAME` with an unlocked agent.
import { fastPath } from './fastpath.js';
import { describeSystemError } from '../core/text.js';

const argv = process.argv.slice(2);

async function main(): Promise<number> {
  if (argv[0] === '__agent') {
    const { runAgent } = await import('../agent/server.js');
    const { resolvePaths } = await import('../core/paths.js');
    await runAgent(resolvePaths());
    return -1; // keeps running
  }
  if (argv[0] === '__clipclear') {
    const { clearLater } = await import('./clipboard.js');
    let digest = '';
    for await (const c of process.stdin) digest += c;
    await clearLater(Number(argv[1]), digest.trim());
    return 0;
  }
  // bin/kpm tries the hot paths from its own small bundle first; run directly, try them here.
  if (!(globalThis as { __kpmFastPathTried?: boolean }).__kpmFastPathTried) {
    const fast = await fastPath(argv);
    if (fast !== undefined) return fast;
  }
  const { runCli } = await import('./program.js');
  return runCli(argv);
}

main().then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (e) => {
    process.stderr.write(`kpm: ${describeSystemError(e) ?? `unexpected error: ${(e as Error)?.message ?? e}`}\n`);
    process.exitCode = 1;
  },
);
