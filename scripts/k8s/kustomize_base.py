#!/usr/bin/env python3
"""Generate the kustomize bases k8s/base/{distributed,monolithic} from the Helm chart.

The chart is the one source of truth; the plain manifests are rendered from it with the
chart's default values (mode distributed, resp. mode monolithic), then made Helm-free:

* no `helm.sh/*` labels or annotations, `app.kubernetes.io/managed-by: kustomize`;
* no namespace (the overlays set it);
* the Rapport config file becomes a configMapGenerator input (`config.yaml`), so overlays
  can replace it and kustomize's content hash rolls the pods when it changes;
* the migration hook Job becomes an ordinary Job (see docs/operations.md for re-running it),
  using the main ConfigMap; the hook-only copy of the ConfigMap is dropped.

    scripts/k8s/kustomize_base.py --write   # regenerate after changing the chart
    scripts/k8s/kustomize_base.py --check   # exit 1 if k8s/base is stale (check_chart.py runs this)

Run it with the venv of scripts/k8s/validate.sh (it needs helm-python-sdk).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import yaml

import helm_python as helm

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CHART = os.path.join(ROOT, "helm", "rapport")
BASE = os.path.join(ROOT, "k8s", "base")
RELEASE = "rapport"
PLACEHOLDER_NS = "rapport-namespace-placeholder"

HEADER = (
    "# GENERATED from helm/rapport by scripts/k8s/kustomize_base.py --write. Do not edit:\n"
    "# change the chart (and regenerate) or customise in an overlay. CI fails when stale.\n"
)

MODES = {
    "distributed": {},
    "monolithic": {"mode": "monolithic"},
}

# File order inside each base, and which component goes to which file.
KIND_ORDER = [
    "ServiceAccount", "Role", "RoleBinding", "ConfigMap", "Service", "Deployment", "StatefulSet",
    "Job", "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy",
]


class _Dumper(yaml.SafeDumper):
    pass


def _str_presenter(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str_presenter)


def dump(docs: list[dict[str, Any]]) -> str:
    return "---\n".join(yaml.dump(d, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=100)
                        for d in docs)


def _clean_meta(meta: dict[str, Any]) -> None:
    meta.pop("namespace", None)
    labels = meta.get("labels")
    if labels:
        labels.pop("helm.sh/chart", None)
        if "app.kubernetes.io/managed-by" in labels:
            labels["app.kubernetes.io/managed-by"] = "kustomize"
    annotations = meta.get("annotations")
    if annotations is not None:
        for key in [k for k in annotations if k.startswith("helm.sh/") or k.startswith("checksum/")]:
            del annotations[key]
        if not annotations:
            del meta["annotations"]


def _clean(obj: dict[str, Any]) -> dict[str, Any]:
    _clean_meta(obj["metadata"])
    template = obj.get("spec", {}).get("template")
    if isinstance(template, dict) and "metadata" in template:
        _clean_meta(template["metadata"])
    for vct in obj.get("spec", {}).get("volumeClaimTemplates") or []:
        _clean_meta(vct.get("metadata", {}))
    for subject in obj.get("subjects") or []:
        if subject.get("namespace") == PLACEHOLDER_NS:
            # kustomize's namespace transformer fills in the overlay's namespace.
            subject["namespace"] = "default"
    return obj


def _render(values: dict[str, Any]) -> list[dict[str, Any]]:
    with helm.Chart.load(CHART) as chart:
        manifests = chart.render(values, name=RELEASE, namespace=PLACEHOLDER_NS, is_install=True)
    objs = []
    for path in sorted(manifests):
        if not path.endswith(".yaml"):
            continue
        objs += [d for d in yaml.safe_load_all(manifests[path]) if d]
    return objs


def generate() -> dict[str, str]:
    """Return {path relative to k8s/base: file content}."""
    files: dict[str, str] = {}
    for mode, values in MODES.items():
        objs = _render(values)
        config_text = None
        kept: list[dict[str, Any]] = []
        for obj in objs:
            name = obj["metadata"]["name"]
            if obj["kind"] == "ConfigMap":
                if name == f"{RELEASE}-config":
                    config_text = obj["data"]["config.yaml"]
                continue  # becomes the configMapGenerator; the hook's copy is dropped
            if obj["kind"] == "Job":
                for vol in obj["spec"]["template"]["spec"].get("volumes") or []:
                    if "configMap" in vol:
                        vol["configMap"]["name"] = f"{RELEASE}-config"
            text = yaml.safe_dump(obj, sort_keys=False)
            if f".{PLACEHOLDER_NS}.svc" in text:
                obj = yaml.safe_load(text.replace(f".{PLACEHOLDER_NS}.svc", ""))
            kept.append(_clean(obj))
        if config_text is None:
            raise SystemExit(f"{mode}: the chart rendered no {RELEASE}-config ConfigMap")

        groups: dict[str, list[dict[str, Any]]] = {}
        for obj in kept:
            labels = obj["metadata"].get("labels") or {}
            component = labels.get("app.kubernetes.io/component", "common")
            groups.setdefault(component, []).append(obj)
        resources = []
        for component in sorted(groups):
            docs = sorted(groups[component], key=lambda o: (KIND_ORDER.index(o["kind"])
                                                           if o["kind"] in KIND_ORDER else 99,
                                                           o["metadata"]["name"]))
            fname = f"{component}.yaml"
            resources.append(fname)
            files[f"{mode}/{fname}"] = HEADER + dump(docs)
        files[f"{mode}/config.yaml"] = (
            "# GENERATED from helm/rapport (the chart's default values, mode " + mode + ").\n"
            "# The Rapport configuration file; overlays replace it with their own (configMapGenerator).\n"
            + config_text.rstrip("\n") + "\n"
        )
        kustomization = {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": resources,
            "configMapGenerator": [{
                "name": f"{RELEASE}-config",
                "files": ["config.yaml"],
                "options": {"labels": {"app.kubernetes.io/name": "rapport",
                                       "app.kubernetes.io/instance": RELEASE,
                                       "app.kubernetes.io/part-of": "rapport"}},
            }],
        }
        files[f"{mode}/kustomization.yaml"] = HEADER + dump([kustomization])
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", action="store_true", help="regenerate k8s/base")
    group.add_argument("--check", action="store_true", help="fail if k8s/base differs from the chart")
    args = parser.parse_args()
    stale = check()
    if args.check:
        for line in stale:
            print(line)
        return 1 if stale else 0
    for rel, text in generate().items():
        path = os.path.join(BASE, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    for mode in MODES:
        wanted = {rel.split("/", 1)[1] for rel in generate() if rel.startswith(mode + "/")}
        for fname in os.listdir(os.path.join(BASE, mode)):
            if fname.endswith(".yaml") and fname not in wanted:
                os.remove(os.path.join(BASE, mode, fname))
                print(f"removed stale k8s/base/{mode}/{fname}")
    print(f"wrote k8s/base ({', '.join(MODES)})")
    return 0


def check() -> list[str]:
    """Differences between k8s/base and what the chart generates (empty when in sync)."""
    problems = []
    generated = generate()
    for rel, text in generated.items():
        path = os.path.join(BASE, rel)
        if not os.path.exists(path):
            problems.append(f"k8s/base/{rel} is missing")
            continue
        with open(path, encoding="utf-8") as f:
            if f.read() != text:
                problems.append(f"k8s/base/{rel} differs from the chart's rendering")
    for mode in MODES:
        directory = os.path.join(BASE, mode)
        if os.path.isdir(directory):
            for fname in os.listdir(directory):
                if fname.endswith(".yaml") and f"{mode}/{fname}" not in generated:
                    problems.append(f"k8s/base/{mode}/{fname} is not generated from the chart")
    if problems:
        problems.append("run: scripts/k8s/validate.sh --write-kustomize-base (or kustomize_base.py --write in its venv)")
    return problems


if __name__ == "__main__":
    sys.exit(main())
