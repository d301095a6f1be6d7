/**
 * s3StoreConfig: the one mapping from the callers' S3 destinations (admin spec, restore source,
 * operator destination) to the store's configuration.
 */
import { describe, expect, it } from 'vitest';
import { s3StoreConfig } from './store.ts';

describe('s3StoreConfig', () => {
  it('keeps the bucket, prefix, region, path style, endpoint and static credentials', () => {
    const config = s3StoreConfig({ bucket: 'b', prefix: 'p/q', region: 'eu-west-1', forcePathStyle: true, endpoint: 'http://127.0.0.1:9000' }, { accessKeyId: 'id', secretAccessKey: 'secret' });
    expect(config).toEqual({ bucket: 'b', prefix: 'p/q', region: 'eu-west-1', forcePathStyle: true, endpoint: 'http://127.0.0.1:9000', credentials: { accessKeyId: 'id', secretAccessKey: 'secret' } });
  });

  it('leaves out an absent endpoint and absent credentials (the SDK then uses AWS and its default providers)', () => {
    const config = s3StoreConfig({ bucket: 'b', prefix: '', region: 'us-east-1', forcePathStyle: false, endpoint: undefined }, undefined);
    expect(config).toEqual({ bucket: 'b', prefix: '', region: 'us-east-1', forcePathStyle: false });
    expect(Object.keys(config)).not.toContain('endpoint');
    expect(Object.keys(config)).not.toContain('credentials');
  });

  it('ignores the other fields of the destination it is given', () => {
    const operatorDestination = { bucket: 'b', prefix: 'x', region: 'r', forcePathStyle: false, credentials: { secretName: 's3-creds' }, kind: 's3' };
    expect(s3StoreConfig(operatorDestination, undefined)).toEqual({ bucket: 'b', prefix: 'x', region: 'r', forcePathStyle: false });
  });
});
