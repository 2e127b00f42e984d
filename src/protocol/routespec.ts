// What the client and the server know about one route of the API (routes.ts).
import type { JsonSchema } from './validate.js';

export interface RouteSpec {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  path: string;
  /** needs `Authorization: Bearer <access token>` */
  auth: boolean;
  body?: JsonSchema;
  params?: JsonSchema;
  status: number;
  response: JsonSchema;
  /** larger request bodies than MAX_BODY_BYTES (sync) */
  bodyLimit?: number;
  /** responses are checked without tolerating unknown fields (sync: R15) */
  strict?: boolean;
  /** needs `Authorization: Token <id>.<auth key>` (a service token), never a device session */
  tokenAuth?: boolean;
}
