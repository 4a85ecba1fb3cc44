{{/*
Naming, labels and shared pod pieces. Everything here is deterministic: no random values,
no timestamps, nothing that differs between an install and an upgrade render.
*/}}

{{- define "rapport.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "rapport.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "rapport.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The service names of the distributed mode, in a fixed order. */}}
{{- define "rapport.serviceNames" -}}
contacts deals tasks comms analytics gateway
{{- end -}}

{{/* Who calls whom over gRPC (ingress of the callee, egress of the caller). */}}
{{- define "rapport.callers" -}}
contacts: [gateway, comms]
deals: [gateway, contacts]
tasks: [gateway, contacts]
comms: [gateway, contacts]
analytics: [gateway]
gateway: []
{{- end -}}

{{/* Which services talk to Kafka (publishers via the outbox, analytics as consumer). */}}
{{- define "rapport.kafkaClients" -}}
[contacts, deals, tasks, comms, analytics, gateway]
{{- end -}}

{{/* Which services talk to ScyllaDB (every service owns a keyspace; the gateway keeps
tenants, API keys and the audit trail). */}}
{{- define "rapport.scyllaClients" -}}
[contacts, deals, tasks, comms, analytics, gateway]
{{- end -}}

{{/* Services that need the Kubernetes API (Lease-based leader election). */}}
{{- define "rapport.kubeApiClients" -}}
[contacts, comms, deals, tasks, gateway]
{{- end -}}

{{/* Common labels. */}}
{{- define "rapport.labels" -}}
helm.sh/chart: {{ include "rapport.chart" . }}
app.kubernetes.io/name: {{ include "rapport.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: rapport
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels of one component: include "rapport.selectorLabels" (dict "ctx" $ "component" "contacts") */}}
{{- define "rapport.selectorLabels" -}}
app.kubernetes.io/name: {{ include "rapport.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "rapport.componentLabels" -}}
{{ include "rapport.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Object name of one component; the monolith's objects carry the plain full name. */}}
{{- define "rapport.componentName" -}}
{{- if eq .component "monolith" -}}
{{- include "rapport.fullname" .ctx -}}
{{- else -}}
{{- printf "%s-%s" (include "rapport.fullname" .ctx) .component -}}
{{- end -}}
{{- end -}}

{{- define "rapport.serviceAccountName" -}}
{{- if .ctx.Values.serviceAccount.create -}}
{{- include "rapport.componentName" . -}}
{{- else -}}
default
{{- end -}}
{{- end -}}

{{- define "rapport.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* terminationGracePeriodSeconds = preStop sleep + drain time + margin. */}}
{{- define "rapport.terminationGrace" -}}
{{- add (int .Values.config.preStopSleepSeconds) (int .Values.config.shutdownGraceSeconds) (int .Values.config.terminationGraceMarginSeconds) -}}
{{- end -}}

{{- define "rapport.lifecycle" -}}
{{- if gt (int .Values.config.preStopSleepSeconds) 0 }}
lifecycle:
  preStop:
    sleep:
      seconds: {{ int .Values.config.preStopSleepSeconds }}
{{- end }}
{{- end -}}

{{/* ---------------------------------------------------------------- Kafka */}}

{{- define "rapport.kafkaClusterName" -}}
{{- default (printf "%s-kafka" (include "rapport.fullname" .)) .Values.kafka.strimzi.clusterName | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{/* The KafkaUser (and so the Secret the User Operator writes its password into). */}}
{{- define "rapport.kafkaUserName" -}}
{{- include "rapport.fullname" . -}}
{{- end -}}

{{/* Whether each service gets a KafkaUser of its own, limited by ACLs. */}}
{{- define "rapport.kafkaUserPerService" -}}
{{- if and .Values.kafka.strimzi.enabled (eq .Values.kafka.strimzi.authentication "scram-sha-512") (eq .Values.mode "distributed") -}}true{{- end -}}
{{- end -}}

{{/* What each service may do on Kafka: the topics it publishes on (its own
     and the audit trail), the topics it reads and its consumer group. The
     per-service KafkaUsers' ACLs come from here; a service's credentials
     cannot write another service's events. */}}
{{- define "rapport.kafkaAccess" -}}
contacts:
  write: [rapport.contacts.v1, rapport.audit.v1]
  read: []
  group: ""
comms:
  write: [rapport.interactions.v1, rapport.audit.v1]
  read: [rapport.contacts.v1]
  group: rapport-comms-contacts
deals:
  write: [rapport.deals.v1, rapport.audit.v1]
  read: [rapport.contacts.v1]
  group: rapport-deals-contacts
tasks:
  write: [rapport.tasks.v1, rapport.audit.v1]
  read: [rapport.contacts.v1]
  group: rapport-tasks-contacts
analytics:
  write: []
  read: [rapport.contacts.v1, rapport.interactions.v1, rapport.deals.v1, rapport.tasks.v1]
  group: rapport-analytics
gateway:
  write: [rapport.audit.v1]
  read: [rapport.audit.v1]
  group: rapport-gateway-audit
{{- end -}}

{{- define "rapport.kafkaBootstrap" -}}
{{- if .Values.kafka.strimzi.enabled -}}
{{- printf "%s-kafka-bootstrap.%s.svc:%s" (include "rapport.kafkaClusterName" .) .Release.Namespace (ternary "9093" "9092" .Values.kafka.strimzi.tls) -}}
{{- else -}}
{{- .Values.kafka.bootstrapServers -}}
{{- end -}}
{{- end -}}

{{- define "rapport.kafkaSecurityProtocol" -}}
{{- if .Values.kafka.strimzi.enabled -}}
{{- $sasl := eq .Values.kafka.strimzi.authentication "scram-sha-512" -}}
{{- if and $sasl .Values.kafka.strimzi.tls -}}sasl_ssl
{{- else if $sasl -}}sasl_plaintext
{{- else if .Values.kafka.strimzi.tls -}}ssl
{{- else -}}plaintext
{{- end -}}
{{- else -}}
{{- .Values.kafka.securityProtocol -}}
{{- end -}}
{{- end -}}

{{/* The Secret and key holding the SASL password, as "name/key", or "" when none. */}}
{{- define "rapport.kafkaPasswordSecret" -}}
{{- if .Values.kafka.strimzi.enabled -}}
{{- if eq .Values.kafka.strimzi.authentication "scram-sha-512" -}}
{{- printf "%s/password" (include "rapport.kafkaUserName" .) -}}
{{- end -}}
{{- else if hasPrefix "sasl_" .Values.kafka.securityProtocol -}}
{{- printf "%s/%s" .Values.kafka.sasl.existingSecret .Values.kafka.sasl.passwordKey -}}
{{- end -}}
{{- end -}}

{{/* The Secret and key holding the Kafka CA, as "name/key", or "" when none. */}}
{{- define "rapport.kafkaCaSecret" -}}
{{- if .Values.kafka.strimzi.enabled -}}
{{- if .Values.kafka.strimzi.tls -}}
{{- printf "%s-cluster-ca-cert/ca.crt" (include "rapport.kafkaClusterName" .) -}}
{{- end -}}
{{- else if and (hasSuffix "ssl" .Values.kafka.securityProtocol) .Values.kafka.tls.caSecret -}}
{{- printf "%s/%s" .Values.kafka.tls.caSecret .Values.kafka.tls.caKey -}}
{{- end -}}
{{- end -}}

{{/* ---------------------------------------------------------------- ScyllaDB */}}

{{- define "rapport.scyllaClusterName" -}}
{{- default (printf "%s-scylla" (include "rapport.fullname" .)) .Values.scylla.operator.clusterName | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{- define "rapport.scyllaNodes" -}}
{{- if .Values.scylla.operator.enabled -}}
{{- printf "%s-client.%s.svc:9042" (include "rapport.scyllaClusterName" .) .Release.Namespace -}}
{{- else -}}
{{- .Values.scylla.nodes -}}
{{- end -}}
{{- end -}}

{{- define "rapport.scyllaLocalDc" -}}
{{- if .Values.scylla.localDc -}}
{{- .Values.scylla.localDc -}}
{{- else if .Values.scylla.operator.enabled -}}
{{- .Values.scylla.operator.datacenter -}}
{{- end -}}
{{- end -}}

{{/* ---------------------------------------------------------------- config file */}}

{{- define "rapport.configFile" -}}
{{- $ctx := . -}}
{{- $fullname := include "rapport.fullname" . -}}
{{- $telemetry := dict
      "otlp_endpoint" (.Values.telemetry.otlpEndpoint | default nil)
      "sampling_ratio" .Values.telemetry.samplingRatio
      "log_level" .Values.telemetry.logLevel
      "log_format" .Values.telemetry.logFormat -}}
{{- $a := .Values.config.auth -}}
{{- $auth := dict "dev_token_key_file" nil "oidc_issuer" ($a.oidcIssuer | default nil) "oidc_audience" ($a.oidcAudience | default nil) "oidc_claims" $a.oidcClaims "oidc_leeway_seconds" (int $a.oidcLeewaySeconds) "oidc_client_id" ($a.oidcClientId | default nil) "oidc_redirect_url" ($a.oidcRedirectUrl | default nil) "session_ttl_hours" (int $a.sessionTtlHours) -}}
{{- $outbox := dict "relay_enabled" .Values.config.outbox.relayEnabled "poll_interval_ms" (int .Values.config.outbox.pollIntervalMs) -}}
{{- $contacts := dict "default_phone_region" .Values.config.contacts.defaultPhoneRegion "max_running_imports_per_tenant" (int .Values.config.contacts.maxRunningImportsPerTenant) "abandoned_import_after_secs" (int .Values.config.contacts.abandonedImportAfterSeconds) -}}
{{- $deals := dict "max_pipeline_stages" (int .Values.config.deals.maxPipelineStages) -}}
{{- $limits := dict -}}
{{- range $class, $rate := .Values.config.gateway.rateLimits -}}
{{- $_ := set $limits $class (dict "per_second" (float64 $rate.perSecond) "burst" (int $rate.burst)) -}}
{{- end -}}
{{- $keyLimits := dict -}}
{{- range $class, $rate := .Values.config.gateway.apiKeyRateLimits -}}
{{- $_ := set $keyLimits $class (dict "per_second" (float64 $rate.perSecond) "burst" (int $rate.burst)) -}}
{{- end -}}
{{- $cfg := dict
      "shutdown_grace_seconds" (int .Values.config.shutdownGraceSeconds)
      "telemetry" $telemetry
      "auth" $auth
      "outbox" $outbox
      "contacts" $contacts
      "deals" $deals
      "gateway" (dict "rate_limits" $limits "api_key_rate_limits" $keyLimits "audit" (dict "retention_days" (int .Values.config.gateway.audit.retentionDays))) -}}
{{- if eq .Values.mode "distributed" -}}
{{- $_ := set $cfg "listen_addr" (printf "0.0.0.0:%d" (int .Values.ports.grpc)) -}}
{{- $_ := set $cfg "metrics_addr" (printf "0.0.0.0:%d" (int .Values.ports.metrics)) -}}
{{- $_ := set $cfg "http_addr" (printf "0.0.0.0:%d" (int .Values.ports.http)) -}}
{{- $protocol := include "rapport.kafkaSecurityProtocol" . -}}
{{- $saslMechanism := "" -}}
{{- $saslUser := "" -}}
{{- if .Values.kafka.strimzi.enabled -}}
{{- if eq .Values.kafka.strimzi.authentication "scram-sha-512" -}}
{{- $saslMechanism = "SCRAM-SHA-512" -}}
{{- $saslUser = include "rapport.kafkaUserName" . -}}
{{- end -}}
{{- else if hasPrefix "sasl_" $protocol -}}
{{- $saslMechanism = .Values.kafka.sasl.mechanism -}}
{{- $saslUser = .Values.kafka.sasl.username -}}
{{- end -}}
{{- $ca := "" -}}
{{- if include "rapport.kafkaCaSecret" . -}}
{{- $ca = "/etc/rapport/kafka-ca/ca.crt" -}}
{{- end -}}
{{- $topics := dict
      "partitions" (int .Values.kafka.topics.partitions)
      "replication_factor" (int .Values.kafka.topics.replicationFactor)
      "retention_ms" (int64 .Values.kafka.topics.retentionMs) -}}
{{- $_ := set $cfg "kafka" (dict
      "bootstrap_servers" (include "rapport.kafkaBootstrap" .)
      "security_protocol" $protocol
      "sasl_mechanism" ($saslMechanism | default nil)
      "sasl_username" ($saslUser | default nil)
      "sasl_password" nil
      "ssl_ca_location" ($ca | default nil)
      "accept_unsigned_events" .Values.kafka.acceptUnsignedEvents
      "topics" $topics) -}}
{{- $scyllaUser := "" -}}
{{- if and .Values.scylla.auth.username (not .Values.scylla.auth.usernameKey) -}}
{{- $scyllaUser = .Values.scylla.auth.username -}}
{{- end -}}
{{- $scylla := dict
      "nodes" (include "rapport.scyllaNodes" .)
      "keyspace_prefix" .Values.scylla.keyspacePrefix
      "replication_factor" (int .Values.scylla.replicationFactor)
      "local_dc" ((include "rapport.scyllaLocalDc" .) | default nil)
      "consistency" .Values.scylla.consistency
      "username" ($scyllaUser | default nil)
      "password" nil -}}
{{- $_ := set $cfg "store" (dict "backend" "scylla" "scylla" $scylla) -}}
{{- $peers := dict -}}
{{- range $svc := list "contacts" "deals" "tasks" "comms" "analytics" -}}
{{- $_ := set $peers $svc (printf "http://%s-%s:%d" $fullname $svc (int $ctx.Values.ports.grpc)) -}}
{{- end -}}
{{- $_ := set $cfg "peers" $peers -}}
{{- end -}}
{{- toYaml $cfg -}}
{{- end -}}

{{/* ---------------------------------------------------------------- pod pieces */}}

{{/* The Secret with the key the services share to seal principals (distributed mode). */}}
{{- define "rapport.principalKeySecret" -}}
{{- .Values.config.auth.principalKey.existingSecret | default (printf "%s-principal-key" (include "rapport.fullname" .)) -}}
{{- end -}}

{{/* Environment shared by every container: config path, pod identity, secrets.
     Takes (dict "ctx" $ "component" name): a service of the distributed mode
     with Strimzi SCRAM signs in to Kafka as its own KafkaUser ("" = the shared
     user: the migration job, the monolith). */}}
{{- define "rapport.commonEnv" -}}
{{- $component := .component -}}
{{- with .ctx -}}
- name: RAPPORT_CONFIG
  value: /etc/rapport/config.yaml
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
{{- if eq .Values.mode "distributed" }}
{{- $kafkaPw := include "rapport.kafkaPasswordSecret" . }}
{{- if and $component (include "rapport.kafkaUserPerService" .) }}
{{- $user := printf "%s-%s" (include "rapport.kafkaUserName" .) $component }}
- name: RAPPORT_KAFKA__SASL_USERNAME
  value: {{ $user | quote }}
- name: RAPPORT_KAFKA__SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $user }}
      key: password
{{- else if $kafkaPw }}
- name: RAPPORT_KAFKA__SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ dir $kafkaPw }}
      key: {{ base $kafkaPw }}
{{- end }}
{{- if .Values.scylla.auth.existingSecret }}
{{- if .Values.scylla.auth.usernameKey }}
- name: RAPPORT_STORE__SCYLLA__USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ .Values.scylla.auth.existingSecret }}
      key: {{ .Values.scylla.auth.usernameKey }}
{{- end }}
- name: RAPPORT_STORE__SCYLLA__PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.scylla.auth.existingSecret }}
      key: {{ .Values.scylla.auth.passwordKey }}
{{- end }}
{{- end }}
{{- end -}}
{{- end -}}

{{/* Volumes shared by every pod: config, /tmp, Kafka CA. */}}
{{- define "rapport.commonVolumes" -}}
- name: config
  configMap:
    name: {{ include "rapport.fullname" . }}-config
- name: tmp
  emptyDir:
    sizeLimit: 256Mi
{{- $ca := include "rapport.kafkaCaSecret" . }}
{{- if and $ca (eq .Values.mode "distributed") }}
- name: kafka-ca
  secret:
    secretName: {{ dir $ca }}
    items:
      - key: {{ base $ca }}
        path: ca.crt
{{- end }}
{{- end -}}

{{- define "rapport.commonVolumeMounts" -}}
- name: config
  mountPath: /etc/rapport/config.yaml
  subPath: config.yaml
  readOnly: true
- name: tmp
  mountPath: /tmp
{{- if and (include "rapport.kafkaCaSecret" .) (eq .Values.mode "distributed") }}
- name: kafka-ca
  mountPath: /etc/rapport/kafka-ca
  readOnly: true
{{- end }}
{{- end -}}

{{/* topologySpreadConstraints across zones and nodes for one component. */}}
{{- define "rapport.topologySpread" -}}
{{- $s := .ctx.Values.scheduling.topologySpread -}}
{{- if $s.enabled }}
topologySpreadConstraints:
  - maxSkew: {{ $s.maxSkew }}
    topologyKey: topology.kubernetes.io/zone
    whenUnsatisfiable: {{ $s.zoneWhenUnsatisfiable }}
    labelSelector:
      matchLabels:
        {{- include "rapport.selectorLabels" . | nindent 8 }}
    matchLabelKeys:
      - pod-template-hash
  - maxSkew: {{ $s.maxSkew }}
    topologyKey: kubernetes.io/hostname
    whenUnsatisfiable: {{ $s.nodeWhenUnsatisfiable }}
    labelSelector:
      matchLabels:
        {{- include "rapport.selectorLabels" . | nindent 8 }}
    matchLabelKeys:
      - pod-template-hash
{{- end }}
{{- end -}}

{{/* nodeSelector / tolerations / affinity / priorityClass: per component, else global. */}}
{{- define "rapport.scheduling" -}}
{{- $g := .ctx.Values.scheduling -}}
{{- with (default $g.nodeSelector .own.nodeSelector) }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with (default $g.tolerations .own.tolerations) }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with (default $g.affinity .own.affinity) }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $g.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- end -}}

