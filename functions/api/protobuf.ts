import { badRequest, StatusError } from '../../shared/errors';

/*
 * Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`), decoded into the
 * JSON form the rest of the api function handles. kubectl's typed clients (`kubectl create
 * namespace`, `create deployment`, `create configmap`...) send bodies this way; responses stay
 * JSON, which those clients accept too.
 *
 * Wire form (k8s.io/apimachinery/pkg/runtime/serializer/protobuf): the 4-byte magic "k8s\0",
 * then a runtime.Unknown message {1: typeMeta {1: apiVersion, 2: kind}, 2: raw, 3:
 * contentEncoding, 4: contentType} whose `raw` is the object's own message, numbered as in
 * k8s.io/api's generated.proto. Go (gogo) writes every non-pointer field, zero values included,
 * so zero values are dropped here the way Go's `omitempty` drops them from JSON; fields that are
 * pointers in Go (`keep`) keep their zero (terminationGracePeriodSeconds: 0 means "now").
 *
 * Only kinds with a field table below can be decoded; a non-zero field this table does not know
 * is refused with 415 rather than dropped, so nothing a client sent is silently lost.
 */

export const PROTOBUF_MEDIA_TYPE = 'application/vnd.kubernetes.protobuf';
const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

type Scalar = 'string' | 'bytes' | 'int32' | 'int64' | 'bool' | 'time' | 'quantity' | 'intOrString';

/** One field of a message: its JSON name and type; `keep` for Go pointer fields (zero is a value). */
export interface FieldSpec {
  readonly name: string;
  readonly type: Scalar | MessageSpec;
  readonly repeated?: boolean;
  /** A proto map<string, V>: entries are messages {1: key, 2: value}. */
  readonly map?: boolean;
  readonly keep?: boolean;
  /** Go's `json:",inline"`: the message's fields are merged into the parent's JSON object. */
  readonly inline?: boolean;
}

/** A message's fields by proto field number. */
export interface MessageSpec {
  readonly name: string;
  readonly fields: Readonly<Record<number, FieldSpec>>;
}

const msg = (name: string, fields: Record<number, FieldSpec>): MessageSpec => ({ name, fields });
const f = (name: string, type: FieldSpec['type'], opts: Omit<FieldSpec, 'name' | 'type'> = {}): FieldSpec => ({ name, type, ...opts });
const list = (name: string, type: FieldSpec['type']) => f(name, type, { repeated: true });
const map = (name: string, type: FieldSpec['type']) => f(name, type, { map: true });
const ptr = (name: string, type: FieldSpec['type']) => f(name, type, { keep: true });
const inline = (type: MessageSpec) => f(type.name, type, { inline: true });

// --- meta/v1 -----------------------------------------------------------------------------

const OwnerReference = msg('OwnerReference', {
  1: f('kind', 'string'),
  3: f('name', 'string'),
  4: f('uid', 'string'),
  5: f('apiVersion', 'string'),
  6: ptr('controller', 'bool'),
  7: ptr('blockOwnerDeletion', 'bool'),
});

const ObjectMeta = msg('ObjectMeta', {
  1: f('name', 'string'),
  2: f('generateName', 'string'),
  3: f('namespace', 'string'),
  4: f('selfLink', 'string'),
  5: f('uid', 'string'),
  6: f('resourceVersion', 'string'),
  7: f('generation', 'int64'),
  8: f('creationTimestamp', 'time'),
  9: f('deletionTimestamp', 'time'),
  10: ptr('deletionGracePeriodSeconds', 'int64'),
  11: map('labels', 'string'),
  12: map('annotations', 'string'),
  13: list('ownerReferences', OwnerReference),
  14: list('finalizers', 'string'),
  // 17: managedFields is the server's (server-side apply); clients do not send it.
});

const LabelSelectorRequirement = msg('LabelSelectorRequirement', { 1: f('key', 'string'), 2: f('operator', 'string'), 3: list('values', 'string') });
const LabelSelector = msg('LabelSelector', { 1: map('matchLabels', 'string'), 2: list('matchExpressions', LabelSelectorRequirement) });

