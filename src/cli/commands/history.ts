// kpm history, kpm restore: the versions each entry went through (edits, deletions, the losing
// side of a sync conflict), and bringing one back (or a deleted entry from the trash).
import type { Command } from 'commander';
import { KpmError, EXIT, isKind, usageError } from '../../core/errors.js';
import type { EntryView } from '../../vault/session.js';
import { info, isInteractive, json, out } from '../io.js';
import { askConfirm } from '../prompt.js';
import { openApi } from '../unlock.js';
import { loadSettings } from '../../settings/load.js';
import { ctx, intOption } from '../context.js';

const api = (o: { passwordStdin?: boolean }) => openApi(ctx().paths, { passwordStdin: o.passwordStdin }, async () => (await loadSettings(ctx().paths)).autolock);

function describe(v: EntryView): string {
  const f = v.payload.fields as Record<string, string | undefined>;
  const what = [f.username && `user ${f.username}`, f.url].filter(Boolean).join(', ');
  return `${String(v.version).padStart(3)}  ${v.payload.updated ?? ''}  ${v.deleted ? 'deleted ' : ''}${v.payload.name}${what ? `  (${what})` : ''}`;
}

export function register(program: Command): void {
  const history = program
    .command('history <name>')
    .description('every version of an entry (edits, deletions, and the losing side of a sync conflict)')
    .option('--vault <name>', 'vault')
    .option('--reveal', 'print each version\'s fields, secrets included')
    .option('--json', 'print JSON (secrets included)')
    .option('--password-stdin', 'read the master password from stdin (when not unlocked)')
    .addHelpText('after', '\nExamples:\n  kpm history github\n  kpm restore github --rev 3')
    .action(async (name: string, o) => {
      const a = await api(o);
      const sh = await import('../shared.js');
      // an entry of a shared vault: every version is a signed record of its log (docs/SHARING.md)
      const versions: (EntryView & { writer?: string })[] = await sh.withShared(ctx().paths, a, o.vault, false, async (shared) => {
        if (!shared) return a.history(name, o.vault);
        const loc = await sh.localLookup(() => a.history(name, o.vault));
        const last = loc.hit?.[loc.hit.length - 1];
        const p = sh.pickOne(name, { ...loc, label: last && `${last.vault}/${last.payload.name} (${last.id.slice(0, 8)})` }, sh.findSharedAny(shared, name, o.vault));
        return 'local' in p ? p.local : sh.sharedHistory(p.shared.v, p.shared.id);
      });
      if (o.json) return json(versions);
      for (const v of versions) {
        out(describe(v) + (v.writer ? `  by ${v.writer}` : ''));
        if (o.reveal) for (const [k, val] of Object.entries(v.payload.fields)) if (val) out(`       ${k}: ${val}`);
      }
    });

  history
    .command('purge <name>')
    .description('delete every earlier version of an entry for good, on every device; the current one stays')
    .option('--vault <name>', 'vault')
    .option('-y, --yes', 'do not ask for confirmation (needed without a terminal)')
    .option('--json', 'print JSON')
    .option('--password-stdin', 'read the master password from stdin (when not unlocked)')
    .addHelpText('after', '\nIn a shared vault only its owner purges (the versions go for every member at their next sync).\n\nExit codes: 0 done (or not confirmed), 2 no confirmation without a terminal, 3 no such entry, 9 a shared vault you do not own.\n\nExamples:\n  kpm history purge github\n  kpm history purge github --yes\n  kpm history purge deploy --vault Team --yes')
    .action(async (name: string, _o, cmd: Command) => {
      // --vault and --json are also options of `kpm history`, which commander gives them to wherever they stand
      const o = cmd.optsWithGlobals();
      const a = await api(o);
      if (!o.yes) {
        if (!isInteractive()) throw usageError('refusing to delete for good without confirmation', 'add --yes when running without a terminal');
        if (!(await askConfirm(`Delete every earlier version of "${name}" for good, on every device? This cannot be undone.`, false))) return info('Nothing deleted.');
      }
      const sh = await import('../shared.js');
      // an entry of a shared vault: its owner signs a compaction statement (docs/SHARING.md "Purging and compacting a shared vault")
      const r = await sh.withShared(ctx().paths, a, o.vault, true, async (shared) => {
        if (!shared) return a.purgeHistory(name, o.vault);
        const loc = await sh.localLookup(() => a.history(name, o.vault));
        const last = loc.hit?.[loc.hit.length - 1];
        const p = sh.pickOne(name, { ...loc, label: last && `${last.vault}/${last.payload.name} (${last.id.slice(0, 8)})` }, sh.findSharedAny(shared, name, o.vault));
        if ('local' in p) return a.purgeHistory(name, o.vault);
        const done = await sh.purgeShared(ctx().paths, shared, p.shared.v, { cutHistory: p.shared.id });
        return { entry: sh.sharedView(done.vault, p.shared.id), dropped: done.dropped };
      });
      if (o.json) return json({ id: r.entry.id, vault: r.entry.vault, version: r.entry.version, dropped: r.dropped });
      info(`Kept the current version of "${r.entry.payload.name}"; ${r.dropped} earlier record${r.dropped === 1 ? '' : 's'} deleted for good.`);
    });

  program
    .command('restore <name>')
    .description('bring back a deleted entry from the trash, or an earlier version with --rev')
    .option('--rev <n>', 'the version to bring back (the number `kpm history` shows); the entry keeps its current name')
    .option('--old-name', "with --rev: also bring back that version's name")
    .option('--vault <name>', 'vault')
    .option('--json', 'print the restored entry as JSON')
    .option('--password-stdin', 'read the master password from stdin (when not unlocked)')
    .addHelpText('after', '\nExamples:\n  kpm restore github             # from the trash\n  kpm restore github --rev 2     # an earlier version, under its current name\n  kpm restore github --rev 2 --old-name')
    .action(async (name: string, o) => {
      const version = o.rev === undefined ? undefined : intOption('--rev', o.rev, 1, 2 ** 31);
      if (o.oldName && version === undefined) throw usageError('--old-name goes with --rev N');
      let v: EntryView;
      try {
        const a = await api(o);
        const sh = await import('../shared.js');
        v = await sh.withShared(ctx().paths, a, o.vault, true, async (shared) => {
          if (!shared) return a.restore(name, o.vault, version, Boolean(o.oldName));
          const loc = await sh.localLookup(() => a.history(name, o.vault));
          const last = loc.hit?.[loc.hit.length - 1];
          const p = sh.pickOne(name, { ...loc, label: last && `${last.vault}/${last.payload.name} (${last.id.slice(0, 8)})` }, sh.findSharedAny(shared, name, o.vault));
          return 'local' in p ? a.restore(name, o.vault, version, Boolean(o.oldName)) : sh.restoreShared(shared, p.shared.v, p.shared.id, version, Boolean(o.oldName));
        });
      } catch (e) {
        if (isKind(e, 'name_taken')) throw new KpmError(e.message, EXIT.conflict, 'rename the live entry first (`kpm edit NAME --name NEW`)', 'name_taken');
        throw e;
      }
      if (o.json) return json(v);
      info(`Restored "${v.payload.name}" (now version ${v.version}).`);
    });
}
