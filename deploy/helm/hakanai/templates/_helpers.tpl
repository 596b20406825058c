{{/* The chart's name, and the prefix of every object's name. */}}
{{- define "hakanai.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "hakanai.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "hakanai.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "hakanai.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hakanai.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "hakanai.labels" -}}
{{ include "hakanai.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/*
The name the Bitnami redis chart gives its objects (its common.names.fullname as a
subchart): redis.fullnameOverride, else the release name if it already contains the chart's
name, else <release>-<name>.
*/}}
{{- define "hakanai.redis.fullname" -}}
{{- $name := default "redis" .Values.redis.nameOverride -}}
{{- if .Values.redis.fullnameOverride -}}
{{- .Values.redis.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Secret and key holding the Redis password; empty name: no password. */}}
{{- define "hakanai.redis.secretName" -}}
{{- if .Values.redis.enabled -}}
{{- if .Values.redis.auth.enabled -}}
{{- default (include "hakanai.redis.fullname" .) .Values.redis.auth.existingSecret -}}
{{- end -}}
{{- else if .Values.externalRedis.existingSecret -}}
{{- .Values.externalRedis.existingSecret -}}
{{- else if .Values.externalRedis.password -}}
{{- printf "%s-redis-external" (include "hakanai.fullname" .) -}}
{{- end -}}
{{- end -}}

{{- define "hakanai.redis.secretKey" -}}
{{- if .Values.redis.enabled -}}
{{- default "redis-password" .Values.redis.auth.existingSecretPasswordKey -}}
{{- else -}}
{{- default "redis-password" .Values.externalRedis.existingSecretPasswordKey -}}
{{- end -}}
{{- end -}}

{{/* The user-info part of a DSN: ":$(REDIS_PASSWORD)@" when there is a password Secret. */}}
{{- define "hakanai.redis.auth" -}}
{{- if include "hakanai.redis.secretName" . -}}:$(REDIS_PASSWORD)@{{- end -}}
{{- end -}}

{{/*
HAKANAI_REDIS_DSN. $(REDIS_PASSWORD) is expanded by Kubernetes from the env entry before it.
Bundled Redis with Sentinel: the sentinels behind the <redis fullname> service and the master
set they watch; with auth.sentinel the sentinels want the same password.
*/}}
{{- define "hakanai.redis.dsn" -}}
{{- $auth := include "hakanai.redis.auth" . -}}
{{- if .Values.redis.enabled -}}
{{- if .Values.redis.sentinel.enabled -}}
{{- printf "redis-sentinel://%s%s:%v/%s/0" $auth (include "hakanai.redis.fullname" .) .Values.redis.sentinel.service.ports.sentinel .Values.redis.sentinel.masterSet -}}
{{- if and $auth .Values.redis.auth.sentinel -}}?sentinel_password=$(REDIS_PASSWORD){{- end -}}
{{- else -}}
{{- printf "redis://%s%s-master:%v/0" $auth (include "hakanai.redis.fullname" .) .Values.redis.master.service.ports.redis -}}
{{- end -}}
{{- else if .Values.externalRedis.dsn -}}
{{- if and $auth (not (contains "$(REDIS_PASSWORD)" .Values.externalRedis.dsn)) -}}
{{- fail "externalRedis.dsn must contain $(REDIS_PASSWORD) where the password from the Secret goes" -}}
{{- end -}}
{{- .Values.externalRedis.dsn -}}
{{- else if .Values.externalRedis.host -}}
{{- printf "redis://%s%s:%v/0" $auth .Values.externalRedis.host .Values.externalRedis.port -}}
{{- else -}}
{{- fail "redis.enabled=false needs externalRedis.dsn or externalRedis.host" -}}
{{- end -}}
{{- end -}}

{{/* OTEL_RESOURCE_ATTRIBUTES: k=v pairs, comma-separated (with a trailing comma, trimmed by the caller). */}}
{{- define "hakanai.otel.resourceAttributes" -}}
{{- range $key, $value := .Values.otel.resourceAttributes -}}
{{ $key }}={{ $value }},
{{- end -}}
{{- end -}}