const Preconditions = msg('Preconditions', { 1: ptr('uid', 'string'), 2: ptr('resourceVersion', 'string') });
const DeleteOptions = msg('DeleteOptions', {
  1: ptr('gracePeriodSeconds', 'int64'),
  2: f('preconditions', Preconditions),
  3: ptr('orphanDependents', 'bool'),
  4: ptr('propagationPolicy', 'string'),
  5: list('dryRun', 'string'),
  6: ptr('ignoreStoreReadErrorWithClusterBreakingPotential', 'bool'),
});

// --- core/v1 -----------------------------------------------------------------------------

const ContainerPort = msg('ContainerPort', {
  1: f('name', 'string'),
  2: f('hostPort', 'int32'),
  3: ptr('containerPort', 'int32'),
  4: f('protocol', 'string'),
  5: f('hostIP', 'string'),
});
const EnvVar = msg('EnvVar', { 1: f('name', 'string'), 2: f('value', 'string') });
const ResourceRequirements = msg('ResourceRequirements', { 1: map('limits', 'quantity'), 2: map('requests', 'quantity') });
const VolumeMount = msg('VolumeMount', { 1: f('name', 'string'), 2: f('readOnly', 'bool'), 3: f('mountPath', 'string'), 4: f('subPath', 'string') });

const Container = msg('Container', {
  1: f('name', 'string'),
  2: f('image', 'string'),
  3: list('command', 'string'),
  4: list('args', 'string'),
  5: f('workingDir', 'string'),
  6: list('ports', ContainerPort),
  7: list('env', EnvVar),
  8: f('resources', ResourceRequirements),
  9: list('volumeMounts', VolumeMount),
  13: f('terminationMessagePath', 'string'),
  14: f('imagePullPolicy', 'string'),
  16: f('stdin', 'bool'),
  17: f('stdinOnce', 'bool'),
  18: f('tty', 'bool'),
  20: f('terminationMessagePolicy', 'string'),
  24: ptr('restartPolicy', 'string'),
});

const Toleration = msg('Toleration', {
  1: f('key', 'string'),
  2: f('operator', 'string'),
  3: f('value', 'string'),
  4: f('effect', 'string'),
  5: ptr('tolerationSeconds', 'int64'),
});

const PodSpec = msg('PodSpec', {
  2: list('containers', Container),
  3: f('restartPolicy', 'string'),
  4: ptr('terminationGracePeriodSeconds', 'int64'),
  5: ptr('activeDeadlineSeconds', 'int64'),
  6: f('dnsPolicy', 'string'),
  7: map('nodeSelector', 'string'),
  8: f('serviceAccountName', 'string'),
  9: f('serviceAccount', 'string'),
  10: f('nodeName', 'string'),
  11: f('hostNetwork', 'bool'),
  12: f('hostPID', 'bool'),
  13: f('hostIPC', 'bool'),
  16: f('hostname', 'string'),
  17: f('subdomain', 'string'),
  19: f('schedulerName', 'string'),
  20: list('initContainers', Container),
  21: ptr('automountServiceAccountToken', 'bool'),
  22: list('tolerations', Toleration),
  24: f('priorityClassName', 'string'),
  25: ptr('priority', 'int32'),
  27: ptr('shareProcessNamespace', 'bool'),
  29: ptr('runtimeClassName', 'string'),
  30: ptr('enableServiceLinks', 'bool'),
  31: ptr('preemptionPolicy', 'string'),
});

const PodTemplateSpec = msg('PodTemplateSpec', { 1: f('metadata', ObjectMeta), 2: f('spec', PodSpec) });

const Namespace = msg('Namespace', {
  1: f('metadata', ObjectMeta),
  2: f('spec', msg('NamespaceSpec', { 1: list('finalizers', 'string') })),
  3: f('status', msg('NamespaceStatus', { 1: f('phase', 'string') })),
});

const Pod = msg('Pod', {
  1: f('metadata', ObjectMeta),
  2: f('spec', PodSpec),
  // Status is the system's: clients creating pods send it empty.
  3: f('status', msg('PodStatus', { 1: f('phase', 'string') })),
});

