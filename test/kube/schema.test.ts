import { describe, expect, it } from 'vitest';
import { applySchema } from './schema.ts';
import { parseFieldSelector, parseLabelSelector, labelSelectorToString } from './selectors.ts';

describe('CRD structural schema', () => {
  const schema = {
    type: 'object',
    properties: {
      spec: {
        type: 'object',
        properties: {
          size: { type: 'integer', minimum: 1, exclusiveMaximum: true, maximum: 10, default: 1 },
          name: { type: 'string', maxLength: 3, nullable: true },
          labels: { type: 'object', additionalProperties: { type: 'string' } },
          nested: { type: 'object', properties: { keep: { type: 'boolean', default: true } }, default: {} },
          set: { type: 'array', 'x-kubernetes-list-type': 'set', minItems: 1, items: { type: 'integer' } },
        },
      },
    },
  };

  it('defaults (including inside defaulted objects), prunes unknown fields and keeps metadata', () => {
    const result = applySchema({ apiVersion: 'x/v1', kind: 'X', metadata: { name: 'a' }, spec: { unknown: 1, labels: { a: 'b' }, name: null }, top: 1 }, schema);
    expect(result.causes).toEqual([]);
    expect(result.object).toEqual({ apiVersion: 'x/v1', kind: 'X', metadata: { name: 'a' }, spec: { size: 1, labels: { a: 'b' }, name: null, nested: { keep: true } } });
  });

  it('reports each failing field with the real server wording', () => {
    const result = applySchema({ spec: { size: 10, name: 'long', labels: { a: 1 }, set: [1, 1], nested: 'x' } }, schema);
    expect(result.causes.map((cause) => `${cause.field}: ${cause.message}`)).toEqual([
      'spec.size: Invalid value: 10: spec.size in body should be less than 10',
      'spec.name: Too long: may not be longer than 3',
      'spec.labels.a: Invalid value: "integer": spec.labels.a in body must be of type string: "integer"',
      'spec.set[1]: Duplicate value: 1',
      'spec.nested: Invalid value: "string": spec.nested in body must be of type object: "string"',
    ]);
  });
});

describe('selectors', () => {
  const obj = (labels: Record<string, string>, name = 'n', namespace = 'ns') => ({ metadata: { name, namespace, labels } });
  it('parses every label selector operator', () => {
    const cases: [string, Record<string, string>, boolean][] = [
      ['', {}, true],
      ['a=1', { a: '1' }, true],
      ['a==1', { a: '2' }, false],
      ['a!=1', {}, true],
      ['a in (1, 2),b', { a: '2', b: '' }, true],
      ['a notin (1,2)', { a: '1' }, false],
      ['!a', { a: '1' }, false],
      ['a,!b', { a: 'x' }, true],
    ];
    for (const [selector, labels, expected] of cases) expect(parseLabelSelector(selector)(obj(labels)), selector).toBe(expected);
    expect(() => parseLabelSelector('a in 1')).toThrow();
  });
  it('matches field selectors on name and namespace only', () => {
    expect(parseFieldSelector('metadata.name=n,metadata.namespace!=other')(obj({}))).toBe(true);
    expect(parseFieldSelector('metadata.name=m')(obj({}))).toBe(false);
    expect(() => parseFieldSelector('spec.replicas=1')).toThrow();
  });
  it('renders a LabelSelector as a selector string', () => {
    expect(labelSelectorToString({ matchLabels: { b: '2', a: '1' }, matchExpressions: [{ key: 'c', operator: 'In', values: ['x', 'y'] }, { key: 'd', operator: 'DoesNotExist' }] })).toBe('a=1,b=2,c in (x,y),!d');
  });
});
