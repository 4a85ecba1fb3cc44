#!/usr/bin/env python3
"""Validate the Rapport Helm chart and the kustomize overlays without a cluster.

Run through scripts/k8s/validate.sh, which prepares the virtual environment. What it does:

1. lints helm/rapport in strict mode (the real Helm 4 engine from helm-python-sdk) with the
   default values and with every values file in helm/rapport/ci/;
2. renders the chart with each of those values sets, as an install and as an upgrade;
3. validates every rendered object, and every object of `kubectl kustomize k8s/overlays/*`,
   against the Kubernetes 1.33 schemas (kubernetes-validate, strict: unknown fields fail);
   custom resources (Strimzi, Scylla Operator, Prometheus Operator) are checked for
   apiVersion, kind and metadata.name only;
4. asserts what a reviewer would check: probes, resources, securityContext, PDB,
   NetworkPolicy (callers only), topology spread, graceful termination, RBAC for leases,
   no literal credentials, a migration hook Job identical on install and upgrade, and
   deterministic rendering;
5. checks that values.schema.json accepts the good values files and rejects every
   scripts/k8s/testdata/bad-values-*.yaml file with the expected message.

It prints one line per check and closes with "N passed, N failed"; the exit status is 1 when
anything failed.
"""

from __future__ import annotations

import argparse
import copy
import functools
import glob
import os
import re
import shutil
import subprocess
import sys
import time
from typing import Any, Callable, Iterable

import yaml

sys.dont_write_bytecode = True  # never leave __pycache__ in the work tree

try:
    import helm_python as helm
    import kubernetes_validate
    import kubernetes_validate.utils as kv_utils
except ImportError as exc:  # pragma: no cover - only without the venv
    sys.exit(f"check_chart.py: {exc}; run it through scripts/k8s/validate.sh")

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CHART = os.path.join(ROOT, "helm", "rapport")
CI_DIR = os.path.join(CHART, "ci")
TESTDATA = os.path.join(ROOT, "scripts", "k8s", "testdata")
OVERLAYS = os.path.join(ROOT, "k8s", "overlays")
KUBE_VERSION = "1.33.0"
RELEASE = "rapport"
NAMESPACE = "rapport"

SERVICES = ["contacts", "deals", "tasks", "comms", "analytics", "gateway"]
# Who may call each service over gRPC (the NetworkPolicy must allow exactly these).
CALLERS = {
    "contacts": {"gateway", "comms"},
    # contacts gathers a person's data from these for data-protection export
    "deals": {"gateway", "contacts"},
    "tasks": {"gateway", "contacts"},
    "comms": {"gateway", "contacts"},
    "analytics": {"gateway"},
}
# Custom resources: no Kubernetes schema, so only apiVersion/kind/metadata.name are checked.
CUSTOM_KINDS = {
    ("kafka.strimzi.io", "Kafka"),
    ("kafka.strimzi.io", "KafkaNodePool"),
    ("kafka.strimzi.io", "KafkaTopic"),
    ("kafka.strimzi.io", "KafkaUser"),
    ("scylla.scylladb.com", "ScyllaCluster"),
    ("monitoring.coreos.com", "ServiceMonitor"),
    ("monitoring.coreos.com", "PrometheusRule"),
}
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
CREDENTIAL_NAME = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|CREDENTIAL|API_?KEY|PRIVATE_?KEY)", re.I)


# --------------------------------------------------------------------------- reporting


class Report:
    def __init__(self, verbose: bool) -> None:
        self.passed = 0
        self.failed: list[str] = []
        self.verbose = verbose

    def check(self, name: str, problems: Iterable[str] | str | None) -> bool:
        """Record one named check; `problems` empty/None means it passed."""
        if isinstance(problems, str):
            problems = [problems]
        problems = [p for p in (problems or []) if p]
        if problems:
            self.failed.append(name)
            print(f"FAIL {name}")
            for p in problems[:40]:
                print(f"     - {p}")
            if len(problems) > 40:
                print(f"     - ... and {len(problems) - 40} more")
            return False
        self.passed += 1
        if self.verbose:
            print(f"ok   {name}")
        return True

    def run(self, name: str, fn: Callable[[], Iterable[str] | str | None]) -> Any:
        try:
            return self.check(name, fn())
        except Exception as exc:  # a crash in a check is a failure of that check
            return self.check(name, [f"{type(exc).__name__}: {exc}"])


# --------------------------------------------------------------------------- helpers