const ConfigMap = msg('ConfigMap', { 1: f('metadata', ObjectMeta), 2: map('data', 'string'), 3: map('binaryData', 'bytes'), 4: ptr('immutable', 'bool') });
const Secret = msg('Secret', {
  1: f('metadata', ObjectMeta),
  2: map('data', 'bytes'),
  3: f('type', 'string'),
  4: map('stringData', 'string'),
  5: ptr('immutable', 'bool'),
});

// --- ServiceAccount, TokenRequest (kubectl create serviceaccount / token) -----------------

const ObjectReference = msg('ObjectReference', {
  1: f('kind', 'string'),
  2: f('namespace', 'string'),
  3: f('name', 'string'),
  4: f('uid', 'string'),
  5: f('apiVersion', 'string'),
  6: f('resourceVersion', 'string'),
  7: f('fieldPath', 'string'),
});
const ServiceAccount = msg('ServiceAccount', {
  1: f('metadata', ObjectMeta),
  2: list('secrets', ObjectReference),
  3: list('imagePullSecrets', msg('LocalObjectReference', { 1: f('name', 'string') })),
  4: ptr('automountServiceAccountToken', 'bool'),
});
const TokenRequest = msg('TokenRequest', {
  1: f('metadata', ObjectMeta),
  2: f(
    'spec',
    msg('TokenRequestSpec', {
      1: list('audiences', 'string'),
      3: ptr('boundObjectRef', msg('BoundObjectReference', { 1: f('kind', 'string'), 2: f('apiVersion', 'string'), 3: f('name', 'string'), 4: f('uid', 'string') })),
      4: ptr('expirationSeconds', 'int64'),
    }),
  ),
  // Status is the server's: clients send it empty.
  3: f('status', msg('TokenRequestStatus', { 1: f('token', 'string'), 2: f('expirationTimestamp', 'time') })),
});

// --- apps/v1, batch/v1 (kubectl create deployment / job / cronjob) -----------------------

const RollingUpdateDeployment = msg('RollingUpdateDeployment', { 1: ptr('maxUnavailable', 'intOrString'), 2: ptr('maxSurge', 'intOrString') });
const Deployment = msg('Deployment', {
  1: f('metadata', ObjectMeta),
  2: f(
    'spec',
    msg('DeploymentSpec', {
      1: ptr('replicas', 'int32'),
      2: f('selector', LabelSelector),
      3: f('template', PodTemplateSpec),
      4: f('strategy', msg('DeploymentStrategy', { 1: f('type', 'string'), 2: f('rollingUpdate', RollingUpdateDeployment) })),
      5: f('minReadySeconds', 'int32'),
      6: ptr('revisionHistoryLimit', 'int32'),
      7: f('paused', 'bool'),
      9: ptr('progressDeadlineSeconds', 'int32'),
    }),
  ),
  3: f('status', msg('DeploymentStatus', {})),
});

const JobSpec = msg('JobSpec', {
  1: ptr('parallelism', 'int32'),
  2: ptr('completions', 'int32'),
  3: ptr('activeDeadlineSeconds', 'int64'),
  4: f('selector', LabelSelector),
  5: ptr('manualSelector', 'bool'),
  6: f('template', PodTemplateSpec),
  7: ptr('backoffLimit', 'int32'),
  8: ptr('ttlSecondsAfterFinished', 'int32'),
  9: ptr('completionMode', 'string'),
  10: ptr('suspend', 'bool'),
});
const Job = msg('Job', { 1: f('metadata', ObjectMeta), 2: f('spec', JobSpec), 3: f('status', msg('JobStatus', {})) });
const CronJob = msg('CronJob', {
  1: f('metadata', ObjectMeta),
  2: f(
    'spec',
    msg('CronJobSpec', {
      1: f('schedule', 'string'),
      2: ptr('startingDeadlineSeconds', 'int64'),
      3: f('concurrencyPolicy', 'string'),
      4: ptr('suspend', 'bool'),
      5: f('jobTemplate', msg('JobTemplateSpec', { 1: f('metadata', ObjectMeta), 2: f('spec', JobSpec) })),
      6: ptr('successfulJobsHistoryLimit', 'int32'),
      7: ptr('failedJobsHistoryLimit', 'int32'),
      8: ptr('timeZone', 'string'),
    }),
  ),
  3: f('status', msg('CronJobStatus', {})),
});

