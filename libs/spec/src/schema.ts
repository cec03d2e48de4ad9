import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import schemaJson from '../schema/spec.schema.json' with { type: 'json' };

/** The JSON Schema (draft-07) of a spec file, as committed in `libs/spec/schema/spec.schema.json`. */
export const specSchema: Readonly<Record<string, unknown>> = schemaJson;

/** Absolute path of the committed schema, for `# yaml-language-server: $schema=<path>`. */
export const specSchemaPath: string = fileURLToPath(new URL('../schema/spec.schema.json', import.meta.url));

/** The setting paths a sweep may vary, in schema order. */
export const SWEEPABLE_PATHS: readonly string[] = Object.keys(schemaJson.properties.sweep.properties);

// verbose: errors carry the failing value and its schema, which the messages are written from.
// strictRequired off: resolvedSettings requires keys through allOf, beside the $ref that defines them.
const ajv = new Ajv({ allErrors: true, verbose: true, strict: true, strictRequired: false });
ajv.addSchema(schemaJson, 'spec');

function compiled(ref: string): ValidateFunction {
  const validate = ajv.getSchema(ref);
  if (!validate) throw new Error(`spec schema has no ${ref}`);
  return validate;
}

const validateSpecDocument = compiled('spec');
const validateResolved = compiled('spec#/definitions/resolvedSettings');

export function specDocumentErrors(document: unknown): ErrorObject[] {
  return validateSpecDocument(document) ? [] : [...(validateSpecDocument.errors ?? [])];
}

export function resolvedSettingsErrors(settings: unknown): ErrorObject[] {
  return validateResolved(settings) ? [] : [...(validateResolved.errors ?? [])];
}
