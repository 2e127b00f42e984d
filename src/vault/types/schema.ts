// The JSON Schema of an entry payload (src/vault/entry.ts EntryPayload), with the types of the
// registry (./index.ts): the agent checks every payload it is handed against it (S13,
// src/agent/api.ts). Built from the same constants the vault checks with.
import type { JsonSchema } from '../../protocol/validate.js';
import type { Fits, FromSchema } from '../../protocol/fromschema.js';
import type { StoredFile } from '../blobs.js';
import type { EntryPayload } from '../entry.js';
import { CUSTOM_FIELD_KINDS, MAX_NAME_LENGTH, MAX_VALUE_BYTES } from '../entry.js';
import { ENTRY_TYPES } from './index.js';

const str = (maxLength = 65_536) => ({ type: 'string', maxLength }) as const satisfies JsonSchema;
const name = str(1024);

export const STORED_FILE_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['blob', 'key', 'name', 'type', 'size'],
  properties: { blob: { type: 'string', pattern: '^[0-9a-f]{32}$' }, key: str(64), name: str(1024), type: str(255), size: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER } },
} as const satisfies JsonSchema;

/** Every value of `fields` must be a string of at most MAX_VALUE_BYTES: checked by the agent beside this (the validator has no "values of"). */
export const ENTRY_PAYLOAD_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['type', 'name', 'fields', 'custom', 'tags', 'created', 'updated'],
  properties: {
    type: { type: 'string', enum: ENTRY_TYPES },
    name: str(MAX_NAME_LENGTH * 2),
    fields: { type: 'object' },
    custom: { type: 'array', maxItems: 10_000, items: { type: 'object', additionalProperties: false, required: ['name', 'value'], properties: { name, value: str(MAX_VALUE_BYTES), kind: { type: 'string', enum: CUSTOM_FIELD_KINDS } } } },
    tags: { type: 'array', maxItems: 1000, items: name },
    created: str(64),
    updated: str(64),
    passwordChanged: str(64),
    files: { type: 'array', maxItems: 10_000, items: STORED_FILE_SCHEMA },
  },
} as const satisfies JsonSchema;

// Compile-time: the interfaces and the schemas have the same properties (a property added to one
// but not the other fails `tsc`), and every EntryPayload fits the schema's type.
type SameKeys<A, B> = [Exclude<keyof A, keyof B> | Exclude<keyof B, keyof A>] extends [never] ? true : ['differ:', Exclude<keyof A, keyof B> | Exclude<keyof B, keyof A>];
type PayloadFromSchema = FromSchema<typeof ENTRY_PAYLOAD_SCHEMA>;
export type SchemaChecks = [
  Fits<EntryPayload, PayloadFromSchema>,
  Fits<StoredFile, FromSchema<typeof STORED_FILE_SCHEMA>>,
  Fits<SameKeys<EntryPayload, PayloadFromSchema>, true>,
  Fits<SameKeys<StoredFile, FromSchema<typeof STORED_FILE_SCHEMA>>, true>,
  Fits<SameKeys<EntryPayload['custom'][number], NonNullable<PayloadFromSchema['custom']>[number]>, true>,
];
