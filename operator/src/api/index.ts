/** The PhantomDB API (`phantomdb.io/v1alpha1`): schemas, types, validation and CRDs. */
export * from './common.ts';
export * from './destination.ts';
export * from './cluster.ts';
export * from './backup.ts';
export * from './validate.ts';
export { crdOf, crdFileName, crdYaml, generatedCrdFiles, kindDefinitions, openApiSchemaOf, type KindDefinition } from './crds.ts';
export { structuralSchemaOf, UnstructuralSchemaError } from './openapi.ts';
