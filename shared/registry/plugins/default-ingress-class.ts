import { resourceByName } from '../../resources';
import type { AdmissionPlugin } from '../admission';

/*
 * DefaultIngressClass (Kubernetes' plugin/pkg/admission/network/defaultingressclass): a new
 * Ingress with neither spec.ingressClassName nor the old kubernetes.io/ingress.class annotation
 * gets the class annotated ingressclass.kubernetes.io/is-default-class: "true" (the newest one
 * when several are).
 */

export const DEFAULT_CLASS_ANNOTATION = 'ingressclass.kubernetes.io/is-default-class';

export const DefaultIngressClass: AdmissionPlugin = {
  name: 'DefaultIngressClass',
  async admit(a, ctx) {
    if (a.operation !== 'CREATE' || a.subresource || a.rt.group !== 'networking.k8s.io' || a.rt.resource !== 'ingresses' || !a.object) return undefined;
    const spec = (a.object.spec ?? {}) as { ingressClassName?: string };
    if (spec.ingressClassName || a.object.metadata.annotations?.['kubernetes.io/ingress.class'] !== undefined) return undefined;
    const { items } = await ctx.store.list(ctx.tenant, resourceByName('ingressclasses'), { versioned: false, filter: (c) => c.metadata.annotations?.[DEFAULT_CLASS_ANNOTATION] === 'true' });
    const newest = [...items].sort((x, y) => ((x.metadata.creationTimestamp ?? '') < (y.metadata.creationTimestamp ?? '') ? 1 : -1))[0];
    return newest ? { ...a.object, spec: { ...spec, ingressClassName: newest.metadata.name } } : undefined;
  },
};
