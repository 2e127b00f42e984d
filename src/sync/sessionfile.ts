// Where the account session lives (session.json in the data folder): a module of its own, so that
// deciding whether to sync (auto.ts) does not load the HTTP client.
import { join } from 'node:path';
import type { KpmPaths } from '../core/paths.js';

export const sessionFile = (paths: KpmPaths): string => join(paths.data, 'session.json');
