import { describe, expect, it } from 'vitest';
import { KubeApiError } from './errors.ts';
import { applyJsonPatch, applyMergePatch, applyStrategicMergePatch, patchTypeOf } from './patch.ts';

describe('JSON merge patch (RFC 7386)', () => {
  it('merges objects, deletes with null and replaces arrays and scalars', () => {
    expect(applyMergePatch({ a: 'b', c: { d: 'e', f: 'g' }, list: [1, 2] }, { a: 'z', c: { f: null }, list: [3] })).toEqual({ a: 'z', c: { d: 'e' }, list: [3] });
    expect(applyMergePatch({ a: 'b' }, ['c'])).toEqual(['c']);
    expect(applyMergePatch(['a'], { b: { c: null } })).toEqual({ b: {} });
  });
});

describe('JSON patch (RFC 6902)', () => {
  const doc = { foo: ['bar', 'baz'], 'a/b': 1, m: { '~k': 2 } };
  it('applies add, remove, replace, move, copy and test with escaped pointers', () => {
    expect(
      applyJsonPatch(doc, [
        { op: 'add', path: '/foo/1', value: 'qux' },
        { op: 'add', path: '/foo/-', value: 'end' },
        { op: 'test', path: '/a~1b', value: 1 },
        { op: 'replace', path: '/m/~0k', value: 3 },
        { op: 'copy', from: '/m/~0k', path: '/copied' },
        { op: 'move', from: '/foo/0', path: '/first' },
        { op: 'remove', path: '/a~1b' },
      ]),
    ).toEqual({ foo: ['qux', 'baz', 'end'], m: { '~k': 3 }, copied: 3, first: 'bar' });
    expect(doc.foo).toEqual(['bar', 'baz']);
  });
  it('fails a test op, a missing path and an index out of bounds with 422', () => {
    for (const patch of [[{ op: 'test', path: '/foo/0', value: 'nope' }], [{ op: 'remove', path: '/missing' }], [{ op: 'add', path: '/foo/5', value: 1 }], [{ op: 'replace', path: '/missing', value: 1 }]]) {
      expect(() => applyJsonPatch(doc, patch)).toThrow(KubeApiError);
      try {
        applyJsonPatch(doc, patch);
      } catch (error) {
        expect(error instanceof KubeApiError ? error.code : 0).toBe(422);
      }
    }
  });
});

describe('strategic merge patch', () => {
  const pod = {
    metadata: { finalizers: ['a'] },
    spec: {
      containers: [
        { name: 'app', image: 'app:1', ports: [{ containerPort: 80, name: 'http' }], volumeMounts: [{ mountPath: '/data', name: 'data' }] },
        { name: 'side', image: 'side:1' },
      ],
      tolerations: [{ key: 'x' }],
    },
  };
  it('merges lists by their merge keys and replaces unknown lists', () => {
    const patched = applyStrategicMergePatch(pod, {
      metadata: { finalizers: ['b'] },
      spec: {
        '$setElementOrder/containers': [{ name: 'app' }, { name: 'side' }],
        containers: [{ name: 'app', ports: [{ containerPort: 81 }], volumeMounts: [{ mountPath: '/data', readOnly: true }] }, { name: 'new', image: 'new:1' }],
        tolerations: [{ key: 'y' }],
      },
    });
    expect(patched).toEqual({
      metadata: { finalizers: ['a', 'b'] },
      spec: {
        containers: [
          { name: 'app', image: 'app:1', ports: [{ containerPort: 80, name: 'http' }, { containerPort: 81 }], volumeMounts: [{ mountPath: '/data', name: 'data', readOnly: true }] },
          { name: 'side', image: 'side:1' },
          { name: 'new', image: 'new:1' },
        ],
        tolerations: [{ key: 'y' }],
      },
    });
  });
  it('honours $patch delete/replace and $deleteFromPrimitiveList', () => {
    expect(applyStrategicMergePatch(pod, { spec: { containers: [{ name: 'side', $patch: 'delete' }] } })).toMatchObject({ spec: { containers: [{ name: 'app' }] } });
    expect(applyStrategicMergePatch(pod, { spec: { containers: [{ name: 'only', image: 'o' }, { $patch: 'replace' }] } })).toMatchObject({ spec: { containers: [{ name: 'only', image: 'o' }] } });
    expect(applyStrategicMergePatch(pod, { metadata: { '$deleteFromPrimitiveList/finalizers': ['a'] } })).toMatchObject({ metadata: { finalizers: [] } });
  });
  it('maps content types to patch types', () => {
    expect(patchTypeOf('application/merge-patch+json; charset=utf-8')).toBe('merge');
    expect(patchTypeOf('application/json-patch+json')).toBe('json');
    expect(patchTypeOf('application/strategic-merge-patch+json')).toBe('strategic');
    expect(patchTypeOf('application/json')).toBeUndefined();
  });
});
