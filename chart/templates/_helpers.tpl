{{/*
Names, labels and small pieces shared by the templates.
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "clima.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The base of object names: fullnameOverride, else "<release>" when it already contains the
chart name, else "<release>-<name>". 63 characters at most (a DNS label).
*/}}
{{- define "clima.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
"<fullname>-<component>", the base cut to 52 characters so that a suffix of up to 10 still
fits in a 63-character name. Call with (dict "root" $ "component" "operator").
*/}}
{{- define "clima.componentFullname" -}}
{{- $base := include "clima.fullname" .root | trunc 52 | trimSuffix "-" -}}
{{- printf "%s-%s" $base .component -}}
{{- end -}}

{{/*
Name of a cluster-scoped object: "<namespace>-<fullname>-<component>", so that releases of the
same name in two namespaces (one operator per namespace) do not collide.
*/}}
{{- define "clima.clusterName" -}}
{{- printf "%s-%s" .root.Release.Namespace (include "clima.componentFullname" .) | trunc 253 | trimSuffix "-" -}}
{{- end -}}

{{/* "name-version" of the chart, for the helm.sh/chart label. */}}
{{- define "clima.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels that select pods; they never change over a release's life (no version here). */}}
{{- define "clima.selectorLabels" -}}
app.kubernetes.io/name: {{ include "clima.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels of every object of the release. */}}
{{- define "clima.labels" -}}
helm.sh/chart: {{ include "clima.chart" . }}
{{ include "clima.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: clima
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Labels of one component's objects. Call with (dict "root" $ "component" "operator"). */}}
{{- define "clima.componentLabels" -}}
{{ include "clima.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Selector labels of one component. Call with (dict "root" $ "component" "operator"). */}}
{{- define "clima.componentSelectorLabels" -}}
{{ include "clima.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* The Clima image reference: registry/repository, then @digest or :tag (appVersion). */}}
{{- define "clima.image" -}}
{{- $repository := .Values.image.repository -}}
{{- if .Values.image.registry -}}
{{- $repository = printf "%s/%s" .Values.image.registry .Values.image.repository -}}
{{- end -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" $repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The operator's ServiceAccount. */}}
{{- define "clima.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "clima.componentFullname" (dict "root" . "component" "operator")) .Values.serviceAccount.name -}}
{{- else -}}
{{- .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
The namespaces the operator serves, comma-separated: operator.watchNamespaces, or the release
namespace when that list is empty. Never all namespaces: the operator's rights are Roles there.
*/}}
{{- define "clima.watchNamespaces" -}}
{{- default (list .Release.Namespace) .Values.operator.watchNamespaces | uniq | join "," -}}
{{- end -}}

{{/* The name of the chart's ClimaPipeline. */}}
{{- define "clima.pipelineName" -}}
{{- default (include "clima.fullname" .) .Values.pipeline.name -}}
{{- end -}}

{{/* The pipeline spec: the values one to one, with the chart's image as default. */}}
{{- define "clima.pipelineSpec" -}}
{{- $spec := deepCopy (default (dict) .Values.pipeline.spec) -}}
{{- if not (hasKey $spec "image") -}}
{{- $_ := set $spec "image" (include "clima.image" .) -}}
{{- end -}}
{{- if not (hasKey $spec "imagePullPolicy") -}}
{{- $_ := set $spec "imagePullPolicy" .Values.image.pullPolicy -}}
{{- end -}}
{{- toYaml $spec -}}
{{- end -}}

{{/* Pod security every Clima pod has: the "restricted" Pod Security Standard, uid 10001. */}}
{{- define "clima.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Container security: no escalation, no capabilities, read-only root file system. */}}
{{- define "clima.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop:
    - ALL
{{- end -}}