// --- policy/v1, scheduling.k8s.io/v1 --------------------------------------------------------

const PodDisruptionBudget = msg('PodDisruptionBudget', {
  1: f('metadata', ObjectMeta),
  2: f(
    'spec',
    msg('PodDisruptionBudgetSpec', {
      1: ptr('minAvailable', 'intOrString'),
      2: f('selector', LabelSelector),
      3: ptr('maxUnavailable', 'intOrString'),
      4: ptr('unhealthyPodEvictionPolicy', 'string'),
    }),
  ),
  // A client's status is the server's to reset; Go sends its zero values (dropped here).
  3: f(
    'status',
    msg('PodDisruptionBudgetStatus', {
      1: f('observedGeneration', 'int64'),
      3: f('disruptionsAllowed', 'int32'),
      4: f('currentHealthy', 'int32'),
      5: f('desiredHealthy', 'int32'),
      6: f('expectedPods', 'int32'),
    }),
  ),
});

const PriorityClass = msg('PriorityClass', {
  1: f('metadata', ObjectMeta),
  2: ptr('value', 'int32'), // `json:"value"`: 0 is a value
  3: f('globalDefault', 'bool'),
  4: f('description', 'string'),
  5: ptr('preemptionPolicy', 'string'),
});

// --- rbac.authorization.k8s.io/v1, authorization.k8s.io/v1, authentication.k8s.io/v1 ----------
// (kubectl create role/clusterrole/rolebinding/clusterrolebinding, auth can-i, auth whoami)

const PolicyRule = msg('PolicyRule', { 1: list('verbs', 'string'), 2: list('apiGroups', 'string'), 3: list('resources', 'string'), 4: list('resourceNames', 'string'), 5: list('nonResourceURLs', 'string') });
const Role = msg('Role', { 1: f('metadata', ObjectMeta), 2: list('rules', PolicyRule) });
const ClusterRole = msg('ClusterRole', {
  1: f('metadata', ObjectMeta),
  2: list('rules', PolicyRule),
  3: f('aggregationRule', msg('AggregationRule', { 1: list('clusterRoleSelectors', LabelSelector) })),
});
const Subject = msg('Subject', { 1: f('kind', 'string'), 2: f('apiGroup', 'string'), 3: f('name', 'string'), 4: f('namespace', 'string') });
const RoleRef = msg('RoleRef', { 1: f('apiGroup', 'string'), 2: f('kind', 'string'), 3: f('name', 'string') });
const RoleBinding = msg('RoleBinding', { 1: f('metadata', ObjectMeta), 2: list('subjects', Subject), 3: f('roleRef', RoleRef) });
const ClusterRoleBinding = msg('ClusterRoleBinding', { 1: f('metadata', ObjectMeta), 2: list('subjects', Subject), 3: f('roleRef', RoleRef) });
const ResourceAttributes = msg('ResourceAttributes', {
  1: f('namespace', 'string'),
  2: f('verb', 'string'),
  3: f('group', 'string'),
  4: f('version', 'string'),
  5: f('resource', 'string'),
  6: f('subresource', 'string'),
  7: f('name', 'string'),
});
const NonResourceAttributes = msg('NonResourceAttributes', { 1: f('path', 'string'), 2: f('verb', 'string') });
const SubjectAccessReviewStatus = msg('SubjectAccessReviewStatus', { 1: f('allowed', 'bool'), 2: f('reason', 'string'), 3: f('evaluationError', 'string'), 4: f('denied', 'bool') });
const SelfSubjectAccessReview = msg('SelfSubjectAccessReview', {
  1: f('metadata', ObjectMeta),
  2: f('spec', msg('SelfSubjectAccessReviewSpec', { 1: f('resourceAttributes', ResourceAttributes), 2: f('nonResourceAttributes', NonResourceAttributes) })),
  3: f('status', SubjectAccessReviewStatus),
});
const SubjectAccessReview = msg('SubjectAccessReview', {
  1: f('metadata', ObjectMeta),
  2: f(
    'spec',
    msg('SubjectAccessReviewSpec', {
      1: f('resourceAttributes', ResourceAttributes),
      2: f('nonResourceAttributes', NonResourceAttributes),
      3: f('user', 'string'),
      4: list('groups', 'string'),
      6: f('uid', 'string'),
    }),
  ),
  3: f('status', SubjectAccessReviewStatus),
});
const SelfSubjectRulesReview = msg('SelfSubjectRulesReview', {
  1: f('metadata', ObjectMeta),
  2: f('spec', msg('SelfSubjectRulesReviewSpec', { 1: f('namespace', 'string') })),
  3: f('status', msg('SubjectRulesReviewStatus', { 3: f('incomplete', 'bool'), 4: f('evaluationError', 'string') })),
});
const UserInfo = msg('UserInfo', { 1: f('username', 'string'), 2: f('uid', 'string'), 3: list('groups', 'string'), 4: map('extra', msg('ExtraValue', { 1: list('items', 'string') })) });
const SelfSubjectReview = msg('SelfSubjectReview', { 1: f('metadata', ObjectMeta), 2: f('status', msg('SelfSubjectReviewStatus', { 1: f('userInfo', UserInfo) })) });
// --- autoscaling/v1 (kubectl autoscale) ------------------------------------------------------

