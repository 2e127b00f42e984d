// kpm generate: passwords and passphrases from the CSPRNG.
import type { Command } from 'commander';
import { alphabetFor, generatePassphrase, generatePassword, passwordEntropy, passphraseEntropy } from '../../vault/generator.js';
import { json, out } from '../io.js';
import { ctx, intOption } from '../context.js';
import { loadSettings } from '../../settings/load.js';

export function register(program: Command): void {
  program
    .command('generate')
    .alias('gen')
    .description('generate a strong password (default 20 characters from 94, about 131 bits) or a passphrase')
    .option('-l, --length <n>', 'password length (4-1024; default: the generator.length setting, 20)')
    .option('--symbols', 'with symbols (the default unless generator.symbols is false)')
    .option('--no-symbols', 'no symbols')
    .option('--no-digits', 'no digits')
    .option('--no-uppercase', 'no upper-case letters')
    .option('--no-lowercase', 'no lower-case letters')
    .option('-w, --words [n]', 'a passphrase of N words from the EFF long list (1-64; default: the generator.words setting, 6)')
    .option('--separator <s>', 'passphrase separator', '-')
    .option('--json', 'print {password, entropyBits, ...}')
    .option('--raw', 'print the password without a newline')
    .addHelpText('after', '\nExamples:\n  kpm generate\n  kpm generate --length 32 --no-symbols\n  kpm generate --words 6 --separator " "\n  kpm generate --words')
    .action(async (o) => {
      const d = (await loadSettings(ctx().paths)).generator;
      if (o.words !== undefined) {
        const words = o.words === true ? d.words : intOption('--words', o.words, 1, 64);
        const password = generatePassphrase({ words, separator: o.separator });
        if (o.json) return json({ password, kind: 'passphrase', words, entropyBits: round(passphraseEntropy(words)) });
        return o.raw ? void process.stdout.write(password) : out(password);
      }
      const length = o.length === undefined ? d.length : intOption('--length', o.length, 4, 1024);
      const opts = { length, symbols: o.symbols ?? d.symbols, digits: o.digits, upper: o.uppercase, lower: o.lowercase };
      const password = generatePassword(opts);
      if (o.json) return json({ password, kind: 'password', length, alphabetSize: alphabetFor(opts).length, entropyBits: round(passwordEntropy(alphabetFor(opts).length, length)) });
      if (o.raw) return void process.stdout.write(password);
      out(password);
    });
}

const round = (n: number) => Math.round(n * 100) / 100;
