/**
 * Cross-field validation rules written once and enforced twice: by the API server as CEL
 * (`x-kubernetes-validations` in the generated CRD) and by the operator in TypeScript, because
 * the project's test API server — and API servers with CEL disabled — do not evaluate CEL.
 */
import type { z } from 'zod';

export interface CrossFieldRule<T> {
  /** CEL expression over `self` (and `oldSelf` for transition rules) that must be true. */
  readonly rule: string;
  /** Static message the API server shows when the rule fails. */
  readonly message: string;
  /** CEL expression building a message with the offending values (shown instead of `message`). */
  readonly messageExpression?: string;
  /** JSONPath of the field to blame, relative to `self` (e.g. `.replicationFactor`). */
  readonly fieldPath?: string;
  /**
   * The same rule in TypeScript: returns the user-facing message when `value` violates it.
   * Absent for transition rules (those that compare with `oldSelf`), which need the previous object.
   */
  readonly check?: (value: T) => string | undefined;
}

/** The `x-kubernetes-validations` entry of a rule. */
export function celValidation<T>(rule: CrossFieldRule<T>): Record<string, string> {
  const entry: Record<string, string> = { rule: rule.rule, message: rule.message };
  if (rule.messageExpression !== undefined) entry['messageExpression'] = rule.messageExpression;
  if (rule.fieldPath !== undefined) entry['fieldPath'] = rule.fieldPath;
  return entry;
}

/** Path segments of a rule's `fieldPath` (`.a.b` → `['a', 'b']`). */
export function fieldPathSegments(fieldPath: string | undefined): string[] {
  if (fieldPath === undefined) return [];
  return fieldPath.split('.').filter((segment) => segment !== '');
}

/**
 * Attaches `rules` to `schema`: zod checks them after the fields parsed (with defaults applied,
 * as the API server runs CEL after defaulting) and the CRD generator emits them as CEL.
 */
export function withRules<S extends z.ZodType>(schema: S, rules: readonly CrossFieldRule<z.output<S>>[]): S {
  const refined = schema.superRefine((value, context) => {
    for (const rule of rules) {
      const message = rule.check?.(value);
      if (message !== undefined) context.addIssue({ code: 'custom', message, path: fieldPathSegments(rule.fieldPath) });
    }
  });
  return refined.meta({ ...(schema.meta() ?? {}), 'x-kubernetes-validations': rules.map(celValidation) });
}
