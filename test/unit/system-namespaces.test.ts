import { describe, expect, it } from 'vitest';
import { namespaceDeletionForbidden } from '../../shared/system-namespaces';

describe('namespaceDeletionForbidden', () => {
  const cases: { name: string; forbidden: boolean }[] = [
    { name: 'default', forbidden: true },
    { name: 'kube-system', forbidden: true },
    { name: 'kube-public', forbidden: true },
    { name: 'kube-node-lease', forbidden: false },
    { name: 'kube-other', forbidden: false },
    { name: 'team-a', forbidden: false },
  ];
  for (const c of cases)
    it(`${c.name}: ${c.forbidden ? '403' : 'may be deleted'}`, () => {
      // Act
      const e = namespaceDeletionForbidden(c.name);
      // Assess
      if (!c.forbidden) expect(e).toBeUndefined();
      else expect(e?.toStatus()).toEqual({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason: 'Forbidden', code: 403, message: `namespaces "${c.name}" is forbidden: this namespace may not be deleted`, details: { name: c.name, kind: 'namespaces' } });
    });
});
