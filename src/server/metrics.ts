// Prometheus text metrics (/metrics, off unless `--metrics` is given). Counters by route pattern and
// status, sign-in failures, security checks shown, sync pushes, and the database round trip measured
// at each scrape. No label ever holds an address, an email, an id or a token: routes are the
// patterns (`/v1/sync/vaults/:id/push`), never the requested URL.
export class Metrics {
  private readonly counters = new Map<string, Map<string, number>>();
  private readonly help: Record<string, string> = {
    kpm_http_requests_total: 'HTTP requests by route pattern, method and status',
    kpm_signin_failures_total: 'failed sign-ins (wrong password, wrong or expired second-factor code)',
    kpm_security_checks_shown_total: 'security-check challenges handed out',
    kpm_sync_pushes_total: 'accepted sync pushes',
  };

  inc(name: string, labels: Record<string, string> = {}, by = 1): void {
    const key = Object.entries(labels)
      .map(([k, v]) => `${k}="${v.replace(/[\\"\n]/g, '_')}"`)
      .join(',');
    let m = this.counters.get(name);
    if (!m) this.counters.set(name, (m = new Map()));
    m.set(key, (m.get(key) ?? 0) + by);
  }

  /** The exposition text; `dbSeconds` is the round trip of a trivial query (null: the database is unreachable). */
  render(dbSeconds: number | null): string {
    const out: string[] = [];
    for (const name of Object.keys(this.help)) {
      out.push(`# HELP ${name} ${this.help[name]}`, `# TYPE ${name} counter`);
      const m = this.counters.get(name);
      if (!m || m.size === 0) out.push(`${name} 0`);
      else for (const [k, v] of m) out.push(k ? `${name}{${k}} ${v}` : `${name} ${v}`);
    }
    out.push('# HELP kpm_db_up 1 when the database answered the last scrape', '# TYPE kpm_db_up gauge', `kpm_db_up ${dbSeconds === null ? 0 : 1}`);
    out.push('# HELP kpm_db_latency_seconds round trip of a trivial database query at scrape time', '# TYPE kpm_db_latency_seconds gauge');
    if (dbSeconds !== null) out.push(`kpm_db_latency_seconds ${dbSeconds.toFixed(6)}`);
    return out.join('\n') + '\n';
  }
}