{{- define "rapport.podAnnotations" -}}
checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
{{- with .Values.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* A NetworkPolicy egress rule: include "rapport.egressRule" (dict "to" $peers "ports" $ports "udp" false) */}}
{{- define "rapport.egressRule" -}}
- ports:
    {{- range .ports }}
    - protocol: TCP
      port: {{ . }}
    {{- if $.udp }}
    - protocol: UDP
      port: {{ . }}
    {{- end }}
    {{- end }}
  {{- with .to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}

{{- define "rapport.kafkaPeers" -}}
{{- if .Values.kafka.strimzi.enabled -}}
- podSelector:
    matchLabels:
      strimzi.io/cluster: {{ include "rapport.kafkaClusterName" . }}
      strimzi.io/kind: Kafka
{{- else -}}
{{- with .Values.networkPolicy.kafka.to }}{{ toYaml . }}{{ end -}}
{{- end -}}
{{- end -}}

{{- define "rapport.scyllaPeers" -}}
{{- if .Values.scylla.operator.enabled -}}
- podSelector:
    matchLabels:
      scylla/cluster: {{ include "rapport.scyllaClusterName" . }}
{{- else -}}
{{- with .Values.networkPolicy.scylla.to }}{{ toYaml . }}{{ end -}}
{{- end -}}
{{- end -}}

{{/* Egress rules for DNS, OTLP, Kafka, ScyllaDB (flags select which). */}}
{{- define "rapport.dataEgress" -}}
{{- $np := .ctx.Values.networkPolicy -}}
{{ include "rapport.egressRule" (dict "to" $np.dns.to "ports" $np.dns.ports "udp" true) }}
{{- if and .idp .ctx.Values.config.auth.oidcIssuer }}
{{ include "rapport.egressRule" (dict "to" $np.identityProvider.to "ports" $np.identityProvider.ports "udp" false) }}
{{- end }}
{{- if .ctx.Values.telemetry.otlpEndpoint }}
{{ include "rapport.egressRule" (dict "to" $np.otlp.to "ports" $np.otlp.ports "udp" false) }}
{{- end }}
{{- if .kafka }}
{{ include "rapport.egressRule" (dict "to" (include "rapport.kafkaPeers" .ctx | fromYamlArray) "ports" $np.kafka.ports "udp" false) }}
{{- end }}
{{- if .scylla }}
{{ include "rapport.egressRule" (dict "to" (include "rapport.scyllaPeers" .ctx | fromYamlArray) "ports" $np.scylla.ports "udp" false) }}
{{- end }}
{{- with $np.extraEgress }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Fail early on combinations that cannot work, with a message that says what to change. */}}
{{- define "rapport.validate" -}}
{{- if and .Values.config.auth.oidcIssuer (not .Values.config.auth.oidcAudience) -}}
{{- fail "config.auth.oidcIssuer needs config.auth.oidcAudience: the audience Rapport's tokens name" -}}
{{- end -}}
{{- if and (ne .Values.mode "monolithic") .Values.config.auth.oidcIssuer .Values.config.auth.devTokenKey.existingSecret -}}
{{- fail "config.auth.devTokenKey is for monolithic mode and test clusters: with config.auth.oidcIssuer set, a distributed gateway signs people in through the provider only (unset devTokenKey.existingSecret)" -}}
{{- end -}}
{{- if and .Values.config.auth.oidcClientSecret.existingSecret (not .Values.config.auth.oidcClientId) -}}
{{- fail "config.auth.oidcClientSecret needs config.auth.oidcClientId" -}}
{{- end -}}
{{- if eq .Values.mode "monolithic" -}}
{{- if or .Values.kafka.strimzi.enabled .Values.scylla.operator.enabled -}}
{{- fail "mode=monolithic embeds its own broker and store: set kafka.strimzi.enabled=false and scylla.operator.enabled=false" -}}
{{- end -}}
{{- else -}}
{{- if and (not .Values.kafka.strimzi.enabled) (hasPrefix "sasl_" .Values.kafka.securityProtocol) -}}
{{- if not .Values.kafka.sasl.mechanism -}}
{{- fail (printf "kafka.securityProtocol=%s needs kafka.sasl.mechanism (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)" .Values.kafka.securityProtocol) -}}
{{- end -}}
{{- if not .Values.kafka.sasl.existingSecret -}}
{{- fail (printf "kafka.securityProtocol=%s needs kafka.sasl.existingSecret: the name of an existing Secret holding the SASL password (credentials are never taken inline)" .Values.kafka.securityProtocol) -}}
{{- end -}}
{{- end -}}
{{- if and .Values.kafka.strimzi.enabled (gt (int .Values.kafka.topics.replicationFactor) (int .Values.kafka.strimzi.replicas)) -}}
{{- fail (printf "kafka.topics.replicationFactor (%d) cannot exceed kafka.strimzi.replicas (%d)" (int .Values.kafka.topics.replicationFactor) (int .Values.kafka.strimzi.replicas)) -}}
{{- end -}}
{{- if and .Values.scylla.auth.usernameKey (not .Values.scylla.auth.existingSecret) -}}
{{- fail "scylla.auth.usernameKey needs scylla.auth.existingSecret" -}}
{{- end -}}
{{- end -}}
{{- end -}}
