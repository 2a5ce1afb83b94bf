/**
 * Field documentation for the OpenAPI documents (what `kubectl explain` prints), keyed by
 * Kubernetes type name and field name, in Kubernetes' own words (abridged from k8s.io/api).
 * A `.describe()` text on a schema field takes precedence over this table.
 */
export const TYPE_DESCRIPTIONS: Readonly<Record<string, string>> = {
  Pod: 'Pod is a collection of containers that can run on a host. This resource is created by clients and scheduled onto hosts.',
  PodSpec: 'PodSpec is a description of a pod.',
  PodStatus:
    'PodStatus represents information about the status of a pod. Status may trail the actual state of a system, especially if the node that hosts the pod cannot contact the control plane.',
  Container: 'A single application container that you want to run within a pod.',
  ContainerPort: 'ContainerPort represents a network port in a single container.',
  EnvVar: 'EnvVar represents an environment variable present in a Container.',
  ResourceRequirements: 'ResourceRequirements describes the compute resource requirements.',
  ContainerStatus: 'ContainerStatus contains details for the current status of this container.',
  PodCondition: 'PodCondition contains details for the current condition of this pod.',
  ObjectMeta: 'ObjectMeta is metadata that all persisted resources must have, which includes all objects users must create.',
  OwnerReference:
    'OwnerReference contains enough information to let you identify an owning object. An owning object must be in the same namespace as the dependent, or be cluster-scoped, so there is no namespace field.',
  ManagedFieldsEntry: 'ManagedFieldsEntry is a workflow-id, a FieldSet and the group version of the resource that the fieldset applies to.',
  Namespace: 'Namespace provides a scope for Names. Use of multiple namespaces is optional.',
  NamespaceSpec: 'NamespaceSpec describes the attributes on a Namespace.',
  NamespaceStatus: 'NamespaceStatus is information about the current status of a Namespace.',
  Node: 'Node is a worker node in Kubernetes. Each node will have a unique identifier in the cache (i.e. in etcd).',
  NodeSpec: 'NodeSpec describes the attributes that a node is created with.',
  NodeStatus: 'NodeStatus is information about the current status of a node.',
  Taint: 'The node this Taint is attached to has the "effect" on any pod that does not tolerate the Taint.',
  Lease: 'Lease defines a lease concept.',
  LeaseSpec: 'LeaseSpec is a specification of a Lease.',
  Event:
    'Event is a report of an event somewhere in the cluster. Events have a limited retention time and triggers and messages may evolve with time. Event consumers should not rely on the timing of an event with a given Reason reflecting a consistent underlying trigger, or the continued existence of events with that Reason. Events should be treated as informative, best-effort, supplemental data.',
  ObjectReference: 'ObjectReference contains enough information to let you inspect or modify the referred object.',
  Quantity:
    'Quantity is a fixed-point representation of a number. It provides convenient marshaling/unmarshaling in JSON and YAML, in addition to String() and AsInt64() accessors. Examples: "100m" (0.1 of a CPU), "128Mi", "1G", "1e3".',
};

const API_VERSION =
  'APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources';
const KIND =
  'Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds';
const METADATA = "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";
const SPEC = (kind: string) =>
  `Specification of the desired behavior of the ${kind}. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#spec-and-status`;
const STATUS = (kind: string) =>
  `Most recently observed status of the ${kind}. This data may not be up to date. Populated by the system. Read-only. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#spec-and-status`;

/** Fields every top-level kind has; used for kinds with no entry of their own. */
export const COMMON_FIELD_DESCRIPTIONS: Readonly<Record<string, string>> = { apiVersion: API_VERSION, kind: KIND, metadata: METADATA };