const HorizontalPodAutoscalerV1 = msg('HorizontalPodAutoscaler', {
  1: f('metadata', ObjectMeta),
  2: f(
    'spec',
    msg('HorizontalPodAutoscalerSpec', {
      1: f('scaleTargetRef', msg('CrossVersionObjectReference', { 1: f('kind', 'string'), 2: f('name', 'string'), 3: f('apiVersion', 'string') })),
      2: ptr('minReplicas', 'int32'),
      3: f('maxReplicas', 'int32'),
      4: ptr('targetCPUUtilizationPercentage', 'int32'),
    }),
  ),
  // A client's status is the server's to reset; Go sends its zero values (dropped here).
  3: f(
    'status',
    msg('HorizontalPodAutoscalerStatus', {
      1: ptr('observedGeneration', 'int64'),
      2: f('lastScaleTime', 'time'),
      3: f('currentReplicas', 'int32'),
      4: f('desiredReplicas', 'int32'),
      5: ptr('currentCPUUtilizationPercentage', 'int32'),
    }),
  ),
});
// core/v1 Service (k8s.io/api/core/v1/generated.proto): `kubectl create service` sends it.
const ServicePort = msg('ServicePort', {
  1: f('name', 'string'),
  2: f('protocol', 'string'),
  3: f('port', 'int32'),
  4: f('targetPort', 'intOrString'),
  5: f('nodePort', 'int32'),
  6: ptr('appProtocol', 'string'),
});
const Service = msg('Service', {
  1: f('metadata', ObjectMeta),
  2: f(
    'spec',
    msg('ServiceSpec', {
      1: list('ports', ServicePort),
      2: map('selector', 'string'),
      3: f('clusterIP', 'string'),
      4: f('type', 'string'),
      5: list('externalIPs', 'string'),
      7: f('sessionAffinity', 'string'),
      8: f('loadBalancerIP', 'string'),
      9: list('loadBalancerSourceRanges', 'string'),
      10: f('externalName', 'string'),
      11: f('externalTrafficPolicy', 'string'),
      12: f('healthCheckNodePort', 'int32'),
      13: f('publishNotReadyAddresses', 'bool'),
      14: f('sessionAffinityConfig', msg('SessionAffinityConfig', { 1: f('clientIP', msg('ClientIPConfig', { 1: ptr('timeoutSeconds', 'int32') })) })),
      17: ptr('ipFamilyPolicy', 'string'),
      18: list('clusterIPs', 'string'),
      19: list('ipFamilies', 'string'),
      20: ptr('allocateLoadBalancerNodePorts', 'bool'),
      21: ptr('loadBalancerClass', 'string'),
      22: ptr('internalTrafficPolicy', 'string'),
      23: ptr('trafficDistribution', 'string'),
    }),
  ),
  3: f('status', msg('ServiceStatus', { 1: f('loadBalancer', msg('LoadBalancerStatus', {})) })),
});

