{{- define "medic.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "medic.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "medic.selectorLabels" -}}
app.kubernetes.io/name: {{ include "medic.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "medic.labels" -}}
{{ include "medic.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "medic.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "medic.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "medic.secretName" -}}
{{- default (include "medic.fullname" .) .Values.secrets.existingSecret -}}
{{- end -}}

{{/* Secret file name -> the config key it fills (section.key). */}}
{{- define "medic.secretKeys" -}}
alertmanager-bearer-token: alertmanager.bearer_token
api-token: server.api_token
api-users: server.api_users
slack-bot-token: slack.bot_token
slack-signing-secret: slack.signing_secret
slack-app-token: slack.app_token
pagerduty-api-token: pagerduty.api_token
pagerduty-routing-key: pagerduty.routing_key
pagerduty-routing-keys: pagerduty.routing_keys
pagerduty-webhook-secrets: pagerduty.webhook_secrets
{{- end -}}

{{/* The secret files present: the existing Secret's listed keys, or the chart's values. */}}
{{- define "medic.presentSecretKeys" -}}
{{- if .Values.secrets.existingSecret -}}
{{- toJson .Values.secrets.existingSecretKeys -}}
{{- else -}}
{{- toJson (keys .Values.secrets.values | sortAlpha) -}}
{{- end -}}
{{- end -}}

{{- define "medic.sqlite" -}}
{{- if or .Values.store.existingSecret (and .Values.store.url (not (hasPrefix "sqlite" .Values.store.url))) -}}
{{- else -}}true{{- end -}}
{{- end -}}

{{- define "medic.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* medic.yaml: the user's config plus what the chart decides (listen address, store, the
     `<key>_file` of every mounted secret). */}}
{{- define "medic.config" -}}
{{- $cfg := deepCopy (default dict .Values.config) -}}
{{- $server := default dict (get $cfg "server") -}}
{{- $_ := set $server "host" "0.0.0.0" -}}
{{- $_ := set $server "port" 8080 -}}
{{- $_ := set $cfg "server" $server -}}
{{- $store := default dict (get $cfg "store") -}}
{{- if .Values.store.url -}}
{{- $_ := set $store "url" .Values.store.url -}}
{{- else if not .Values.store.existingSecret -}}
{{- $_ := set $store "url" "sqlite:////var/lib/medic/medic.db" -}}
{{- end -}}
{{- if $store -}}{{- $_ := set $cfg "store" $store -}}{{- end -}}
{{- $table := include "medic.secretKeys" . | fromYaml -}}
{{- range $file := include "medic.presentSecretKeys" . | fromJsonArray -}}
{{- $path := splitList "." (get $table $file) -}}
{{- $section := default dict (get $cfg (first $path)) -}}
{{- $_ := set $section (printf "%s_file" (last $path)) (printf "/etc/medic/secrets/%s" $file) -}}
{{- $_ := set $cfg (first $path) $section -}}
{{- end -}}
{{- toYaml $cfg -}}
{{- end -}}
