// What `kpm add`/`kpm edit` ask at a terminal or read from stdin: secret fields, and notes typed in
// $EDITOR (a private temporary file under run/).
import { usageError } from '../core/errors.js';
import type { EntryPayload } from '../vault/entry.js';
import { setField, type EntryFlags } from '../vault/entryinput.js';

/**
 * Multi-line text for a note: from $EDITOR on a terminal. The scratch file is in a new private
 * folder (random name, 0700, checked) inside the profile's run folder, never the shared temp
 * folder, and is removed afterwards; the editor gets no secret variable of kpm's.
 */
export async function editText(initial = ''): Promise<string> {
  const [{ spawnSync }, fs, path, { makePrivateTempDir }, { childEnv }, { ctx }] = await Promise.all([
    import('node:child_process'),
    import('node:fs'),
    import('node:path'),
    import('../core/fsutil.js'),
    import('../core/childenv.js'),
    import('./context.js'),
  ]);
  const dir = makePrivateTempDir(ctx().paths.run, 'edit-');
  const file = path.join(dir, 'note.txt');
  try {
    fs.writeFileSync(file, initial, { mode: 0o600, flag: 'wx' });
    const editor = process.env.VISUAL || process.env.EDITOR || 'vi';
    // the file name as "$1", so that no character of the path is read by the shell
    const r = process.platform === 'win32'
      ? spawnSync(`${editor} "${file}"`, { stdio: 'inherit', shell: true, env: childEnv() })
      : spawnSync('/bin/sh', ['-c', `${editor} "$1"`, 'kpm-editor', file], { stdio: 'inherit', env: childEnv() });
    if (r.status !== 0) throw usageError(`the editor (${editor}) exited with an error; nothing saved`);
    return fs.readFileSync(file, 'utf8');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The values of --secret-field NAME: asked on a terminal (hidden, twice), else the first line of
 * stdin (one field only, and not together with another secret on stdin).
 */
export async function applySecretFields(p: EntryPayload, f: EntryFlags, stdinTaken: boolean): Promise<void> {
  const names = f.secretField ?? [];
  if (names.length === 0) return;
  const { isInteractive, readStdinText } = await import('./io.js');
  if (!isInteractive()) {
    if (names.length > 1) throw usageError('off a terminal, only one --secret-field can be given (its value is the first line of stdin)');
    if (stdinTaken) throw usageError('--secret-field reads its value from stdin off a terminal, and so does --password-stdin: give one of them per command');
  }
  for (const name of names) {
    const k = name.trim();
    if (!k) throw usageError('a field name must not be empty');
    let value: string;
    if (isInteractive()) {
      const { askNewSecret } = await import('./prompt.js');
      value = await askNewSecret(`Value of secret field "${k}"`, `Repeat the value of "${k}"`);
    } else value = await readStdinText(`value of secret field "${k}"`);
    if (value === '') throw usageError(`the value of secret field "${k}" is empty`, 'give it on stdin or at the prompt; `--field "NAME="` removes a field');
    setField(p, k, value, true);
  }
}