def load_yaml_file(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        data = yaml.safe_load(f)
    return data or {}


def parse_manifests(text: str, source: str) -> list[dict[str, Any]]:
    docs = []
    for doc in yaml.safe_load_all(text):
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise ValueError(f"{source}: a YAML document is not a mapping: {doc!r:.80}")
        docs.append(doc)
    return docs


def ident(obj: dict[str, Any]) -> str:
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"


def by_kind(objs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objs if o.get("kind") == kind]


def selector_matches(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """Kubernetes LabelSelector semantics (an empty selector selects everything)."""
    if selector is None:
        return False
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def pod_template(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("spec", {}).get("template", {})


def component_of(obj: dict[str, Any]) -> str:
    labels = pod_template(obj).get("metadata", {}).get("labels", {}) or obj.get("metadata", {}).get("labels", {})
    return labels.get("app.kubernetes.io/component", "")


def port_numbers(container: dict[str, Any]) -> dict[str, int]:
    return {p.get("name"): p.get("containerPort") for p in container.get("ports") or []}


def resolve_port(port: Any, container: dict[str, Any]) -> Any:
    if isinstance(port, str):
        return port_numbers(container).get(port, port)
    return port


def rapport_config(objs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The Rapport config file carried by the release's ConfigMap (not the hook's copy)."""
    for cm in by_kind(objs, "ConfigMap"):
        if "helm.sh/hook" in (cm["metadata"].get("annotations") or {}):
            continue
        data = cm.get("data") or {}
        if "config.yaml" in data:
            return yaml.safe_load(data["config.yaml"]) or {}
    return None


# --------------------------------------------------------------------------- schema validation


def install_schema_cache() -> None:
    """kubernetes-validate re-reads its ~1.5 MB definitions file on every call; cache it."""
    original = kv_utils.schema_contents
    cached = functools.lru_cache(maxsize=None)(original)
    kv_utils.schema_contents = cached


def validate_objects(objs: list[dict[str, Any]]) -> list[str]:
    problems = []
    for obj in objs:
        for field in ("apiVersion", "kind"):
            if not isinstance(obj.get(field), str) or not obj.get(field):
                problems.append(f"{ident(obj)}: missing {field}")
        name = (obj.get("metadata") or {}).get("name")
        if not isinstance(name, str) or not name or len(name) > 253 or not DNS_SUBDOMAIN.match(name):
            problems.append(f"{ident(obj)}: metadata.name {name!r} is not a valid DNS subdomain name")
        if problems and problems[-1].startswith(ident(obj)):
            continue
        group = obj["apiVersion"].split("/")[0] if "/" in obj["apiVersion"] else ""
        if (group, obj["kind"]) in CUSTOM_KINDS:
            continue  # custom resource: apiVersion/kind/name checked above
        try:
            kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
        except kv_utils.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            problems.append(f"{ident(obj)}: {path}: {exc.message}")
        except kv_utils.SchemaNotFoundError:
            problems.append(f"{ident(obj)}: no Kubernetes {KUBE_VERSION} schema for {obj['apiVersion']} {obj['kind']}"
                            " (and it is not a known custom resource)")
    return problems


# --------------------------------------------------------------------------- property checks


def check_pod_security(owner: str, spec: dict[str, Any]) -> list[str]:
    problems = []
    psc = spec.get("securityContext") or {}
    if psc.get("runAsNonRoot") is not True:
        problems.append(f"{owner}: pod securityContext.runAsNonRoot is not true")
    if (psc.get("runAsUser") or 65532) == 0:
        problems.append(f"{owner}: pod runs as uid 0")
    containers = (spec.get("containers") or []) + (spec.get("initContainers") or [])
    if not containers:
        problems.append(f"{owner}: no containers")
    for c in containers:
        where = f"{owner} container {c.get('name')}"
        csc = c.get("securityContext") or {}
        if csc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{where}: readOnlyRootFilesystem is not true")
        if csc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{where}: allowPrivilegeEscalation is not false")
        if csc.get("privileged") is True:
            problems.append(f"{where}: privileged")
        if "ALL" not in ((csc.get("capabilities") or {}).get("drop") or []):
            problems.append(f"{where}: capabilities.drop does not contain ALL")
        if (csc.get("capabilities") or {}).get("add"):
            problems.append(f"{where}: adds capabilities {csc['capabilities']['add']}")
        if csc.get("runAsNonRoot", psc.get("runAsNonRoot")) is not True:
            problems.append(f"{where}: runAsNonRoot is not true")
        seccomp = (csc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
        if seccomp != "RuntimeDefault":
            problems.append(f"{where}: seccompProfile is {seccomp!r}, want RuntimeDefault")
        res = c.get("resources") or {}
        for kind in ("requests", "limits"):
            for r in ("cpu", "memory"):
                if r not in (res.get(kind) or {}):
                    problems.append(f"{where}: resources.{kind}.{r} missing")
    return problems


def check_workloads(objs: list[dict[str, Any]], mode: str, config: dict[str, Any] | None,
                    expect: dict[str, bool] | None = None) -> dict[str, list[str]]:
    """All checks on Deployments / StatefulSets / Jobs; returns {check name: problems}.

    `expect` says which optional features are switched on (networkPolicy, pdb, spread); a
    switched-off feature must then be absent instead of present. Default: all on.
    """
    expect = {"networkPolicy": True, "pdb": True, "spread": True, **(expect or {})}
    out: dict[str, list[str]] = {}
    deployments = by_kind(objs, "Deployment")
    statefulsets = by_kind(objs, "StatefulSet")
    jobs = by_kind(objs, "Job")
    pdbs = by_kind(objs, "PodDisruptionBudget")
    netpols = [n for n in by_kind(objs, "NetworkPolicy")
               if "helm.sh/hook" not in (n["metadata"].get("annotations") or {})]
    services = by_kind(objs, "Service")
    hpas = by_kind(objs, "HorizontalPodAutoscaler")
    grace = int((config or {}).get("shutdown_grace_seconds", 20))
    np_enabled = expect["networkPolicy"]

    # -- mode shape
    shape = []
    if mode == "distributed":
        targets = []
        for d in deployments:
            args = pod_template(d)["spec"]["containers"][0].get("args") or []
            if len(args) < 2 or args[0] != "serve":
                shape.append(f"{ident(d)}: args {args} do not start with 'serve <target>'")
            else:
                targets.append(args[1])
        if sorted(targets) != sorted(SERVICES):
            shape.append(f"serve targets are {sorted(targets)}, want one Deployment per service {sorted(SERVICES)}")
        images = {c["image"] for d in deployments for c in pod_template(d)["spec"]["containers"]}
        if len(images) != 1:
            shape.append(f"services must share one image, found {sorted(images)}")
        if statefulsets:
            shape.append("distributed mode renders a StatefulSet")
    else:
        if deployments:
            shape.append(f"monolithic mode renders Deployments: {[ident(d) for d in deployments]}")
        if len(statefulsets) != 1:
            shape.append(f"monolithic mode needs exactly one StatefulSet, found {len(statefulsets)}")
        for s in statefulsets:
            args = pod_template(s)["spec"]["containers"][0].get("args") or []
            if not args or args[0] != "run" or "--data-dir" not in args or "--kafka-addr" not in args:
                shape.append(f"{ident(s)}: args {args} are not 'run --data-dir ... --http-addr ... --kafka-addr ...'")
            # The embedded broker has no authorisation: only the partner
            # listener (read-only, ADR 0119) may be reachable from the pod network.
            elif not args[args.index("--kafka-addr") + 1].startswith("127.0.0.1:"):
                shape.append(f"{ident(s)}: the embedded broker must listen on loopback, not {args[args.index('--kafka-addr') + 1]}")
            elif "--partner-kafka-addr" not in args:
                shape.append(f"{ident(s)}: no --partner-kafka-addr for partner consumers")
            if s["spec"].get("replicas", 1) != 1:
                shape.append(f"{ident(s)}: the monolith must run exactly one replica")
            if not s["spec"].get("volumeClaimTemplates"):
                shape.append(f"{ident(s)}: no volumeClaimTemplates (PVC for the data directory)")
            mounts = {m["mountPath"] for m in pod_template(s)["spec"]["containers"][0].get("volumeMounts") or []}
            if "/data" not in mounts:
                shape.append(f"{ident(s)}: the data volume is not mounted at /data")
        if jobs:
            shape.append("monolithic mode renders a migration Job (the monolith migrates itself)")
        for kind in ("Kafka", "ScyllaCluster"):
            if by_kind(objs, kind):
                shape.append(f"monolithic mode renders a {kind}")
    out["workload shape"] = shape

    # -- per pod template checks
    probes, security, pdb_p, np_p, spread, term, svc_p, hpa_p = [], [], [], [], [], [], [], []
    for w in deployments + statefulsets:
        spec = pod_template(w)["spec"]
        labels = pod_template(w)["metadata"].get("labels") or {}
        comp = component_of(w)
        security += check_pod_security(ident(w), spec)
        if not selector_matches(w["spec"].get("selector"), labels):
            security.append(f"{ident(w)}: spec.selector does not match the pod template labels")
        for c in spec["containers"]:
            for probe in ("livenessProbe", "readinessProbe"):
                p = c.get(probe)
                if not p:
                    probes.append(f"{ident(w)} container {c['name']}: no {probe}")
                    continue
                if comp in ("gateway", "monolith"):
                    want = "/healthz" if probe == "livenessProbe" else "/readyz"
                    got = (p.get("httpGet") or {}).get("path")
                    if got != want:
                        probes.append(f"{ident(w)}: {probe} should be HTTP GET {want}, is {p}")
                else:
                    grpc_port = port_numbers(c).get("grpc")
                    if "grpc" not in p or p["grpc"].get("port") != grpc_port:
                        probes.append(f"{ident(w)}: {probe} should be a native gRPC probe on port {grpc_port}, is {p}")
        # graceful termination
        tgps = spec.get("terminationGracePeriodSeconds")
        pre_stop = sum(((c.get("lifecycle") or {}).get("preStop") or {}).get("sleep", {}).get("seconds", 0)
                       for c in spec["containers"])
        if not isinstance(tgps, int) or tgps <= grace + pre_stop:
            term.append(f"{ident(w)}: terminationGracePeriodSeconds={tgps} must exceed preStop sleep ({pre_stop}s)"
                        f" + shutdown_grace_seconds ({grace}s)")
        elif tgps > grace + pre_stop + 60:
            term.append(f"{ident(w)}: terminationGracePeriodSeconds={tgps} is far above the drain time {grace}s")
        # a Service selects it
        if not any(selector_matches({"matchLabels": s["spec"].get("selector") or {}}, labels)
                   for s in services if s["spec"].get("selector")):
            svc_p.append(f"{ident(w)}: no Service selects its pods")
        if w["kind"] != "Deployment":
            if np_enabled and not any(selector_matches(n["spec"].get("podSelector"), labels) for n in netpols):
                np_p.append(f"{ident(w)}: no NetworkPolicy selects it")
            continue
        # PDB
        matching = [p for p in pdbs if selector_matches(p["spec"].get("selector"), labels)]
        if not matching and expect["pdb"]:
            pdb_p.append(f"{ident(w)}: no PodDisruptionBudget selects its pods")
        if matching and not expect["pdb"]:
            pdb_p.append(f"{ident(w)}: PDB rendered although switched off")
        for p in matching:
            if not ("minAvailable" in p["spec"]) ^ ("maxUnavailable" in p["spec"]):
                pdb_p.append(f"{ident(p)}: needs exactly one of minAvailable / maxUnavailable")
        # topology spread across zones and nodes
        keys = {t.get("topologyKey") for t in spec.get("topologySpreadConstraints") or []
                if selector_matches(t.get("labelSelector"), labels)}
        if expect["spread"] and not {"topology.kubernetes.io/zone", "kubernetes.io/hostname"} <= keys:
            spread.append(f"{ident(w)}: topologySpreadConstraints over zone and hostname missing (has {sorted(keys)})")
        if not expect["spread"] and keys:
            spread.append(f"{ident(w)}: topology spread rendered although switched off")
        # NetworkPolicy
        selecting = [n for n in netpols if selector_matches(n["spec"].get("podSelector"), labels)]
        if not selecting and np_enabled:
            np_p.append(f"{ident(w)}: no NetworkPolicy selects its pods")
        if selecting and not np_enabled:
            np_p.append(f"{ident(w)}: NetworkPolicy rendered although switched off")
        for n in selecting:
            types = set(n["spec"].get("policyTypes") or [])
            if types != {"Ingress", "Egress"}:
                np_p.append(f"{ident(n)}: policyTypes {sorted(types)}, want Ingress and Egress")
            np_p += check_netpol_rules(n, comp, w, deployments)
        # HPA
        hpa = [h for h in hpas if h["spec"]["scaleTargetRef"]["name"] == w["metadata"]["name"]]
        if hpa:
            if "replicas" in w["spec"]:
                hpa_p.append(f"{ident(w)}: sets spec.replicas although an HPA manages it")
            for h in hpa:
                if h["apiVersion"] != "autoscaling/v2":
                    hpa_p.append(f"{ident(h)}: apiVersion {h['apiVersion']}, want autoscaling/v2")
                names = {m["resource"]["name"] for m in h["spec"].get("metrics") or [] if m.get("type") == "Resource"}
                if not names & {"cpu", "memory"}:
                    hpa_p.append(f"{ident(h)}: no CPU or memory target")
    for h in hpas:
        if not any(d["metadata"]["name"] == h["spec"]["scaleTargetRef"]["name"] for d in deployments):
            hpa_p.append(f"{ident(h)}: scaleTargetRef {h['spec']['scaleTargetRef']['name']} is not a Deployment here")
    for j in jobs:
        security += check_pod_security(ident(j), pod_template(j)["spec"])
    out["probes (gRPC for services, HTTP /healthz /readyz for the gateway)"] = probes
    out["securityContext and resources of every pod"] = security
    out["graceful termination matches shutdown_grace_seconds"] = term
    out["a Service for every workload"] = svc_p
    if mode == "distributed":
        out["a PodDisruptionBudget for every Deployment"] = pdb_p
        out["topology spread across zones and nodes"] = spread
        out["HorizontalPodAutoscalers"] = hpa_p
    out["NetworkPolicies: every workload selected, callers only" if np_enabled
        else "NetworkPolicies: none when switched off"] = np_p
    return out


def check_netpol_rules(n: dict[str, Any], comp: str, w: dict[str, Any], deployments: list[dict[str, Any]]) -> list[str]:
    problems = []
    container = pod_template(w)["spec"]["containers"][0]
    ports = port_numbers(container)
    ingress = n["spec"].get("ingress") or []
    egress = n["spec"].get("egress") or []

    def rule_ports(rule: dict[str, Any]) -> set[Any]:
        return {resolve_port(p.get("port"), container) for p in rule.get("ports") or []}

    if comp == "gateway":
        if not any(ports.get("http") in rule_ports(r) for r in ingress):
            problems.append(f"{ident(n)}: the gateway's HTTP port is not reachable")
    else:
        for r in ingress:
            if not r.get("from"):
                problems.append(f"{ident(n)}: ingress rule {r} is open to everyone; only the gateway may be")
            if not r.get("ports"):
                problems.append(f"{ident(n)}: ingress rule without ports")
        grpc_from = set()
        for r in ingress:
            if ports.get("grpc") in rule_ports(r):
                for peer in r.get("from") or []:
                    if "podSelector" not in peer or "namespaceSelector" in peer or "ipBlock" in peer:
                        problems.append(f"{ident(n)}: gRPC ingress from {peer}, want only the callers' pods")
                        continue
                    callers = {component_of(d) for d in deployments
                               if selector_matches(peer["podSelector"], pod_template(d)["metadata"]["labels"])}
                    grpc_from |= callers
        want = CALLERS.get(comp, set())
        if grpc_from != want:
            problems.append(f"{ident(n)}: gRPC ingress allowed from {sorted(grpc_from)}, want exactly {sorted(want)}")
    if not any(53 in rule_ports(r) for r in egress):
        problems.append(f"{ident(n)}: no egress to DNS (port 53)")
    for r in egress:
        if not r.get("ports"):
            problems.append(f"{ident(n)}: egress rule without ports allows everything: {r}")
    return problems


def check_no_literal_credentials(objs: list[dict[str, Any]]) -> list[str]:
    problems = []
    for s in by_kind(objs, "Secret"):
        for field in ("data", "stringData"):
            for k, v in (s.get(field) or {}).items():
                if v not in (None, ""):
                    problems.append(f"{ident(s)}: {field}.{k} holds a literal value")
    for w in by_kind(objs, "Deployment") + by_kind(objs, "StatefulSet") + by_kind(objs, "Job"):
        spec = pod_template(w).get("spec", {})
        for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
            for e in c.get("env") or []:
                if CREDENTIAL_NAME.search(e["name"]) and not e["name"].endswith("_FILE") and "value" in e:
                    problems.append(f"{ident(w)} container {c['name']}: env {e['name']} is a literal, not a secretKeyRef")
                ref = (e.get("valueFrom") or {}).get("secretKeyRef")
                if CREDENTIAL_NAME.search(e["name"]) and not e["name"].endswith("_FILE") and not ref:
                    problems.append(f"{ident(w)}: env {e['name']} does not come from a Secret")
    for cm in by_kind(objs, "ConfigMap"):
        for key, text in (cm.get("data") or {}).items():
            if not key.endswith((".yaml", ".yml")):
                continue
            doc = yaml.safe_load(text) or {}
            for path, value in walk(doc):
                leaf = path.rsplit(".", 1)[-1]
                if re.search(r"password|secret|token$", leaf) and value not in (None, ""):
                    problems.append(f"{ident(cm)}: {key}: {path} holds a literal credential")
    return problems


def walk(node: Any, prefix: str = "") -> Iterable[tuple[str, Any]]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield from walk(v, f"{prefix}.{k}" if prefix else str(k))
    else:
        yield prefix, node


def check_config_file(objs: list[dict[str, Any]], mode: str) -> list[str]:
    """The rendered config must stay inside the binary's schema (it rejects unknown keys)."""
    allowed = {
        "listen_addr": None, "metrics_addr": None, "http_addr": None, "shutdown_grace_seconds": None,
        "kafka": {"bootstrap_servers", "security_protocol", "sasl_mechanism", "sasl_username", "sasl_password",
                  "ssl_ca_location", "topics", "accept_unsigned_events"},
        "store": {"backend", "sqlite", "scylla"},
        "telemetry": {"otlp_endpoint", "sampling_ratio", "log_level", "log_format"},
        "peers": {"contacts", "deals", "tasks", "comms", "analytics"},
        "auth": {"dev_token_key_file", "oidc_issuer", "oidc_audience", "oidc_claims", "oidc_leeway_seconds",
                 "oidc_client_id", "oidc_redirect_url", "session_ttl_hours"},
        "outbox": {"relay_enabled", "poll_interval_ms"},
        "contacts": {"default_phone_region", "max_running_imports_per_tenant", "abandoned_import_after_secs"},
        "deals": {"max_pipeline_stages"},
        "gateway": {"rate_limits", "api_key_rate_limits", "audit"},
    }
    problems = []
    for cm in by_kind(objs, "ConfigMap"):
        if "config.yaml" not in (cm.get("data") or {}):
            continue
        cfg = yaml.safe_load(cm["data"]["config.yaml"]) or {}
        for k, v in cfg.items():
            if k not in allowed:
                problems.append(f"{ident(cm)}: unknown config key {k}")
            elif isinstance(allowed[k], set) and isinstance(v, dict):
                extra = set(v) - allowed[k]
                if extra:
                    problems.append(f"{ident(cm)}: unknown keys under {k}: {sorted(extra)}")
        scylla = (cfg.get("store") or {}).get("scylla") or {}
        extra = set(scylla) - {"nodes", "keyspace_prefix", "replication_factor", "local_dc", "consistency",
                               "username", "password"}
        if extra:
            problems.append(f"{ident(cm)}: unknown keys under store.scylla: {sorted(extra)}")
        topics = (cfg.get("kafka") or {}).get("topics") or {}
        extra = set(topics) - {"partitions", "replication_factor", "retention_ms"}
        if extra:
            problems.append(f"{ident(cm)}: unknown keys under kafka.topics: {sorted(extra)}")
        if mode == "distributed":
            for k in ("kafka", "store", "peers"):
                if k not in cfg:
                    problems.append(f"{ident(cm)}: distributed config lacks {k}")
            peers = cfg.get("peers") or {}
            if sorted(peers) != sorted(CALLERS):
                problems.append(f"{ident(cm)}: peers {sorted(peers)}, want {sorted(CALLERS)}")
    return problems


# Components that hold coordination.k8s.io leases: the outbox relay of every
# producing service (the gateway's: API key audit entries) publishes only while
# it holds its lease, and the tasks
# scheduler fires once across replicas.
LEASE_HOLDERS = ("contacts", "comms", "deals", "tasks", "gateway")


def check_rbac(objs: list[dict[str, Any]]) -> list[str]:
    """The lease holders' ServiceAccounts may manage coordination.k8s.io leases, nothing more."""
    problems = []
    deployments = {component_of(d): d for d in by_kind(objs, "Deployment")}
    roles = {r["metadata"]["name"]: r for r in by_kind(objs, "Role")}
    needed = {"get", "create", "update"}
    for component in LEASE_HOLDERS:
        if component not in deployments:
            problems.append(f"no {component} Deployment")
            continue
        spec = pod_template(deployments[component])["spec"]
        sa = spec.get("serviceAccountName", "default")
        if spec.get("automountServiceAccountToken") is False:
            problems.append(f"{component}: automountServiceAccountToken is false, its lease cannot reach the API")
        granted: set[str] = set()
        for rb in by_kind(objs, "RoleBinding"):
            if not any(s.get("kind") == "ServiceAccount" and s.get("name") == sa for s in rb.get("subjects") or []):
                continue
            role = roles.get(rb["roleRef"]["name"])
            if not role:
                problems.append(f"{ident(rb)}: refers to a missing Role {rb['roleRef']['name']}")
                continue
            for rule in role.get("rules") or []:
                if "coordination.k8s.io" in rule.get("apiGroups", []) and "leases" in rule.get("resources", []):
                    granted |= set(rule.get("verbs") or [])
                else:
                    problems.append(f"{ident(role)}: grants more than leases: {rule}")
        if not needed <= granted:
            problems.append(f"{component} ServiceAccount {sa}: lease verbs {sorted(granted)}, need {sorted(needed)}")
    for component, d in deployments.items():
        if component not in LEASE_HOLDERS and pod_template(d)["spec"].get("automountServiceAccountToken") is not False:
            problems.append(f"{ident(d)}: mounts a service account token it does not need")
    sas = {s["metadata"]["name"] for s in by_kind(objs, "ServiceAccount")}
    for w in by_kind(objs, "Deployment") + by_kind(objs, "StatefulSet") + by_kind(objs, "Job"):
        name = pod_template(w)["spec"].get("serviceAccountName", "default")
        if name != "default" and name not in sas:
            problems.append(f"{ident(w)}: ServiceAccount {name} is not rendered")
    return problems


def hook_objects(objs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {ident(o): o for o in objs if "helm.sh/hook" in (o["metadata"].get("annotations") or {})}


def check_migration_hook(install: list[dict[str, Any]], upgrade: list[dict[str, Any]], values: dict[str, Any]) -> list[str]:
    problems = []
    jobs = [j for j in by_kind(install, "Job") if "helm.sh/hook" in (j["metadata"].get("annotations") or {})]
    if len(jobs) != 1:
        return [f"expected one hook Job running `rapport migrate`, found {len(jobs)}"]
    job = jobs[0]
    ann = job["metadata"]["annotations"]
    phases = set(ann["helm.sh/hook"].split(","))
    operators = (values.get("kafka", {}).get("strimzi", {}).get("enabled")
                 or values.get("scylla", {}).get("operator", {}).get("enabled"))
    want = {"post-install", "pre-upgrade"} if operators else {"pre-install", "pre-upgrade"}
    if phases != want:
        problems.append(f"{ident(job)}: hook phases {sorted(phases)}, want {sorted(want)}")
    if "before-hook-creation" not in ann.get("helm.sh/hook-delete-policy", ""):
        problems.append(f"{ident(job)}: hook-delete-policy lacks before-hook-creation (a rerun would clash)")
    args = pod_template(job)["spec"]["containers"][0].get("args") or []
    if not args or args[0] != "migrate":
        problems.append(f"{ident(job)}: args {args} do not run `rapport migrate`")
    if pod_template(job)["spec"].get("restartPolicy") not in ("Never", "OnFailure"):
        problems.append(f"{ident(job)}: restartPolicy must be Never or OnFailure")
    # Everything the hook needs must itself be a hook (or pre-exist): ServiceAccount, ConfigMap.
    hooks = hook_objects(install)
    spec = pod_template(job)["spec"]
    sa = spec.get("serviceAccountName", "default")
    if sa != "default" and f"ServiceAccount/{sa}" not in hooks:
        problems.append(f"{ident(job)}: ServiceAccount {sa} is not created as a hook before the Job")
    for v in spec.get("volumes") or []:
        cm = (v.get("configMap") or {}).get("name")
        if cm and f"ConfigMap/{cm}" not in hooks:
            problems.append(f"{ident(job)}: ConfigMap {cm} is not created as a hook before the Job")
    # Idempotent: identical on install and upgrade.
    up = hook_objects(upgrade)
    if set(hooks) != set(up):
        problems.append(f"hook objects differ between install {sorted(hooks)} and upgrade {sorted(up)}")
    for key in sorted(set(hooks) & set(up)):
        if hooks[key] != up[key]:
            problems.append(f"{key}: rendered differently on install and on upgrade: {diff(hooks[key], up[key])}")
    return problems


def diff(a: Any, b: Any, path: str = "") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if a.get(k) != b.get(k):
                return diff(a.get(k), b.get(k), f"{path}.{k}")
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return diff(x, y, f"{path}[{i}]")
    return f"{path or '.'}: {str(a)[:120]!r} != {str(b)[:120]!r}"


# --------------------------------------------------------------------------- chart


def render(chart: Any, values: dict[str, Any] | None, *, upgrade: bool) -> tuple[list[dict[str, Any]], str]:
    manifests = chart.render(
        copy.deepcopy(values) if values is not None else None,
        name=RELEASE,
        namespace=NAMESPACE,
        revision=2 if upgrade else 1,
        is_install=not upgrade,
        is_upgrade=upgrade,
    )
    objs: list[dict[str, Any]] = []
    notes = ""
    for path in sorted(manifests):
        if path.endswith("NOTES.txt"):
            notes = manifests[path]
            continue
        if not path.endswith((".yaml", ".yml")):
            continue
        objs += parse_manifests(manifests[path], path)
    return objs, notes


def check_chart(report: Report) -> None:
    chart = helm.Chart.load(CHART)
    report.check("Chart.yaml: apiVersion v2", None if chart.metadata.get("apiVersion") == "v2"
                 else f"apiVersion is {chart.metadata.get('apiVersion')}")
    report.check("values.schema.json is draft-07 and closed at the top level",
                 schema_problems(chart.schema))

    report.run("helm/rapport/README.md documents every value", lambda: check_readme(chart.values))

    scenarios: list[tuple[str, dict[str, Any] | None]] = [("default values", None)]
    ci_files = sorted(glob.glob(os.path.join(CI_DIR, "*.yaml")))
    needed = {"distributed-external.yaml", "distributed-operators.yaml", "monolithic.yaml"}
    missing = needed - {os.path.basename(f) for f in ci_files}
    report.check("helm/rapport/ci has the three required values files", [f"missing ci/{m}" for m in sorted(missing)])
    for f in ci_files:
        scenarios.append((f"ci/{os.path.basename(f)}", load_yaml_file(f)))

    for label, values in scenarios:
        report.run(f"[{label}] values match values.schema.json", lambda: chart.validate_schema(values))
        report.run(f"[{label}] helm lint --strict (Kubernetes {KUBE_VERSION})", lambda: lint(values))
        try:
            install, notes = render(chart, values, upgrade=False)
            upgrade, _ = render(chart, values, upgrade=True)
            again, _ = render(chart, values, upgrade=False)
        except helm.HelmError as exc:
            report.check(f"[{label}] render", [f"{type(exc).__name__}: {exc}"])
            continue
        report.check(f"[{label}] render ({len(install)} objects)", None if install else "nothing rendered")
        report.check(f"[{label}] rendering is deterministic (no random or time-based values)",
                     None if install == again else diff(install, again))
        report.check(f"[{label}] NOTES.txt explains how to reach the UI and check health",
                     None if all(w in notes for w in ("healthz", "readyz", "http")) else
                     "NOTES.txt lacks access or health instructions")
        report.run(f"[{label}] every object validates against Kubernetes {KUBE_VERSION}",
                   lambda: validate_objects(install))
        dupes = duplicates(install)
        report.check(f"[{label}] object names are unique", dupes)
        merged = chart.merge_values(copy.deepcopy(values))
        mode = merged["mode"]
        config = rapport_config(install)
        expect = {
            "networkPolicy": merged["networkPolicy"]["enabled"],
            "pdb": all(merged["services"][s]["pdb"]["enabled"] for s in SERVICES),
            "spread": merged["scheduling"]["topologySpread"]["enabled"],
        }
        for name, problems in check_workloads(install, mode, config, expect).items():
            report.check(f"[{label}] {name}", problems)
        report.run(f"[{label}] no literal credentials (Secrets, env, config file)",
                   lambda: check_no_literal_credentials(install))
        report.run(f"[{label}] config file stays within the binary's schema", lambda: check_config_file(install, mode))
        if mode == "distributed":
            if merged["rbac"]["create"] and merged["serviceAccount"]["create"]:
                report.run(f"[{label}] lease RBAC for the lease holders only", lambda: check_rbac(install))
            if merged["migrations"]["enabled"]:
                report.run(f"[{label}] migration hook Job: identical on install and upgrade",
                           lambda: check_migration_hook(install, upgrade, merged))
            report.run(f"[{label}] custom resources only when asked for", lambda: check_custom(install, merged))
        if merged["ingress"]["enabled"]:
            report.run(f"[{label}] Ingress routes to the gateway", lambda: check_ingress(install, merged))
        if merged["metrics"]["serviceMonitor"]["enabled"]:
            report.check(f"[{label}] ServiceMonitors rendered",
                         None if by_kind(install, "ServiceMonitor") else "serviceMonitor.enabled but none rendered")

    # Defaults must not create any Secret at all.
    default_objs, _ = render(chart, None, upgrade=False)
    report.check("default values create no Secret", [ident(s) for s in by_kind(default_objs, "Secret")])

    check_bad_values(report, chart)
    check_refused_combinations(report, chart)


def check_readme(defaults: dict[str, Any]) -> list[str]:
    """Every value of values.yaml is documented in helm/rapport/README.md."""
    with open(os.path.join(CHART, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    opaque = ("resources", "podSecurityContext", "containerSecurityContext", "strimzi.config", "labels",
              "annotations", "nodeSelector", "affinity", "commonLabels", "podAnnotations", "podLabels")
    missing = []

    def walk(node: Any, path: str) -> None:
        key = path.rsplit(".", 1)[-1] if not path.endswith("strimzi.config") else "strimzi.config"
        generic = re.sub(r"^services\.[a-z]+", "services.<s>", path)
        if isinstance(node, dict) and node and key not in opaque and not path.startswith("probes."):
            for k, v in node.items():
                walk(v, f"{path}.{k}" if path else k)
            return
        if f"`{path}`" not in readme and f"`{generic}`" not in readme:
            missing.append(path)

    walk(defaults, "")
    return [f"values key {p} is not documented in helm/rapport/README.md" for p in missing]


def lint(values: dict[str, Any] | None) -> list[str]:
    result = helm.lint(CHART, copy.deepcopy(values), strict=True, namespace=NAMESPACE, kube_version=f"v{KUBE_VERSION}")
    problems = [f"{m.get('path')}: {m.get('error')}".strip() for m in result.get("messages") or []
                if int(m.get("severity", 0)) >= 2]
    problems += [e.strip() for e in result.get("errors") or []]
    return sorted(set(problems))


def schema_problems(schema: dict[str, Any] | None) -> list[str]:
    if not schema:
        return ["the chart has no values.schema.json"]
    problems = []
    if schema.get("$schema") != "http://json-schema.org/draft-07/schema#":
        problems.append(f"$schema is {schema.get('$schema')!r}")
    if schema.get("additionalProperties") is not False:
        problems.append("top-level additionalProperties is not false")
    defaults = helm.Chart.load(CHART).values
    missing = sorted(set(defaults) - set(schema.get("properties") or {}))
    if missing:
        problems.append(f"values.yaml keys without a schema entry: {missing}")
    return problems


def duplicates(objs: list[dict[str, Any]]) -> list[str]:
    seen: dict[str, int] = {}
    for o in objs:
        key = f"{o.get('apiVersion', '').split('/')[0]}/{ident(o)}"
        seen[key] = seen.get(key, 0) + 1
    return [f"{k} rendered {n} times" for k, n in seen.items() if n > 1]


def check_custom(objs: list[dict[str, Any]], merged: dict[str, Any]) -> list[str]:
    problems = []
    strimzi = merged["kafka"]["strimzi"]["enabled"]
    scylla = merged["scylla"]["operator"]["enabled"]
    for kind in ("Kafka", "KafkaNodePool", "KafkaTopic"):
        if bool(by_kind(objs, kind)) != strimzi:
            problems.append(f"{kind} rendered={bool(by_kind(objs, kind))} but kafka.strimzi.enabled={strimzi}")
    if bool(by_kind(objs, "ScyllaCluster")) != scylla:
        problems.append(f"ScyllaCluster rendered={bool(by_kind(objs, 'ScyllaCluster'))} but scylla.operator.enabled={scylla}")
    if strimzi:
        clusters = {k["metadata"]["name"] for k in by_kind(objs, "Kafka")}
        for o in by_kind(objs, "KafkaTopic") + by_kind(objs, "KafkaNodePool") + by_kind(objs, "KafkaUser"):
            if o["metadata"].get("labels", {}).get("strimzi.io/cluster") not in clusters:
                problems.append(f"{ident(o)}: strimzi.io/cluster label does not name the Kafka {sorted(clusters)}")
        if merged["kafka"]["strimzi"]["authentication"] == "scram-sha-512" and merged["mode"] == "distributed":
            problems += check_kafka_users(objs)
        cfg = rapport_config(objs) or {}
        boot = cfg.get("kafka", {}).get("bootstrap_servers", "")
        if not any(boot.startswith(f"{c}-kafka-bootstrap") for c in clusters):
            problems.append(f"config kafka.bootstrap_servers {boot!r} does not point at the Strimzi bootstrap service")
    if scylla:
        names = {c["metadata"]["name"] for c in by_kind(objs, "ScyllaCluster")}
        nodes = ((rapport_config(objs) or {}).get("store", {}).get("scylla", {}) or {}).get("nodes", "")
        if not any(nodes.startswith(f"{n}-client") for n in names):
            problems.append(f"config store.scylla.nodes {nodes!r} does not point at the ScyllaCluster client service")
    return problems


# What each service may publish on: its own topic and the audit trail.
OWN_TOPICS = {
    "contacts": {"rapport.contacts.v1", "rapport.audit.v1"},
    "comms": {"rapport.interactions.v1", "rapport.audit.v1"},
    "deals": {"rapport.deals.v1", "rapport.audit.v1"},
    "tasks": {"rapport.tasks.v1", "rapport.audit.v1"},
    "analytics": set(),
    "gateway": {"rapport.audit.v1"},
}


def check_kafka_users(objs: list[dict[str, Any]]) -> list[str]:
    """Each service signs in to Kafka as its own KafkaUser, whose ACLs let it
    write only its own topics, never another service's."""
    problems = []
    users = {u["metadata"]["name"]: u for u in by_kind(objs, "KafkaUser")}
    kafkas = by_kind(objs, "Kafka")
    if any(((k["spec"]["kafka"].get("authorization") or {}).get("type")) != "simple" for k in kafkas):
        problems.append("Kafka: SCRAM users without spec.kafka.authorization simple: ACLs would not apply")
    for d in by_kind(objs, "Deployment"):
        comp = component_of(d)
        if comp not in OWN_TOPICS:
            continue
        env = {e["name"]: e for c in pod_template(d)["spec"]["containers"] for e in c.get("env", [])}
        user = (env.get("RAPPORT_KAFKA__SASL_USERNAME") or {}).get("value")
        secret = ((env.get("RAPPORT_KAFKA__SASL_PASSWORD") or {}).get("valueFrom") or {}).get("secretKeyRef", {}).get("name")
        if user not in users or secret != user:
            problems.append(f"{ident(d)}: signs in to Kafka as {user!r} (password from {secret!r}), not a KafkaUser of its own")
            continue
        acls = users[user]["spec"].get("authorization", {}).get("acls", [])
        writes = {a["resource"].get("name") for a in acls
                  if a["resource"]["type"] == "topic" and {"Write", "All"} & set(a["operations"])}
        if writes != OWN_TOPICS[comp]:
            problems.append(f"KafkaUser/{user}: may write {sorted(writes)}, expected {sorted(OWN_TOPICS[comp])}")
        if any(a["resource"].get("patternType") == "prefix" and a["resource"]["type"] == "topic" for a in acls):
            problems.append(f"KafkaUser/{user}: a prefix topic ACL reaches other services' topics")
    return problems


def check_ingress(objs: list[dict[str, Any]], merged: dict[str, Any]) -> list[str]:
    problems = []
    ings = by_kind(objs, "Ingress")
    if len(ings) != 1:
        return [f"expected one Ingress, found {len(ings)}"]
    ing = ings[0]
    services = {s["metadata"]["name"]: s for s in by_kind(objs, "Service")}
    if merged["ingress"]["className"] and ing["spec"].get("ingressClassName") != merged["ingress"]["className"]:
        problems.append("ingressClassName does not follow ingress.className")
    if merged["ingress"]["tls"] and not ing["spec"].get("tls"):
        problems.append("ingress.tls set but the Ingress has no tls")
    for rule in ing["spec"].get("rules") or []:
        for p in rule["http"]["paths"]:
            svc = services.get(p["backend"]["service"]["name"])
            if not svc:
                problems.append(f"backend {p['backend']['service']['name']} is not a rendered Service")
                continue
            comp = svc["metadata"]["labels"].get("app.kubernetes.io/component")
            if comp not in ("gateway", "monolith"):
                problems.append(f"Ingress routes to {comp}, want the gateway")
    return problems


def check_bad_values(report: Report, chart: Any) -> None:
    files = sorted(glob.glob(os.path.join(TESTDATA, "bad-values-*.yaml")))
    report.check("scripts/k8s/testdata has bad values files", None if files else "no bad-values-*.yaml found")
    for f in files:
        name = os.path.relpath(f, ROOT)
        with open(f, encoding="utf-8") as fh:
            text = fh.read()
        expected = re.findall(r"^#\s*expect:\s*(.+?)\s*$", text, re.M)
        values = yaml.safe_load(text) or {}

        def one() -> list[str]:
            try:
                chart.validate_schema(values)
            except helm.HelmValuesError as exc:
                message = str(exc)
                print(f"     schema rejected {name} as expected:")
                for line in message.strip().splitlines():
                    print(f"       | {line}")
                return [f"the message does not mention {e!r}" for e in expected if e not in message]
            return [f"values.schema.json ACCEPTED {name}, which has a wrong type / an unknown key"]

        report.run(f"schema rejects {name}", one)
        # The same file must also make a real install fail (render applies the schema too).
        def via_render() -> str | None:
            try:
                chart.render(copy.deepcopy(values), name=RELEASE, namespace=NAMESPACE, is_install=True)
            except helm.HelmError:
                return None
            return f"rendering with {name} succeeded; an install would not be stopped"
        report.run(f"install with {name} is refused", via_render)
        report.run(f"helm lint --strict fails with {name}",
                   lambda: None if lint(values) else f"lint passed with {name}")


def check_refused_combinations(report: Report, chart: Any) -> None:
    """Values that are well-typed but cannot be right: the chart's own checks stop them."""
    external = load_yaml_file(os.path.join(CI_DIR, "distributed-external.yaml"))
    dev_beside_oidc = copy.deepcopy(external)
    dev_beside_oidc["config"]["auth"]["devTokenKey"] = {"existingSecret": "rapport-dev-token", "key": "k"}
    cases = [("a dev-token key beside an OpenID provider in distributed mode", dev_beside_oidc,
              "signs people in through the provider only")]
    for what, values, message in cases:
        def one(values: dict[str, Any] = values, message: str = message) -> str | None:
            try:
                chart.render(copy.deepcopy(values), name=RELEASE, namespace=NAMESPACE, is_install=True)
            except helm.HelmError as exc:
                return None if message in str(exc) else f"refused, but the message lacks {message!r}: {exc}"
            return "rendered; an install would not be stopped"
        report.run(f"install refuses {what}", one)


# --------------------------------------------------------------------------- kustomize


def find_kubectl() -> str | None:
    exe = os.environ.get("KUBECTL") or shutil.which("kubectl")
    return exe


def check_kustomize(report: Report) -> None:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import kustomize_base  # noqa: E402  (needs helm_python, imported late on purpose)

    report.run("k8s/base is the chart's current rendering (scripts/k8s/kustomize_base.py --check)",
               kustomize_base.check)
    overlays = sorted(d for d in glob.glob(os.path.join(OVERLAYS, "*")) if os.path.isdir(d))
    report.check("k8s/overlays has dev and prod",
                 [f"missing k8s/overlays/{n}" for n in ("dev", "prod") if os.path.join(OVERLAYS, n) not in overlays])
    kubectl = find_kubectl()
    if not kubectl:
        report.check("kubectl available for kustomize", "kubectl not found (validate.sh installs it)")
        return
    for overlay in overlays:
        rel = os.path.relpath(overlay, ROOT)
        proc = subprocess.run([kubectl, "kustomize", overlay], capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            report.check(f"[{rel}] kubectl kustomize builds", proc.stderr.strip() or f"exit {proc.returncode}")
            continue
        objs = parse_manifests(proc.stdout, rel)
        report.check(f"[{rel}] kubectl kustomize builds ({len(objs)} objects)", None if objs else "no objects")
        report.run(f"[{rel}] every object validates against Kubernetes {KUBE_VERSION}", lambda: validate_objects(objs))
        report.check(f"[{rel}] object names are unique", duplicates(objs))
        mode = "monolithic" if by_kind(objs, "StatefulSet") and not by_kind(objs, "Deployment") else "distributed"
        expected = {"dev": "monolithic", "prod": "distributed"}.get(os.path.basename(overlay))
        if expected:
            report.check(f"[{rel}] is {expected}", None if mode == expected else f"builds a {mode} installation")
        config = rapport_config(objs)
        for name, problems in check_workloads(objs, mode, config).items():
            report.check(f"[{rel}] {name}", problems)
        report.run(f"[{rel}] no literal credentials", lambda: check_no_literal_credentials(objs))
        report.run(f"[{rel}] config file stays within the binary's schema", lambda: check_config_file(objs, mode))
        if mode == "distributed":
            report.run(f"[{rel}] lease RBAC for the lease holders only", lambda: check_rbac(objs))


# --------------------------------------------------------------------------- Dockerfile


def check_dockerfile() -> list[str]:
    """The image contract of docs/operations.md, read with BuildKit's own Dockerfile parser."""
    import dockerfile  # noqa: PLC0415 (only needed here)

    path = os.path.join(ROOT, "Dockerfile")
    if not os.path.exists(path):
        return ["Dockerfile is missing"]
    try:
        commands = dockerfile.parse_file(path)
    except dockerfile.GoParseError as exc:
        return [f"Dockerfile does not parse: {exc}"]
    args: dict[str, str] = {}
    stages: list[dict[str, Any]] = []
    for c in commands:
        if c.cmd == "ARG" and not stages and "=" in c.value[0]:
            k, v = c.value[0].split("=", 1)
            args[k] = v
        elif c.cmd == "FROM":
            image = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), c.value[0])
            stages.append({"image": image, "cmds": []})
        elif stages:
            stages[-1]["cmds"].append(c)
    problems = []
    if len(stages) < 2:
        return [f"want a multi-stage build, found {len(stages)} stage(s)"]
    build, runtime = stages[0], stages[-1]
    if not build["image"].startswith("rust:1.95-bookworm"):
        problems.append(f"build stage FROM {build['image']}, want rust:1.95-bookworm")
    if not any(c.cmd == "RUN" and "cargo build --release --locked -p rapport" in " ".join(c.value)
               for c in build["cmds"]):
        problems.append("build stage does not run `cargo build --release --locked -p rapport`")
    if runtime["image"] != "gcr.io/distroless/cc-debian12:nonroot":
        problems.append(f"runtime stage FROM {runtime['image']}, want gcr.io/distroless/cc-debian12:nonroot")
    cmds = runtime["cmds"]
    if any(c.cmd == "RUN" for c in cmds):
        problems.append("the runtime stage has RUN steps, but distroless has no shell")
    users = [c.value[0] for c in cmds if c.cmd == "USER"]
    if not users or users[-1].split(":")[0] not in ("65532", "nonroot"):
        problems.append(f"runtime USER is {users[-1] if users else 'root (unset)'}, want nonroot (65532)")
    entry = [c for c in cmds if c.cmd == "ENTRYPOINT"]
    if not entry or not entry[-1].json or list(entry[-1].value) != ["/usr/local/bin/rapport"]:
        problems.append("ENTRYPOINT must be the exec form [\"/usr/local/bin/rapport\"]")
    if not any(c.cmd == "COPY" and any(f.startswith("--from=") for f in c.flags)
               and c.value[-1] == "/usr/local/bin/rapport" for c in cmds):
        problems.append("the binary is not copied from the build stage to /usr/local/bin/rapport")
    ignore = os.path.join(ROOT, ".dockerignore")
    if not os.path.exists(ignore):
        problems.append(".dockerignore is missing")
    else:
        with open(ignore, encoding="utf-8") as f:
            lines = {ln.strip().rstrip("/") for ln in f if ln.strip() and not ln.startswith("#")}
        for must in ("target", ".git"):
            if must not in lines:
                problems.append(f".dockerignore does not exclude {must}/")
    return problems


# --------------------------------------------------------------------------- self test


def self_test(report: Report) -> None:
    """Break a good rendering in known ways: every assertion above must notice.

    This guards the checker itself: a check that passes on broken input is worse than none.
    """
    chart = helm.Chart.load(CHART)
    good, _ = render(chart, None, upgrade=False)
    good_upgrade, _ = render(chart, None, upgrade=True)
    merged = chart.merge_values(None)
    config = rapport_config(good)

    def first(objs: list[dict[str, Any]], kind: str, component: str | None = None) -> dict[str, Any]:
        return next(o for o in objs if o["kind"] == kind and (component is None or component_of(o) == component))

    def container(objs: list[dict[str, Any]], component: str) -> dict[str, Any]:
        return pod_template(first(objs, "Deployment", component))["spec"]["containers"][0]

    def workloads(objs: list[dict[str, Any]]) -> list[str]:
        return [p for ps in check_workloads(objs, "distributed", config).values() for p in ps]

    mutations: list[tuple[str, Callable[[list[dict[str, Any]]], None], Callable[[list[dict[str, Any]]], list[str]]]] = [
        ("a Deployment without a readiness probe",
         lambda o: container(o, "deals").pop("readinessProbe"), workloads),
        ("the gateway probed over gRPC instead of HTTP",
         lambda o: container(o, "gateway").update(livenessProbe={"grpc": {"port": 50051}}), workloads),
        ("a container without resource limits",
         lambda o: container(o, "comms")["resources"].pop("limits"), workloads),
        ("a writable root filesystem",
         lambda o: container(o, "tasks")["securityContext"].update(readOnlyRootFilesystem=False), workloads),
        ("capabilities not dropped",
         lambda o: container(o, "tasks")["securityContext"].pop("capabilities"), workloads),
        ("no seccomp profile",
         lambda o: [pod_template(first(o, "Deployment", "deals"))["spec"]["securityContext"].pop("seccompProfile"),
                    container(o, "deals")["securityContext"].pop("seccompProfile")], workloads),
        ("a Deployment without a PDB",
         lambda o: o.remove(first(o, "PodDisruptionBudget", None)), workloads),
        ("a Deployment without a NetworkPolicy",
         lambda o: o.remove(next(n for n in o if n["kind"] == "NetworkPolicy"
                                 and n["metadata"]["name"].endswith("-analytics"))), workloads),
        ("a service open to every pod",
         lambda o: next(n for n in o if n["kind"] == "NetworkPolicy" and n["metadata"]["name"].endswith("-deals"))
         ["spec"]["ingress"][0].pop("from"), workloads),
        ("a service reachable from a non-caller",
         lambda o: next(n for n in o if n["kind"] == "NetworkPolicy" and n["metadata"]["name"].endswith("-tasks"))
         ["spec"]["ingress"][0]["from"].append({"podSelector": {"matchLabels": {"app.kubernetes.io/component": "comms"}}}),
         workloads),
        ("termination grace shorter than the drain time",
         lambda o: pod_template(first(o, "Deployment", "contacts"))["spec"].update(terminationGracePeriodSeconds=10),
         workloads),
        ("no topology spread",
         lambda o: pod_template(first(o, "Deployment", "gateway"))["spec"].pop("topologySpreadConstraints"), workloads),
        ("a literal password in the environment",
         lambda o: container(o, "contacts")["env"].append({"name": "RAPPORT_STORE__SCYLLA__PASSWORD", "value": "hunter2"}),
         check_no_literal_credentials),
        ("a Secret with a literal credential",
         lambda o: o.append({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"},
                             "stringData": {"password": "hunter2"}}), check_no_literal_credentials),
        ("a password in the config file",
         lambda o: first(o, "ConfigMap").update(data={"config.yaml": "kafka:\n  sasl_password: hunter2\n"}),
         check_no_literal_credentials),
        ("an unknown key in the config file",
         lambda o: first(o, "ConfigMap").update(data={"config.yaml": "kafak: {}\n"}),
         lambda o: check_config_file(o, "distributed")),
        ("a Role granting more than leases",
         lambda o: first(o, "Role")["rules"].append({"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}),
         check_rbac),
        ("an unknown field in a Deployment (strict schema)",
         lambda o: container(o, "contacts").update(livenessProbes={}), validate_objects),
        ("a wrong type in a Service (schema)",
         lambda o: first(o, "Service")["spec"].update(ports="50051"), validate_objects),
        ("a custom resource without a name",
         lambda o: o.append({"apiVersion": "kafka.strimzi.io/v1beta2", "kind": "KafkaTopic", "metadata": {}}),
         validate_objects),
    ]
    for name, mutate, check in mutations:
        broken = copy.deepcopy(good)
        mutate(broken)
        report.check(f"self-test: the checks catch {name}",
                     None if check(broken) else "the broken rendering PASSED the checks")

    # Kafka users: the operators' values give every service a KafkaUser.
    operators, _ = render(chart, load_yaml_file(os.path.join(CHART, "ci", "distributed-operators.yaml")),
                          upgrade=False)
    report.check("the operators' values give each service a KafkaUser limited to its own topics",
                 check_kafka_users(operators))

    def user(objs: list[dict[str, Any]], component: str) -> dict[str, Any]:
        return next(u for u in objs if u["kind"] == "KafkaUser" and u["metadata"]["name"].endswith(f"-{component}"))

    def env_of(objs: list[dict[str, Any]], component: str) -> list[dict[str, Any]]:
        return pod_template(first(objs, "Deployment", component))["spec"]["containers"][0]["env"]

    kafka_mutations: list[tuple[str, Callable[[list[dict[str, Any]]], Any]]] = [
        ("a service allowed to write another service's topic",
         lambda o: user(o, "deals")["spec"]["authorization"]["acls"].append(
             {"resource": {"type": "topic", "name": "rapport.contacts.v1", "patternType": "literal"},
              "operations": ["Write"]})),
        ("a prefix ACL over every topic",
         lambda o: user(o, "analytics")["spec"]["authorization"]["acls"].append(
             {"resource": {"type": "topic", "name": "rapport.", "patternType": "prefix"}, "operations": ["Read"]})),
        ("a service signing in as the shared user",
         lambda o: [e.update(value="rapport") for e in env_of(o, "comms") if e["name"] == "RAPPORT_KAFKA__SASL_USERNAME"]),
        ("Kafka without authorization",
         lambda o: first(o, "Kafka")["spec"]["kafka"].pop("authorization")),
    ]
    for name, mutate in kafka_mutations:
        broken = copy.deepcopy(operators)
        mutate(broken)
        report.check(f"self-test: the checks catch {name}",
                     None if check_kafka_users(broken) else "the broken rendering PASSED the checks")

    # A hook Job that differs between install and upgrade (e.g. a random or revision-based value).
    broken_upgrade = copy.deepcopy(good_upgrade)
    job = next(j for j in broken_upgrade if j["kind"] == "Job")
    job["metadata"]["annotations"]["rapport.io/run"] = "rev-2"
    report.check("self-test: the checks catch a hook Job that changes between install and upgrade",
                 None if check_migration_hook(good, broken_upgrade, merged) else "not noticed")


# --------------------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="print passing checks too")
    parser.add_argument("--skip-kustomize", action="store_true", help="only check the Helm chart")
    args = parser.parse_args()

    started = time.monotonic()
    install_schema_cache()
    print(f"helm engine {helm.helm_sdk_version()} (helm-python-sdk {helm.__version__}), "
          f"kubernetes-validate {kubernetes_validate.__version__}, Kubernetes schemas {KUBE_VERSION}")
    report = Report(args.verbose)
    self_test(report)
    report.run("Dockerfile: multi-stage, distroless nonroot runtime, rapport entrypoint", check_dockerfile)
    check_chart(report)
    if not args.skip_kustomize:
        check_kustomize(report)
    elapsed = time.monotonic() - started
    print(f"checked in {elapsed:.1f}s")
    if report.failed:
        print(f"FAILED checks: {len(report.failed)}")
        for name in report.failed:
            print(f"  - {name}")
    print(f"{report.passed} passed, {len(report.failed)} failed")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