// --- ResourceQuota (kubectl create quota) -------------------------------------------------

const ResourceQuota = msg('ResourceQuota', {
  1: f('metadata', ObjectMeta),
  2: f(
    'spec',
    msg('ResourceQuotaSpec', {
      1: map('hard', 'quantity'),
      2: list('scopes', 'string'),
      3: f(
        'scopeSelector',
        msg('ScopeSelector', {
          1: list('matchExpressions', msg('ScopedResourceSelectorRequirement', { 1: f('scopeName', 'string'), 2: f('operator', 'string'), 3: list('values', 'string') })),
        }),
      ),
    }),
  ),
  3: f('status', msg('ResourceQuotaStatus', { 1: map('hard', 'quantity'), 2: map('used', 'quantity') })),
});

// --- networking.k8s.io/v1 Ingress (kubectl create ingress) ----------------------------------

const IngressBackend = msg('IngressBackend', {
  3: f('resource', msg('TypedLocalObjectReference', { 1: ptr('apiGroup', 'string'), 2: f('kind', 'string'), 3: f('name', 'string') })),
  4: f('service', msg('IngressServiceBackend', { 1: f('name', 'string'), 2: f('port', msg('ServiceBackendPort', { 1: f('name', 'string'), 2: f('number', 'int32') })) })),
});
const HTTPIngressPath = msg('HTTPIngressPath', { 1: f('path', 'string'), 2: f('backend', IngressBackend), 3: ptr('pathType', 'string') });
const Ingress = msg('Ingress', {
  1: f('metadata', ObjectMeta),
  2: f(
    'spec',
    msg('IngressSpec', {
      1: f('defaultBackend', IngressBackend),
      2: list('tls', msg('IngressTLS', { 1: list('hosts', 'string'), 2: f('secretName', 'string') })),
      // IngressRule's IngressRuleValue is inlined in JSON: {host, http: {paths}}.
      3: list('rules', msg('IngressRule', { 1: f('host', 'string'), 2: inline(msg('IngressRuleValue', { 1: f('http', msg('HTTPIngressRuleValue', { 1: list('paths', HTTPIngressPath) })) })) })),
      4: ptr('ingressClassName', 'string'),
    }),
  ),
  // status.loadBalancer is never sent by kubectl create; an empty one is dropped.
  3: f('status', msg('IngressStatus', { 1: f('loadBalancer', msg('IngressLoadBalancerStatus', {})) })),
});

/**
 * Top-level messages by `apiVersion/kind` as the envelope names them. Kinds added to the
 * registry that kubectl sends as protobuf need an entry here.
 */
export const PROTOBUF_KINDS: Readonly<Record<string, MessageSpec>> = {
  'v1/Namespace': Namespace,
  'v1/Pod': Pod,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/ServiceAccount': ServiceAccount,
  'authentication.k8s.io/v1/TokenRequest': TokenRequest,
  'meta.k8s.io/v1/DeleteOptions': DeleteOptions,
  'v1/DeleteOptions': DeleteOptions,
  'apps/v1/Deployment': Deployment,
  'batch/v1/Job': Job,
  'batch/v1/CronJob': CronJob,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'scheduling.k8s.io/v1/PriorityClass': PriorityClass,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding,
  'authorization.k8s.io/v1/SelfSubjectAccessReview': SelfSubjectAccessReview,
  'authorization.k8s.io/v1/SubjectAccessReview': SubjectAccessReview,
  'authorization.k8s.io/v1/SelfSubjectRulesReview': SelfSubjectRulesReview,
  'authentication.k8s.io/v1/SelfSubjectReview': SelfSubjectReview,
  'autoscaling/v1/HorizontalPodAutoscaler': HorizontalPodAutoscalerV1,
  'v1/Service': Service,
  'v1/ResourceQuota': ResourceQuota,
  'networking.k8s.io/v1/Ingress': Ingress,
};

// --- wire format ---------------------------------------------------------------------------

type WireValue = { wire: 0; value: bigint } | { wire: 2; value: Buffer } | { wire: 1 | 5; value: Buffer };

