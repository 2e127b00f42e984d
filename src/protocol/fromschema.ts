// The TypeScript type a JSON Schema describes, for the subset ./validate.ts checks (type, const,
// enum, properties, required, items), so a schema and its type cannot drift: write the schema
// with literal types (the builders below keep them) and derive `FromSchema<typeof X>`.
// Bounds (lengths, patterns, minimum) have no type and are left to the validator. No I/O.
import type { JsonSchema } from './validate.js';

type Simplify<T> = { [K in keyof T]: T[K] } & {};

type Props<P, R> = Simplify<
  { -readonly [K in keyof P & R]: FromSchema<P[K]> } & { -readonly [K in Exclude<keyof P, R>]?: FromSchema<P[K]> }
>;

type OfType<T, S> = T extends 'string'
  ? string
  : T extends 'integer' | 'number'
    ? number
    : T extends 'boolean'
      ? boolean
      : T extends 'null'
        ? null
        : T extends 'array'
          ? S extends { items: infer I } ? FromSchema<I>[] : unknown[]
          : T extends 'object'
            ? S extends { properties: infer P } ? Props<P, S extends { required: readonly (infer R)[] } ? R : never> : Record<string, unknown>
            : never;

/** The schema allows null beside its const or enum (type: [..., "null"]). */
type OrNull<S> = S extends { type: readonly (infer T)[] } ? ('null' extends T ? null : never) : never;

export type FromSchema<S> = S extends { const: infer C }
  ? C | OrNull<S>
  : S extends { enum: readonly (infer E)[] }
    ? E | OrNull<S>
    : S extends { type: infer T }
      ? T extends readonly (infer U)[] ? OfType<U, S> : OfType<T, S>
      : unknown;

/** Compile-time check that a hand-refined type (a discriminated union) still fits its schema. */
export type Fits<T extends Base, Base> = T;

// ---------------------------------------------------------------------------------------------
// Schema builders that keep literal types (`const` type parameters)

export type Str = { type: 'string'; minLength: number; maxLength: number; pattern?: string };
export const str = (minLength: number, maxLength: number, pattern?: string): Str => (pattern ? { type: 'string', minLength, maxLength, pattern } : { type: 'string', minLength, maxLength });

/** A closed object: no other properties; every property required unless `required` says otherwise. */
export function obj<const P extends Record<string, JsonSchema>>(properties: P): { type: 'object'; additionalProperties: false; properties: P; required: (keyof P & string)[] };
export function obj<const P extends Record<string, JsonSchema>, const R extends keyof P & string>(properties: P, required: readonly R[]): { type: 'object'; additionalProperties: false; properties: P; required: readonly R[] };
export function obj(properties: Record<string, JsonSchema>, required: readonly string[] = Object.keys(properties)) {
  return { type: 'object', additionalProperties: false, properties, required };
}
export const bool = { type: 'boolean' } as const satisfies JsonSchema;
export const int = (minimum: number, maximum: number) => ({ type: 'integer', minimum, maximum }) as const satisfies JsonSchema;