export const FIELD_DESCRIPTIONS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  Pod: { spec: SPEC('pod'), status: STATUS('pod') },
  Namespace: { spec: 'Spec defines the behavior of the Namespace.', status: 'Status describes the current status of a Namespace.' },
  Node: { spec: SPEC('node'), status: STATUS('node') },
  Lease: { spec: 'spec contains the specification of the Lease.' },
  ObjectMeta: {
    name: 'Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated.',
    generateName:
      'GenerateName is an optional prefix, used by the server, to generate a unique name ONLY IF the Name field has not been provided. The provided value has the same validation rules as the Name field, and may be truncated by the length of the suffix required to make the value unique on the server.',
    namespace:
      'Namespace defines the space within which each name must be unique. An empty namespace is equivalent to the "default" namespace, but "default" is the canonical representation. Not all objects are required to be scoped to a namespace - the value of this field for those objects will be empty. Cannot be updated.',
    uid: 'UID is the unique in time and space value for this object. It is typically generated by the server on successful creation of a resource and is not allowed to change on PUT operations. Populated by the system. Read-only.',
    resourceVersion:
      'An opaque value that represents the internal version of this object that can be used by clients to determine when objects have changed. May be used for optimistic concurrency, change detection, and the watch operation on a resource or set of resources. Clients must treat these values as opaque and passed unmodified back to the server. Populated by the system. Read-only.',
    generation: 'A sequence number representing a specific generation of the desired state. Populated by the system. Read-only.',
    creationTimestamp:
      'CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC. Populated by the system. Read-only.',
    deletionTimestamp:
      'DeletionTimestamp is RFC 3339 date and time at which this resource will be deleted. This field is set by the server when a graceful deletion is requested by the user, and is not directly settable by a client. Populated by the system when a graceful deletion is requested. Read-only.',
    deletionGracePeriodSeconds:
      'Number of seconds allowed for this object to gracefully terminate before it will be removed from the system. Only set when deletionTimestamp is also set. May only be shortened. Read-only.',
    labels: 'Map of string keys and values that can be used to organize and categorize (scope and select) objects. May match selectors of replication controllers and services.',
    annotations: 'Annotations is an unstructured key value map stored with a resource that may be set by external tools to store and retrieve arbitrary metadata. They are not queryable and should be preserved when modifying objects.',
    ownerReferences:
      'List of objects depended by this object. If ALL objects in the list have been deleted, this object will be garbage collected. If this object is managed by a controller, then an entry in this list will point to this controller, with the controller field set to true. There cannot be more than one managing controller.',
    finalizers:
      'Must be empty before the object is deleted from the registry. Each entry is an identifier for the responsible component that will remove the entry from the list. If the deletionTimestamp of the object is non-nil, entries in this list can only be removed.',
    managedFields: 'ManagedFields maps workflow-id and version to the set of fields that are managed by that workflow. This is mostly for internal housekeeping, and users typically shouldn\'t need to set or understand this field.',
    selfLink: 'Deprecated: selfLink is a legacy read-only field that is no longer populated by the system.',
  },
  PodSpec: {
    volumes: 'List of volumes that can be mounted by containers belonging to the pod. More info: https://kubernetes.io/docs/concepts/storage/volumes',
    initContainers:
      'List of initialization containers belonging to the pod. Init containers are executed in order prior to containers being started. If any init container fails, the pod is considered to have failed and is handled according to its restartPolicy.',
    containers: 'List of containers belonging to the pod. Containers cannot currently be added or removed. There must be at least one container in a Pod. Cannot be updated.',
    ephemeralContainers: 'List of ephemeral containers run in this pod. Ephemeral containers may be run in an existing pod to perform user-initiated actions such as debugging.',
    restartPolicy: 'Restart policy for all containers within the pod. One of Always, OnFailure, Never. Default to Always.',
    terminationGracePeriodSeconds:
      'Optional duration in seconds the pod needs to terminate gracefully. May be decreased in delete request. Value must be non-negative integer. The value zero indicates stop immediately via the kill signal (no opportunity to shut down). If this value is nil, the default grace period will be used instead. Defaults to 30 seconds.',
    activeDeadlineSeconds:
      'Optional duration in seconds the pod may be active on the node relative to StartTime before the system will actively try to mark it failed and kill associated containers. Value must be a positive integer.',
    dnsPolicy: "Set DNS policy for the pod. Defaults to \"ClusterFirst\". Valid values are 'ClusterFirstWithHostNet', 'ClusterFirst', 'Default' or 'None'.",
    nodeSelector: "NodeSelector is a selector which must be true for the pod to fit on a node. Selector which must match a node's labels for the pod to be scheduled on that node.",
    serviceAccountName: 'ServiceAccountName is the name of the ServiceAccount to use to run this pod.',
    serviceAccount: 'DeprecatedServiceAccount is a deprecated alias for ServiceAccountName. Deprecated: Use serviceAccountName instead.',
    automountServiceAccountToken: 'AutomountServiceAccountToken indicates whether a service account token should be automatically mounted.',
    nodeName:
      'NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate for scheduling by the scheduler defined in schedulerName. Once this field is set, the kubelet for this node becomes responsible for the lifecycle of this pod.',
    hostNetwork: "Host networking requested for this pod. Use the host's network namespace. Default to false.",
    hostPID: "Use the host's pid namespace. Optional: Default to false.",
    hostIPC: "Use the host's ipc namespace. Optional: Default to false.",
    securityContext: 'SecurityContext holds pod-level security attributes and common container settings. Optional: Defaults to empty.',
    imagePullSecrets: 'ImagePullSecrets is an optional list of references to secrets in the same namespace to use for pulling any of the images used by this PodSpec.',
    hostname: "Specifies the hostname of the Pod If not specified, the pod's hostname will be set to a system-defined value.",
    subdomain: 'If specified, the fully qualified Pod hostname will be "<hostname>.<subdomain>.<pod namespace>.svc.<cluster domain>". If not specified, the pod will not have a domainname at all.',
    affinity: "If specified, the pod's scheduling constraints",
    schedulerName: 'If specified, the pod will be dispatched by specified scheduler. If not specified, the pod will be dispatched by default scheduler.',
    tolerations: "If specified, the pod's tolerations.",
    hostAliases: "HostAliases is an optional list of hosts and IPs that will be injected into the pod's hosts file if specified.",
    priorityClassName: 'If specified, indicates the pod\'s priority. "system-node-critical" and "system-cluster-critical" are two special keywords which indicate the highest priorities.',
    priority: 'The priority value. Various system components use this field to find the priority of the pod. The higher the value, the higher the priority.',
    readinessGates: 'If specified, all readiness gates will be evaluated for pod readiness.',
    enableServiceLinks: "EnableServiceLinks indicates whether information about services should be injected into pod's environment variables. Optional: Defaults to true.",
    topologySpreadConstraints: 'TopologySpreadConstraints describes how a group of pods ought to spread across topology domains.',
    overhead: 'Overhead represents the resource overhead associated with running a pod for a given RuntimeClass.',
    resources: 'Resources is the total amount of CPU and Memory resources required by all containers in the pod.',
  },
  Container: {
    name: 'Name of the container specified as a DNS_LABEL. Each container in a pod must have a unique name (DNS_LABEL). Cannot be updated.',
    image:
      'Container image name. More info: https://kubernetes.io/docs/concepts/containers/images This field is optional to allow higher level config management to default or override container images in workload controllers like Deployments and StatefulSets.',
    command:
      "Entrypoint array. Not executed within a shell. The container image's ENTRYPOINT is used if this is not provided. Variable references $(VAR_NAME) are expanded using the container's environment. Cannot be updated.",
    args: "Arguments to the entrypoint. The container image's CMD is used if this is not provided. Variable references $(VAR_NAME) are expanded using the container's environment. Cannot be updated.",
    workingDir: "Container's working directory. If not specified, the container runtime's default will be used, which might be configured in the container image. Cannot be updated.",
    ports:
      'List of ports to expose from the container. Not specifying a port here DOES NOT prevent that port from being exposed. Any port which is listening on the default "0.0.0.0" address inside a container will be accessible from the network. Cannot be updated.',
    env: 'List of environment variables to set in the container. Cannot be updated.',
    envFrom: 'List of sources to populate environment variables in the container. Cannot be updated.',
    resources: 'Compute Resources required by this container. Cannot be updated. More info: https://kubernetes.io/docs/concepts/configuration/manage-resources-containers/',
    resizePolicy: 'Resources resize policy for the container.',
    restartPolicy:
      'RestartPolicy defines the restart behavior of individual containers in a pod. This field may only be set for init containers, and the only allowed value is "Always".',
    volumeMounts: "Pod volumes to mount into the container's filesystem. Cannot be updated.",
    volumeDevices: 'volumeDevices is the list of block devices to be used by the container.',
    livenessProbe: 'Periodic probe of container liveness. Container will be restarted if the probe fails. Cannot be updated.',
    readinessProbe: 'Periodic probe of container service readiness. Container will be removed from service endpoints if the probe fails. Cannot be updated.',
    startupProbe: 'StartupProbe indicates that the Pod has successfully initialized. If specified, no other probes are executed until this completes successfully.',
    lifecycle: 'Actions that the management system should take in response to container lifecycle events. Cannot be updated.',
    terminationMessagePath: "Optional: Path at which the file to which the container's termination message will be written is mounted into the container's filesystem. Defaults to /dev/termination-log. Cannot be updated.",
    terminationMessagePolicy: 'Indicate how the termination message should be populated. File will use the contents of terminationMessagePath to populate the container status message on both success and failure. Defaults to File. Cannot be updated.',
    imagePullPolicy: 'Image pull policy. One of Always, Never, IfNotPresent. Defaults to Always if :latest tag is specified, or IfNotPresent otherwise. Cannot be updated.',
    securityContext: 'SecurityContext defines the security options the container should be run with.',
    stdin: 'Whether this container should allocate a buffer for stdin in the container runtime. If this is not set, reads from stdin in the container will always result in EOF. Default is false.',
    stdinOnce: 'Whether the container runtime should close the stdin channel after it has been opened by a single attach. Default is false.',
    tty: "Whether this container should allocate a TTY for itself, also requires 'stdin' to be true. Default is false.",
  },
  ContainerPort: {
    name: 'If specified, this must be an IANA_SVC_NAME and unique within the pod. Each named port in a pod must have a unique name. Name for the port that can be referred to by services.',
    containerPort: "Number of port to expose on the pod's IP address. This must be a valid port number, 0 < x < 65536.",
    protocol: 'Protocol for port. Must be UDP, TCP, or SCTP. Defaults to "TCP".',
    hostPort: 'Number of port to expose on the host. If specified, this must be a valid port number, 0 < x < 65536.',
    hostIP: 'What host IP to bind the external port to.',
  },
  EnvVar: {
    name: 'Name of the environment variable. Must be a C_IDENTIFIER.',
    value: 'Variable references $(VAR_NAME) are expanded using the previously defined environment variables in the container and any service environment variables. Defaults to "".',
    valueFrom: "Source for the environment variable's value. Cannot be used if value is not empty.",
  },
  ResourceRequirements: {
    requests:
      'Requests describes the minimum amount of compute resources required. If Requests is omitted for a container, it defaults to Limits if that is explicitly specified, otherwise to an implementation-defined value. Requests cannot exceed Limits.',
    limits: 'Limits describes the maximum amount of compute resources allowed.',
    claims: 'Claims lists the names of resources, defined in spec.resourceClaims, that are used by this container.',
  },
  PodStatus: {
    phase: 'The phase of a Pod is a simple, high-level summary of where the Pod is in its lifecycle: Pending, Running, Succeeded, Failed or Unknown.',
    conditions: 'Current service state of pod.',
    message: 'A human readable message indicating details about why the pod is in this condition.',
    reason: "A brief CamelCase message indicating details about why the pod is in this state. e.g. 'Evicted'",
    nominatedNodeName: 'nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods.',
    hostIP: 'hostIP holds the IP address of the host to which the pod is assigned. Empty if the pod has not started yet.',
    podIP: 'podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.',
    startTime: 'RFC 3339 date and time at which the object was acknowledged by the Kubelet. This is before the Kubelet pulled the container image(s) for the pod.',
    containerStatuses: 'The list has one entry per container in the manifest.',
    initContainerStatuses: 'The list has one entry per init container in the manifest.',
    qosClass: 'The Quality of Service (QOS) classification assigned to the pod based on resource requirements.',
  },
  NodeSpec: {
    podCIDR: 'PodCIDR represents the pod IP range assigned to the node.',
    providerID: 'ID of the node assigned by the cloud provider in the format: <ProviderName>://<ProviderSpecificNodeID>',
    unschedulable: 'Unschedulable controls node schedulability of new pods. By default, node is schedulable.',
    taints: "If specified, the node's taints.",
  },
  NodeStatus: {
    capacity: 'Capacity represents the total resources of a node.',
    allocatable: 'Allocatable represents the resources of a node that are available for scheduling. Defaults to Capacity.',
    conditions: 'Conditions is an array of current observed node conditions.',
    addresses: 'List of addresses reachable to the node.',
    nodeInfo: 'Set of ids/uuids to uniquely identify the node.',
  },
  LeaseSpec: {
    holderIdentity: 'holderIdentity contains the identity of the holder of a current lease.',
    leaseDurationSeconds: 'leaseDurationSeconds is a duration that candidates for a lease need to wait to force acquire it. This is measured against the time of last observed renewTime.',
    acquireTime: 'acquireTime is a time when the current lease was acquired.',
    renewTime: 'renewTime is a time when the current holder of a lease has last updated the lease.',
    leaseTransitions: 'leaseTransitions is the number of transitions of a lease between holders.',
  },
  NamespaceSpec: { finalizers: 'Finalizers is an opaque list of values that must be empty to permanently remove object from storage.' },
  NamespaceStatus: { phase: 'Phase is the current lifecycle phase of the namespace.' },
  Event: {
    involvedObject: 'The object that this event is about.',
    reason: "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.",
    message: 'A human-readable description of the status of this operation.',
    source: 'The component reporting this event. Should be a short machine understandable string.',
    firstTimestamp: 'The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)',
    lastTimestamp: 'The time at which the most recent occurrence of this event was recorded.',
    count: 'The number of times this event has occurred.',
    type: 'Type of this event (Normal, Warning), new types could be added in the future',
  },
};