class Reader {
  private pos = 0;
  constructor(private readonly buf: Buffer) {}
  get done() {
    return this.pos >= this.buf.length;
  }
  varint(): bigint {
    let result = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (this.pos >= this.buf.length) throw new Error('truncated varint');
      const b = this.buf[this.pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
    }
    throw new Error('varint too long');
  }
  bytes(n: number): Buffer {
    if (n < 0 || this.pos + n > this.buf.length) throw new Error('truncated field');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  field(): { num: number; v: WireValue } {
    const key = this.varint();
    const num = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (num < 1) throw new Error('invalid field number 0');
    switch (wire) {
      case 0:
        return { num, v: { wire: 0, value: this.varint() } };
      case 1:
        return { num, v: { wire: 1, value: this.bytes(8) } };
      case 2:
        return { num, v: { wire: 2, value: this.bytes(Number(this.varint())) } };
      case 5:
        return { num, v: { wire: 5, value: this.bytes(4) } };
      default:
        throw new Error(`unsupported wire type ${wire}`);
    }
  }
}

/** Raw fields of one message, in order, grouped by number. */
function readFields(buf: Buffer): Map<number, WireValue[]> {
  const r = new Reader(buf);
  const out = new Map<number, WireValue[]>();
  while (!r.done) {
    const { num, v } = r.field();
    const vs = out.get(num) ?? [];
    vs.push(v);
    out.set(num, vs);
  }
  return out;
}

const isZeroWire = (v: WireValue) => (v.wire === 0 ? v.value === 0n : v.wire === 2 ? v.value.length === 0 : v.value.every((b) => b === 0));

/** Field decoding failed in a way the client should hear about (415 or 400 by `kind`). */
class ProtoError extends Error {
  constructor(
    message: string,
    readonly unsupported = false,
  ) {
    super(message);
  }
}

function expectWire(v: WireValue, wire: 0 | 2, where: string): void {
  if (v.wire !== wire) throw new ProtoError(`${where}: wrong wire type ${v.wire}`);
}

function timeOf(buf: Buffer): string | undefined {
  const fields = readFields(buf);
  const secs = fields.get(1)?.at(-1);
  if (!secs) return undefined; // the zero Time: Go writes `null` for it
  expectWire(secs, 0, 'Time.seconds');
  const d = new Date(Number(BigInt.asIntN(64, secs.value as bigint)) * 1000);
  return d.toISOString().replace(/\.\d+Z$/, 'Z');
}

function intOrStringOf(buf: Buffer): number | string {
  const fields = readFields(buf);
  const type = fields.get(1)?.at(-1);
  const isString = type?.wire === 0 && type.value === 1n;
  if (isString) return (fields.get(3)?.at(-1)?.value as Buffer | undefined)?.toString('utf8') ?? '';
  const n = fields.get(2)?.at(-1);
  return n?.wire === 0 ? Number(BigInt.asIntN(32, n.value)) : 0;
}

function scalarOf(type: Scalar, v: WireValue, where: string): unknown {
  switch (type) {
    case 'string':
      expectWire(v, 2, where);
      return (v.value as Buffer).toString('utf8');
    case 'bytes':
      expectWire(v, 2, where);
      return (v.value as Buffer).toString('base64'); // JSON carries []byte as base64
    case 'bool':
      expectWire(v, 0, where);
      return v.value !== 0n;
    case 'int32':
      expectWire(v, 0, where);
      return Number(BigInt.asIntN(32, v.value as bigint));
    case 'int64':
      expectWire(v, 0, where);
      return Number(BigInt.asIntN(64, v.value as bigint));
    case 'time':
      expectWire(v, 2, where);
      return timeOf(v.value as Buffer);
    case 'quantity': {
      expectWire(v, 2, where);
      const s = readFields(v.value as Buffer).get(1)?.at(-1);
      return s ? (s.value as Buffer).toString('utf8') : '0';
    }
    case 'intOrString':
      expectWire(v, 2, where);
      return intOrStringOf(v.value as Buffer);
  }
}

const isEmpty = (x: unknown) =>
  x === undefined ||
  x === '' ||
  x === 0 ||
  x === false ||
  (Array.isArray(x) && x.length === 0) ||
  (typeof x === 'object' && x !== null && !Array.isArray(x) && Object.keys(x).length === 0);

function valueOf(spec: FieldSpec, v: WireValue, where: string): unknown {
  if (typeof spec.type === 'string') return scalarOf(spec.type, v, where);
  expectWire(v, 2, where);
  return decodeMessage(spec.type, v.value as Buffer, where);
}

/** Decodes one message by its field table into a JSON object, Go `omitempty` style. */
export function decodeMessage(spec: MessageSpec, buf: Buffer, where = spec.name): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [num, values] of readFields(buf)) {
    const field = spec.fields[num];
    const at = `${where}.${field?.name ?? `#${num}`}`;
    if (!field) {
      if (values.every(isZeroWire)) continue;
      throw new ProtoError(`field ${num} of ${spec.name} is not supported in protobuf requests; send the object as JSON`, true);
    }
    let value: unknown;
    if (field.map) {
      const entries: Record<string, unknown> = {};
      for (const e of values) {
        expectWire(e, 2, at);
        const kv = readFields(e.value as Buffer);
        const k = kv.get(1)?.at(-1);
        const val = kv.get(2)?.at(-1);
        const key = k ? String(scalarOf('string', k, at)) : '';
        entries[key] = val ? valueOf({ ...field, map: false }, val, `${at}[${key}]`) : typeof field.type === 'string' && field.type !== 'quantity' ? '' : {};
      }
      value = entries;
    } else if (field.repeated) {
      // Packed repeated scalars are not used by Kubernetes' string lists; numbers never repeat.
      value = values.map((v, i) => valueOf(field, v, `${at}[${i}]`));
    } else {
      value = valueOf(field, values.at(-1)!, at); // proto: the last one wins
    }
    if (field.keep ? value === undefined : isEmpty(value)) continue;
    if (field.inline) Object.assign(out, value);
    else out[field.name] = value;
  }
  return out;
}

