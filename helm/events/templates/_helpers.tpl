{{/* Names, labels and the environment each daemon reads (as `make run` and compose give it). */}}
{{- define "events.fullname" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}

{{- define "events.labels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{- define "events.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{- define "events.secretName" -}}
{{- if .Values.secrets.existingSecret -}}{{ .Values.secrets.existingSecret }}{{- else -}}{{ include "events.fullname" . }}{{- end -}}
{{- end -}}

{{/* The variables of daemon .name beyond its port: a list of names, resolved by events.env. */}}
{{- define "events.needs" -}}
{{- $needs := dict
  "gateway" (list "KAFKA_BROKERS" "REDIS_URL" "REGISTRY_URL" "REGISTRY_USER_INFO" "JWT_HS256_SECRET" "DATABASE_URL")
  "registry" (list "DATABASE_URL" "JWT_HS256_SECRET" "REGISTRY_BASIC_AUTH_FILE")
  "processor" (list "KAFKA_BROKERS" "REDIS_URL" "DATABASE_URL" "JWT_HS256_SECRET" "PROCESSOR_PIPELINES_DIR")
  "rules" (list "KAFKA_BROKERS" "RULES_FILE")
  "store" (list "KAFKA_BROKERS" "DATABASE_URL")
  "output" (list "KAFKA_BROKERS" "DATABASE_URL") -}}
{{- get $needs .name | join "," -}}
{{- end -}}

{{- define "events.env" -}}
{{- $root := .root -}}
{{- $secret := include "events.secretName" $root -}}
- name: {{ printf "%s_PORT" (upper .name) }}
  value: {{ .d.port | quote }}
- name: LOG_LEVEL
  value: {{ $root.Values.logLevel | quote }}
{{- range $var := splitList "," (include "events.needs" .) }}
- name: {{ $var }}
{{- if eq $var "KAFKA_BROKERS" }}
  value: {{ $root.Values.kafka.brokers | quote }}
{{- else if and (eq $var "REDIS_URL") $root.Values.redis.url }}
  value: {{ $root.Values.redis.url | quote }}
{{- else if eq $var "REGISTRY_URL" }}
  value: {{ printf "http://%s-registry:%v" (include "events.fullname" $root) $root.Values.daemons.registry.port | quote }}
{{- else if eq $var "PROCESSOR_PIPELINES_DIR" }}
  value: /etc/events/pipelines
{{- else if eq $var "RULES_FILE" }}
  value: /etc/events/rules/rules.json
{{- else if eq $var "REGISTRY_BASIC_AUTH_FILE" }}
  value: /etc/events/registry/users
{{- else }}
  valueFrom:
    secretKeyRef: {name: {{ $secret }}, key: {{ $var }}}
{{- end }}
{{- end }}
{{- if and (eq .name "gateway") $root.Values.config.routes }}
- name: GATEWAY_ROUTES_FILE
  value: /etc/events/routes/routes.json
{{- end }}
{{- if has .name (list "processor" "rules" "store" "output" "gateway") }}
{{- range $k, $v := $root.Values.kafka.config }}
- name: {{ printf "KAFKA_%s" ($k | replace "." "_" | upper) }}
  value: {{ $v | quote }}
{{- end }}
{{- end }}
{{- range $k, $v := .d.env }}
- name: {{ $k }}
  value: {{ $v | quote }}
{{- end }}
{{- end -}}
