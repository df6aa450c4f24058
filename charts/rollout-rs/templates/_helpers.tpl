{{/*
Names, labels and the decisions several templates share (leader election, scope, the SMI
group): each decided once, here.
*/}}

{{- define "rollout-rs.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "rollout-rs.fullname" -}}
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

{{- define "rollout-rs.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "rollout-rs.selectorLabels" -}}
app.kubernetes.io/name: {{ include "rollout-rs.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end -}}

{{- define "rollout-rs.labels" -}}
helm.sh/chart: {{ include "rollout-rs.chart" . }}
{{ include "rollout-rs.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: rollout-rs
{{- end -}}

{{- define "rollout-rs.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "rollout-rs.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name: the existing ServiceAccount to run as (serviceAccount.create is false)" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "rollout-rs.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* "true" when the controller runs with --leader-elect, "" otherwise. */}}
{{- define "rollout-rs.leaderElect" -}}
{{- $replicas := int .Values.replicas -}}
{{- if eq (toString .Values.leaderElection.enabled) "false" -}}
{{- if gt $replicas 1 -}}
{{- fail (printf "leaderElection.enabled is false with replicas %d: every replica would write to the same Rollouts; keep leader election on (null or true) or run one replica" $replicas) -}}
{{- end -}}
{{- else if or .Values.leaderElection.enabled (gt $replicas 1) -}}
true
{{- end -}}
{{- end -}}

{{/* "true" when a PodDisruptionBudget is rendered. */}}
{{- define "rollout-rs.pdb" -}}
{{- $enabled := .Values.podDisruptionBudget.enabled -}}
{{- if kindIs "invalid" $enabled -}}
{{- if gt (int .Values.replicas) 1 -}}true{{- end -}}
{{- else if $enabled -}}
true
{{- end -}}
{{- end -}}

{{/* The name of the cluster-scoped RBAC objects: per release namespace in namespace-scoped
mode, where one cluster may run one install per team namespace. */}}
{{- define "rollout-rs.clusterRoleName" -}}
{{- if .Values.watchNamespace -}}
{{- printf "%s-%s" (include "rollout-rs.fullname" .) .Release.Namespace | trunc 253 -}}
{{- else -}}
{{- include "rollout-rs.fullname" . -}}
{{- end -}}
{{- end -}}

{{/* The API group of the SMI TrafficSplits written (from trafficRouting.smiApiVersion). */}}
{{- define "rollout-rs.smiGroup" -}}
{{- $parts := splitList "/" .Values.trafficRouting.smiApiVersion -}}
{{- if ne (len $parts) 2 -}}
{{- fail (printf "trafficRouting.smiApiVersion must be GROUP/VERSION, got %q" .Values.trafficRouting.smiApiVersion) -}}
{{- end -}}
{{- first $parts -}}
{{- end -}}

{{/* The ServiceAccount as an RBAC subject. */}}
{{- define "rollout-rs.subject" -}}
- kind: ServiceAccount
  name: {{ include "rollout-rs.serviceAccountName" . }}
  namespace: {{ .Release.Namespace }}
{{- end -}}