/**
 * Decodes a Kubernetes protobuf body into the object's JSON form, with apiVersion and kind
 * from the envelope. 400 for a malformed body, 415 for a kind or field with no table here.
 */
export function decodeProtobuf(body: Buffer): Record<string, unknown> {
  if (body.length < MAGIC.length || !body.subarray(0, MAGIC.length).equals(MAGIC))
    throw badRequest('the body of the request could not be decoded: provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]');
  let apiVersion = '';
  let kind = '';
  try {
    const unknown = readFields(body.subarray(MAGIC.length));
    const typeMeta = unknown.get(1)?.at(-1);
    if (typeMeta?.wire === 2) {
      const tm = readFields(typeMeta.value);
      apiVersion = String(tm.get(1) ? scalarOf('string', tm.get(1)!.at(-1)!, 'apiVersion') : '');
      kind = String(tm.get(2) ? scalarOf('string', tm.get(2)!.at(-1)!, 'kind') : '');
    }
    const encoding = unknown.get(3)?.at(-1);
    if (encoding?.wire === 2 && encoding.value.length > 0) throw new ProtoError(`content encoding ${encoding.value.toString('utf8')} is not supported`, true);
    const spec = PROTOBUF_KINDS[`${apiVersion}/${kind}`];
    if (!spec) throw new ProtoError(`${kind || '(no kind)'} in version "${apiVersion}" cannot be sent as protobuf here; send it as JSON`, true);
    const raw = unknown.get(2)?.at(-1);
    const obj = raw?.wire === 2 ? decodeMessage(spec, raw.value, kind) : {};
    return { apiVersion, kind, ...obj };
  } catch (e) {
    if (e instanceof ProtoError && e.unsupported) throw unsupportedMediaTypeFor(e.message);
    throw badRequest(`the body of the request could not be decoded: ${(e as Error).message}`);
  }
}

const unsupportedMediaTypeFor = (message: string) =>
  new StatusError(415, 'UnsupportedMediaType', `the body of the request could not be handled as ${PROTOBUF_MEDIA_TYPE}: ${message}`);
