import { z } from 'zod';
import type { ResourceType } from '../resources';
import { typeMeta } from '../schemas/meta';
import { AGE, age, col, NAME, type TableConvertor } from '../printers/columns';
import { noValidation, identity } from './common';

/*
 * Issue #16: core/v1 ServiceAccount (pkg/registry/core/serviceaccount). Its `token`
 * subresource (TokenRequest, authentication.k8s.io/v1) is served by
 * shared/serviceaccounts/token-request.ts; the `default` ServiceAccount of every namespace by the
 * serviceaccounts controller (functions/controllers/serviceaccounts.ts).
 */

const ObjectReferenceSchema = z.strictObject({
  kind: z.string().optional(),
  namespace: z.string().optional(),
  name: z.string().optional(),
  uid: z.string().optional(),
  apiVersion: z.string().optional(),
  resourceVersion: z.string().optional(),
  fieldPath: z.string().optional(),
});

export const ServiceAccountSchema = z.strictObject({
  ...typeMeta('v1', 'ServiceAccount'),
  secrets: z.array(ObjectReferenceSchema).optional(),
  imagePullSecrets: z.array(z.strictObject({ name: z.string().optional() })).optional(),
  automountServiceAccountToken: z.boolean().optional(),
});
export type ServiceAccount = z.infer<typeof ServiceAccountSchema>;

/** Kubernetes' printers: NAME, SECRETS (how many are listed), AGE. */
export const serviceAccountConvertor: TableConvertor = {
  columns: [NAME, col('Secrets', 'Secrets is the list of secrets allowed to be used by pods running using this ServiceAccount.', 0, 'string'), AGE],
  cells: (o, now) => [o.metadata.name, Array.isArray(o.secrets) ? o.secrets.length : 0, age(o, now)],
};

export const serviceAccountTypes: readonly ResourceType[] = [
  {
    group: '',
    version: 'v1',
    resource: 'serviceaccounts',
    table: serviceAccountConvertor,
    kind: 'ServiceAccount',
    singular: 'serviceaccount',
    namespaced: true,
    shortNames: ['sa'],
    subresources: ['token'],
    schema: ServiceAccountSchema,
    validate: noValidation,
    applyDefaults: identity,
    nameIsLabel: false,
  },
];
