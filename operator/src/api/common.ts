/**
 * Schemas shared by the PhantomDB kinds: quantities, conditions, object references, timestamps.
 */
import { z } from 'zod';

export const apiGroup = 'phantomdb.io';
export const apiVersionName = 'v1alpha1';
export const apiVersion = `${apiGroup}/${apiVersionName}`;

/** The pattern the API server uses for `resource.Quantity` strings ("10Gi", "500m", "1e3"). */
export const quantityPattern = '^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$';

/** A Kubernetes quantity: an integer or a string such as "10Gi" (int-or-string in the CRD). */
export const quantitySchema = z
  .union([z.string().regex(new RegExp(quantityPattern), { error: 'must be a quantity such as "10Gi", "500m" or "2"' }), z.number().int()])
  .meta({ 'x-kubernetes-int-or-string': true });
export type Quantity = z.infer<typeof quantitySchema>;

/** A positive quantity (sizes): the same as `quantitySchema` with a check that it is above zero. */
export const positiveQuantitySchema = quantitySchema.refine(
  (value) => {
    const amount = quantityToNumber(value);
    // A malformed quantity is reported by the union itself, once.
    return Number.isNaN(amount) || amount > 0;
  },
  { error: 'must be greater than zero' },
);

const suffixFactor: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/**
 * The numeric value of a quantity (bytes for sizes, cores for CPU). Precision is that of a
 * double, which is enough to compare sizes; NaN for a string that is not a quantity.
 */
export function quantityToNumber(quantity: Quantity): number {
  if (typeof quantity === 'number') return quantity;
  const match = /^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(?:([eE][+-]?[0-9.]+)|([KMGTPE]i|[numkMGTPE])?)$/.exec(quantity);
  if (match === null) return Number.NaN;
  const mantissa = Number(match[1]);
  if (match[2] !== undefined) return mantissa * 10 ** Number(match[2].slice(1));
  return mantissa * (suffixFactor[match[3] ?? ''] ?? Number.NaN);
}

/** RFC 3339 timestamps as the API server writes them. */
export const timestampSchema = z.iso.datetime({ offset: true });

/** A DNS-1123 label (names of Secrets, PVCs, clusters...). */
export const dnsLabelSchema = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, { error: 'must be a lowercase DNS label: a-z, 0-9 and "-", starting and ending with a letter or digit' });

/** A DNS-1123 subdomain (names of most objects). */
export const dnsSubdomainSchema = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/, { error: 'must be a lowercase DNS subdomain' });

export const conditionStatusSchema = z.enum(['True', 'False', 'Unknown']);

/** A `metav1.Condition`, as the Kubernetes API conventions define it. */
export const conditionSchema = z.object({
  type: z.string().min(1).max(316).describe('Type of condition in CamelCase, e.g. Available.'),
  status: conditionStatusSchema,
  reason: z
    .string()
    .min(1)
    .max(1024)
    .regex(/^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/)
    .describe('A programmatic identifier in CamelCase of why the condition last changed.'),
  message: z.string().max(32768).default('').describe('What a person should know about the condition.'),
  lastTransitionTime: timestampSchema.describe('When the condition last changed status.'),
  observedGeneration: z.number().int().min(0).optional().describe('The .metadata.generation the condition was set for.'),
});
export type Condition = z.output<typeof conditionSchema>;

/** A key of a Secret in the object's namespace. */
export const secretKeyRefSchema = z.object({
  name: dnsSubdomainSchema.describe('Name of the Secret.'),
  key: z.string().min(1).max(253).describe('Key in the Secret.'),
});

/** A free-form object kept as the user wrote it (a Kubernetes core type we do not re-validate). */
export function freeFormObject(description: string): z.ZodOptional<z.ZodRecord<z.ZodString, z.ZodUnknown>> {
  return z.record(z.string(), z.unknown()).describe(description).optional();
}
