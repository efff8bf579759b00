{{/* Names, labels and shared pieces of the ctrlscope chart. */}}

{{- define "ctrlscope.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "ctrlscope.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "ctrlscope.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "ctrlscope.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "ctrlscope.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride -}}
{{- end -}}

{{- define "ctrlscope.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ctrlscope.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "ctrlscope.labels" -}}
{{ include "ctrlscope.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "ctrlscope.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "ctrlscope.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "ctrlscope.image" -}}
{{- $repo := .Values.image.repository -}}
{{- if .Values.image.registry -}}{{- $repo = printf "%s/%s" .Values.image.registry $repo -}}{{- end -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" $repo .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The Secret holding tls.crt, tls.key and ca.crt. */}}
{{- define "ctrlscope.tlsSecret" -}}
{{- if eq .Values.tls.mode "existingSecret" -}}
{{- required "tls.existingSecret is required with tls.mode=existingSecret" .Values.tls.existingSecret -}}
{{- else -}}
{{- printf "%s-tls" (include "ctrlscope.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/* The name the serving certificate is for, and the monitors verify. */}}
{{- define "ctrlscope.serverName" -}}
{{- printf "%s.%s.svc" (include "ctrlscope.fullname" .) (include "ctrlscope.namespace" .) -}}
{{- end -}}

{{- define "ctrlscope.dnsNames" -}}
{{- $svc := printf "%s.%s.svc" (include "ctrlscope.fullname" .) (include "ctrlscope.namespace" .) -}}
{{- toYaml (concat (list $svc (printf "%s.cluster.local" $svc)) .Values.tls.extraDnsNames) -}}
{{- end -}}

{{/* The scraper's token Secret. */}}
{{- define "ctrlscope.scraperSecret" -}}
{{- printf "%s-scraper-token" (include "ctrlscope.fullname" .) -}}
{{- end -}}

{{/* A monitor endpoint's scheme, TLS, authorization and relabelings (ServiceMonitor and
     PodMonitor alike). Argument: dict "root" $ "m" the monitor's values. */}}
{{- define "ctrlscope.monitorEndpoint" -}}
{{- $ := .root -}}
path: /metrics
scheme: https
interval: {{ .m.interval }}
scrapeTimeout: {{ .m.scrapeTimeout }}
tlsConfig:
  serverName: {{ include "ctrlscope.serverName" $ }}
  ca:
    secret:
      name: {{ include "ctrlscope.tlsSecret" $ }}
      key: ca.crt
authorization:
{{- if .m.authorization }}
  {{- toYaml .m.authorization | nindent 2 }}
{{- else if $.Values.scraper.create }}
  type: Bearer
  credentials:
    name: {{ include "ctrlscope.scraperSecret" $ }}
    key: token
{{- else }}
  {{- fail "the monitors need authorization: set scraper.create or the monitor's authorization" }}
{{- end }}
relabelings:
  - action: replace
    sourceLabels: [__meta_kubernetes_pod_node_name]
    targetLabel: instance
{{- with .m.relabelings }}
{{ toYaml . }}
{{- end }}
{{- with .m.metricRelabelings }}
metricRelabelings:
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
The web config file (web.yaml): the values' web section, with the chart's certificate.
*/}}
{{- define "ctrlscope.webConfig" -}}
{{- $web := deepCopy .Values.web }}
{{- $tls := merge (dict "cert_file" "/etc/ctrlscope/tls/tls.crt" "key_file" "/etc/ctrlscope/tls/tls.key") (default (dict) $web.tls_server_config) }}
{{- $_ := set $web "tls_server_config" $tls }}
{{- toYaml $web }}
{{- end }}

{{/*
What only a restart of the agent applies: the web config, and the configuration's limits
and modules (they size the kernel's maps). The agent reloads the rest of config.yaml by
itself when the ConfigMap changes, so a change there rolls no pod.
*/}}
{{- define "ctrlscope.restartChecksum" -}}
{{- $cfg := .Values.config | default dict }}
{{- printf "%s\n%s\n%s" (include "ctrlscope.webConfig" .) (toYaml (get $cfg "limits")) (toYaml (get $cfg "modules")) | sha256sum }}
{{- end }}

{{/*
Where the agent pins its state, inside the container (the node's bpfHostPath is mounted at
/sys/fs/bpf): one directory per release, so two releases never share counters.
*/}}
{{- define "ctrlscope.pinPath" -}}
/sys/fs/bpf/ctrlscope/{{ include "ctrlscope.namespace" . }}.{{ include "ctrlscope.fullname" . }}
{{- end }}
