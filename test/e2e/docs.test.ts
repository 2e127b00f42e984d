// Documents and attachments end to end, through the built binary: doc add / get / list / rm,
// attach, attachments, overwrite refusal, file modes, and a tampered blob (exit 8, nothing written).
import { seeded } from '../helpers/seeded.js';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { kpm as runKpm, BIN, cleanEnv, initHome, describeTty, MASTER, runOk, runTty, stopAgent, withMaster, type RunResult } from '../helpers/kpm.js';

const env = withMaster();

/** `kpm(home, ARGS, code, input)`: the shared runner (test/helpers/kpm.ts), unlocked, no stack trace or master password in the output. */
const kpm = (home: string, args: string[], code: number, input?: string): Promise<RunResult> => runKpm(home, args, code, { env, input, secrets: [MASTER] });

const blobFiles = (home: string): string[] => {
  const dir = join(home, 'data', 'blobs');
  return fs.existsSync(dir) ? fs.readdirSync(dir) : [];
};

describe('documents', () => {
  let home: string;
  let src: string;
  const files: Record<string, Buffer> = {
    'empty.txt': Buffer.alloc(0),
    'scan front.pdf': seeded('docs:scan', 3 * 1024 * 1024 + 12345),
    'Größe — 日本語 ✓.bin': seeded('docs:unicode', 70_000),
  };

  beforeAll(async () => {
    home = initHome();
    src = join(home, 'src');
    fs.mkdirSync(src);
    for (const [name, data] of Object.entries(files)) fs.writeFileSync(join(src, name), data);
  });

  it('doc add stores the files encrypted: one 0600 blob each in a 0700 folder, no plaintext name on disk', async () => {
    const r = await kpm(home, ['doc', 'add', 'passport', ...Object.keys(files).map((n) => join(src, n))], 0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/Added document Personal\/passport: 3 files/);
    const blobs = blobFiles(home);
    expect(blobs).toHaveLength(3);
    expect(fs.statSync(join(home, 'data', 'blobs')).mode & 0o777).toBe(0o700);
    for (const b of blobs) {
      expect(b).toMatch(/^[0-9a-f]{32}$/);
      const st = fs.statSync(join(home, 'data', 'blobs', b));
      expect(st.mode & 0o777).toBe(0o600);
      expect(fs.readFileSync(join(home, 'data', 'blobs', b)).subarray(0, 4).toString()).toBe('KPMB');
    }
    const everything = [...blobs.map((b) => join(home, 'data', 'blobs', b)), ...fs.readdirSync(join(home, 'data', 'vaults')).flatMap((v) => fs.readdirSync(join(home, 'data', 'vaults', v)).map((f) => join(home, 'data', 'vaults', v, f)))];
    const onDisk = Buffer.concat(everything.filter((p) => fs.statSync(p).isFile()).map((p) => fs.readFileSync(p)));
    expect(onDisk.includes(Buffer.from('scan front'))).toBe(false);
    expect(onDisk.includes(Buffer.from('application/pdf'))).toBe(false);
  });

  it('doc list and --json show names, types and sizes, never keys', async () => {
    const r = await kpm(home, ['doc', 'list'], 0);
    expect(r.stdout).toMatch(/^passport\n/);
    expect(r.stdout).toContain('scan front.pdf');
    expect(r.stdout).toContain('3.0 MiB');
    const j = JSON.parse((await kpm(home, ['doc', 'list', '--json'], 0)).stdout);
    expect(j).toHaveLength(1);
    expect(j[0].files.map((f: { name: string }) => f.name)).toEqual(Object.keys(files).map((n) => n.normalize('NFC')));
    expect(j[0].files[1]).toEqual({ name: 'scan front.pdf', type: 'application/pdf', size: files['scan front.pdf'].length });
    expect(JSON.stringify(j)).not.toMatch(/"key"|"blob"/);
  });

  it('doc get writes every file byte-identical into a directory, mode 0600', async () => {
    const out = join(home, 'out1');
    await kpm(home, ['doc', 'get', 'passport', '-o', out + '/'], 0);
    for (const [name, data] of Object.entries(files)) {
      const p = join(out, name.normalize('NFC'));
      expect(fs.readFileSync(p).equals(data), name).toBe(true);
      expect(fs.statSync(p).mode & 0o777).toBe(0o600);
    }
    expect(fs.readdirSync(out).sort()).toEqual(Object.keys(files).map((n) => n.normalize('NFC')).sort());
  });

  it('doc get at a terminal defaults to the current directory', async () => {
    const args = ['doc', 'get', 'passport', '--file', 'empty.txt'];
    const r = await runTty(args, [{ expect: 'Wrote' }], { home, env });
    expect(r.code, describeTty(args, r)).toBe(0);
    expect(fs.statSync(join(home, 'empty.txt')).size).toBe(0);
  });

  it('doc get NAME --file F > out: with stdout redirected (or -o -) the file goes to stdout, and no file is written', async () => {
    const before = fs.readdirSync(home).sort();
    // stdout as bytes (run() decodes it as UTF-8)
    const getBytes = (extra: string[]) => new Promise<Buffer>((res, rej) => {
      const chunks: Buffer[] = [];
      const child = spawn(process.execPath, [BIN, 'doc', 'get', 'passport', '--file', 'scan front.pdf', ...extra], { cwd: home, env: cleanEnv(home, env), stdio: ['ignore', 'pipe', 'ignore'] });
      child.stdout.on('data', (c: Buffer) => chunks.push(c));
      child.on('error', rej);
      child.on('close', (code: number) => (code === 0 ? res(Buffer.concat(chunks)) : rej(new Error(`exit ${code}`))));
    });
    expect((await getBytes([])).equals(files['scan front.pdf'])).toBe(true);
    expect((await getBytes(['-o', '-'])).equals(files['scan front.pdf'])).toBe(true);
    expect(fs.existsSync(join(home, '-'))).toBe(false);
    expect(fs.readdirSync(home).sort()).toEqual(before);
    const many = await kpm(home, ['doc', 'get', 'passport'], 2);
    expect(many.stderr).toMatch(/stdout takes one/);
  });

  it('doc get NAME > out of a 100 MiB document streams it: peak RSS under 150 MiB, output byte-identical (it held the whole blob and the whole plaintext)', async () => {
    const big = join(src, 'big.bin');
    const fd = fs.openSync(big, 'w');
    const mib = seeded('docs:big', 1 << 20);
    for (let i = 0; i < 100; i++) {
      mib[0] = i; // every MiB differs
      fs.writeSync(fd, mib);
    }
    fs.closeSync(fd);
    await kpm(home, ['doc', 'add', 'big', big], 0);
    const out = join(home, 'big.out');
    // the peak RSS of the kpm process, from the kernel (getrusage of the waited-for child)
    const peak = await new Promise<number>((res, rej) => {
      const py = 'import resource,subprocess,sys\nwith open(sys.argv[1],"wb") as o:\n  r=subprocess.run(sys.argv[2:],stdout=o,stderr=subprocess.DEVNULL)\nprint(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)';
      const child = spawn('python3', ['-c', py, out, process.execPath, '--', BIN, 'doc', 'get', 'big'], { cwd: home, env: cleanEnv(home, env), stdio: ['ignore', 'pipe', 'inherit'] });
      let text = '';
      child.stdout.on('data', (c: Buffer) => (text += c));
      child.on('error', rej);
      child.on('close', () => {
        const [code, kib] = text.trim().split(' ').map(Number);
        if (code !== 0) rej(new Error(`kpm doc get ended with ${code}`));
        else res(kib);
      });
    });
    expect(fs.statSync(out).size).toBe(100 << 20);
    const a = fs.openSync(out, 'r'), b = fs.openSync(big, 'r');
    const x = Buffer.alloc(1 << 20), y = Buffer.alloc(1 << 20);
    for (let i = 0; i < 100; i++) {
      fs.readSync(a, x, 0, x.length, i << 20);
      fs.readSync(b, y, 0, y.length, i << 20);
      expect(x.equals(y), `MiB ${i}`).toBe(true);
    }
    fs.closeSync(a);
    fs.closeSync(b);
    expect(peak / 1024).toBeLessThan(150);
    fs.rmSync(out);
    fs.rmSync(big);
    await kpm(home, ['doc', 'rm', 'big', '--yes'], 0);
  });

  it('doc get --file NAME -o FILE writes one file; several files need a directory (exit 2)', async () => {
    const dest = join(home, 'front copy.pdf');
    await kpm(home, ['doc', 'get', 'passport', '--file', 'scan front.pdf', '-o', dest], 0);
    expect(fs.readFileSync(dest).equals(files['scan front.pdf'])).toBe(true);
    const r = await kpm(home, ['doc', 'get', 'passport', '-o', join(home, 'one-file')], 2);
    expect(r.stderr).toMatch(/directory/);
    expect(fs.existsSync(join(home, 'one-file'))).toBe(false);
    await kpm(home, ['doc', 'get', 'passport', '--file', 'nope.txt'], 3);
  });

  it('refuses to overwrite without --force (exit 2, file untouched), overwrites with it', async () => {
    const dest = join(home, 'existing.pdf');
    fs.writeFileSync(dest, 'keep me');
    const r = await kpm(home, ['doc', 'get', 'passport', '--file', 'scan front.pdf', '-o', dest], 2);
    expect(r.stderr).toMatch(/exists.*\n.*--force/);
    expect(fs.readFileSync(dest, 'utf8')).toBe('keep me');
    await kpm(home, ['doc', 'get', 'passport', '--file', 'scan front.pdf', '-o', dest, '--force'], 0);
    expect(fs.readFileSync(dest).equals(files['scan front.pdf'])).toBe(true);
    expect(fs.statSync(dest).mode & 0o777).toBe(0o600);
  });

  it('attach adds files to a login; attachments lists them; doc get --file fetches one', async () => {
    await kpm(home, ['add', 'github', '--password-stdin'], 0, 'pw-1\n');
    const codes = join(src, 'recovery codes.txt');
    fs.writeFileSync(codes, 'one\ntwo\n');
    await kpm(home, ['attach', 'github', codes], 0);
    await kpm(home, ['attach', 'github', codes], 7); // the same name twice
    const list = await kpm(home, ['attachments', 'github'], 0);
    expect(list.stdout).toMatch(/^recovery codes\.txt +8 B +text\/plain\n$/);
    expect(JSON.parse((await kpm(home, ['attachments', 'github', '--json'], 0)).stdout)).toEqual([
      { name: 'recovery codes.txt', type: 'text/plain', size: 8 },
    ]);
    const dest = join(home, 'codes-out.txt');
    await kpm(home, ['doc', 'get', 'github', '--file', 'recovery codes.txt', '-o', dest], 0);
    expect(fs.readFileSync(dest, 'utf8')).toBe('one\ntwo\n');
    // the entry itself is unchanged
    expect((await kpm(home, ['get', 'github'], 0)).stdout).toBe('pw-1\n');
    expect((await kpm(home, ['doc', 'list', '--all'], 0)).stdout).toMatch(/github \(login\)\n {2}recovery codes\.txt/);
    // doc rm only removes documents
    await kpm(home, ['doc', 'rm', 'github', '--yes'], 2);
    await kpm(home, ['attachments', 'no-such-entry'], 3);
  });

  it('a tampered blob is exit 8 and no output file is written', async () => {
    const before = new Set(blobFiles(home));
    await kpm(home, ['doc', 'add', 'tamper-me', join(src, 'scan front.pdf')], 0);
    const added = blobFiles(home).filter((b) => !before.has(b));
    expect(added).toHaveLength(1);
    const path = join(home, 'data', 'blobs', added[0]);
    const fullChunks = Math.floor(files['scan front.pdf'].length / 65536);
    const blob = fs.readFileSync(path);
    for (const mutate of [
      (b: Buffer) => { b[26 + 24 + 1000] ^= 1; return b; }, // a ciphertext bit in chunk 0
      (b: Buffer) => b.subarray(0, 26 + fullChunks * (65536 + 40)), // final chunk dropped
      (b: Buffer) => Buffer.concat([b.subarray(0, 26 + 65576), b.subarray(26 + 2 * 65576, 26 + 3 * 65576), b.subarray(26 + 65576)]), // chunk 2 moved to 1
    ]) {
      fs.writeFileSync(path, mutate(Buffer.from(blob)));
      const outDir = join(home, 'tampered-out');
      fs.mkdirSync(outDir, { recursive: true });
      const r = await kpm(home, ['doc', 'get', 'tamper-me', '-o', outDir], 8);
      expect(r.stderr).toMatch(/tampered/);
      expect(fs.readdirSync(outDir)).toEqual([]);
    }
    fs.writeFileSync(path, blob);
  });

  it('doc rm removes the entry and its blob files', async () => {
    const before = blobFiles(home).length;
    await kpm(home, ['doc', 'rm', 'passport'], 2); // no terminal, no --yes
    await kpm(home, ['doc', 'rm', 'passport', '--yes'], 0);
    expect(blobFiles(home).length).toBe(before - 3);
    await kpm(home, ['doc', 'get', 'passport'], 3);
    expect((await kpm(home, ['doc', 'list', '--json'], 0)).stdout).not.toContain('"passport"');
  });

  it('refuses a missing file (exit 3) and a duplicate name (exit 7) without leaving blobs', async () => {
    const before = blobFiles(home).length;
    await kpm(home, ['doc', 'add', 'x', join(src, 'missing.pdf')], 3);
    await kpm(home, ['doc', 'add', 'tamper-me', join(src, 'empty.txt')], 7);
    expect(blobFiles(home).length).toBe(before);
  });

  it('every command has --help with examples', async () => {
    for (const args of [['doc', 'add'], ['doc', 'get'], ['doc', 'rm'], ['doc', 'list'], ['attach'], ['attachments']]) {
      const r = await kpm(home, [...args, '--help'], 0);
      expect(r.stdout, args.join(' ')).toMatch(/Examples:\n {2}kpm /);
    }
  });
});

describe('with the unlock agent', () => {
  it('doc add, attach and doc get work through the agent (no master password in the environment)', async () => {
    const home = initHome();
    try {
      await runOk(['unlock', '--password-stdin'], { home, input: MASTER + '\n' });
      const data = seeded('docs:200k', 200_000);
      fs.writeFileSync(join(home, 'key file.bin'), data);
      await runOk(['doc', 'add', 'keys', join(home, 'key file.bin')], { home });
      fs.writeFileSync(join(home, 'notes.txt'), 'hello');
      await runOk(['attach', 'keys', join(home, 'notes.txt')], { home });
      const dest = join(home, 'back.bin');
      await runOk(['doc', 'get', 'keys', '--file', 'key file.bin', '-o', dest], { home });
      expect(fs.readFileSync(dest).equals(data)).toBe(true);
      const r = await runOk(['attachments', 'keys', '--json'], { home });
      expect(JSON.parse(r.stdout).map((f: { name: string; size: number }) => [f.name, f.size])).toEqual([['key file.bin', 200_000], ['notes.txt', 5]]);
    } finally {
      stopAgent(home);
    }
  });
});
