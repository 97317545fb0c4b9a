{{/*
What the operator does with each kind, read from its code (operator/clima_operator):
- kube.py reads pipelines and Secrets by name (get), lists children by label (list),
  creates the credentials Secret (create), server-side applies children and the pipeline
  status (patch; an apply that creates the object also needs create), merge-patches the
  Secret (patch) and deletes children the spec no longer wants (delete);
- it never lists, watches or deletes Secrets, creates no Pods or RBAC objects, and
  garbage collection (owner references) removes the children of a deleted pipeline;
- it runs one Job per broker that a mode change leaves (the consumer in drain mode), reads
  whether it succeeded, then deletes it (list, watch, create, patch, delete);
- kopf watches pipelines, Deployments, StatefulSets and Jobs (list, watch), keeps its progress in
  annotations and its finalizer on pipelines (patch) and posts core Events (create);
- the status reads the pipeline's pods (list) and kopf watches them (watch), so a crash loop
  or an image that cannot be pulled shows in the pipeline's conditions; pods are only read.
*/}}
{{- define "clima.operatorRules" -}}
- apiGroups: ["clima.io"]
  resources: ["climapipelines"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["clima.io"]
  resources: ["climapipelines/status"]
  verbs: ["patch"]
- apiGroups: ["apps"]
  resources: ["deployments", "statefulsets"]
  verbs: ["list", "watch", "create", "patch", "delete"]
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["list", "watch", "create", "patch", "delete"]
- apiGroups: [""]
  resources: ["services", "configmaps"]
  verbs: ["list", "create", "patch", "delete"]
- apiGroups: ["networking.k8s.io"]
  resources: ["ingresses", "networkpolicies"]
  verbs: ["list", "create", "patch", "delete"]
- apiGroups: ["autoscaling"]
  resources: ["horizontalpodautoscalers"]
  verbs: ["list", "create", "patch", "delete"]
- apiGroups: ["policy"]
  resources: ["poddisruptionbudgets"]
  verbs: ["list", "create", "patch", "delete"]
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list", "watch"]
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "create", "patch"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
{{- end -}}

{{/*
Cluster-scoped reads kopf makes at start-up and while running: the CRDs (to notice the
ClimaPipeline CRD appear or change) and the namespaces (to notice a served one appear).
*/}}
{{- define "clima.discoveryRules" -}}
- apiGroups: ["apiextensions.k8s.io"]
  resources: ["customresourcedefinitions"]
  verbs: ["list", "watch"]
- apiGroups: [""]
  resources: ["namespaces"]
  verbs: ["list", "watch"]
{{- end -}}
