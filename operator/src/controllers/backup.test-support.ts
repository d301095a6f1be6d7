/**
 * Fixtures shared by the backup controllers' tests. Nothing here imports test/ (this folder is
 * part of the operator build); the tests start the API server and the S3 store.
 */
import type { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';

/**
 * Creates `namespace` holding what a backup of it needs: the Secret `s3-creds` with `credentials`
 * and a PhantomCluster `db` (the data cluster id the tests' data nodes use).
 */
export async function createBackupNamespace(core: CoreV1Api, custom: CustomObjectsApi, namespace: string, credentials: { readonly accessKeyId: string; readonly secretAccessKey: string }): Promise<void> {
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  await core.createNamespacedSecret({ namespace, body: { metadata: { name: 's3-creds' }, stringData: { accessKeyId: credentials.accessKeyId, secretAccessKey: credentials.secretAccessKey } } });
  await custom.createNamespacedCustomObject({ group: 'phantomdb.io', version: 'v1alpha1', plural: 'phantomclusters', namespace, body: { apiVersion: 'phantomdb.io/v1alpha1', kind: 'PhantomCluster', metadata: { name: 'db' }, spec: { version: '1.0.0', storage: { size: '1Gi' } } } });
}
