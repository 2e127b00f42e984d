// The environment of every process kpm starts (`kpm run`'s command, $EDITOR, the clipboard tools,
// the agent, the clipboard clearer): never a secret kpm itself reads from the environment (R38, S11).
// One list, used everywhere kpm starts a child.

/** The variables kpm reads secrets from (the client's, and the server's should a client run next to it). */
export const SECRET_ENV: readonly string[] = [
  'KPM_MASTER_PASSWORD', // the master password (CI)
  'KPM_EXPORT_PASSWORD', // the password of an encrypted export / import
  'KPM_TOKEN', // a service token
  'KPM_SETTINGS_PASSWORD', // the settings password
  'KPM_VAULT_PASSWORD', // a data vault's own password
  'KPM_SERVER_KEY', // kpm-server's secret key
  'KPM_SERVER_DATABASE', // a PostgreSQL URL with its password
  'KPM_SMTP_URL', // may carry the mail account's password
  'KPM_SMS_HTTP_URL', // may carry credentials
  'KPM_SMS_HTTP_AUTH',
];

/** Any other KPM_ variable whose name says it holds a secret (KPM_OIDC_<NAME>_SECRET, KPM_VAULT_PASSWORD_<NAME>, …). */
const SECRET_NAME = /^KPM_(?:\w+_)?(?:PASSWORD|PASSPHRASE|TOKEN|SECRET|KEY|AUTH|CREDENTIALS?)(?:_\w+)?$/;

export function isSecretEnv(name: string): boolean {
  return SECRET_ENV.includes(name) || SECRET_NAME.test(name);
}

/**
 * A copy of `env` (default: this process's) without any secret-bearing KPM_ variable. `agent`:
 * also without KPM_OFFLINE (--offline is for one command; each request tells the agent).
 */
export function childEnv(opts: { agent?: boolean } = {}, env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(env)) if (!isSecretEnv(k)) out[k] = v;
  if (opts.agent) delete out.KPM_OFFLINE;
  return out;
}

/**
 * Runs `fn` with the secret variables taken out of process.env (for libraries that start
 * processes with the inherited environment, such as the clipboard's), then puts them back.
 */
export async function withoutSecretEnv<T>(fn: () => Promise<T>): Promise<T> {
  const saved: Array<[string, string | undefined]> = [];
  for (const k of Object.keys(process.env)) {
    if (isSecretEnv(k)) {
      saved.push([k, process.env[k]]);
      delete process.env[k];
    }
  }
  try {
    return await fn();
  } finally {
    for (const [k, v] of saved) if (v !== undefined) process.env[k] = v;
  }
}
