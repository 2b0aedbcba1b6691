"""deploy/k8s validated offline, as `make test` runs it:

- rendered: `kubectl kustomize` of the base and of each overlay (kubectl's
  built-in kustomize, so the same renderer as `kubectl apply -k`);
- the core kinds against Kubernetes' own schemas for a pinned version
  (kubernetes-validate, strict: an unknown field fails);
- the custom resources (RabbitmqCluster, MongoDBCommunity) against the
  operators' CRD schemas kept in deploy/k8s/crds (jsonschema, refusing
  unknown fields as the API server's strict field validation does);
- yamllint, with deploy/k8s/.yamllint;
- checkov, with no failed check but those deploy/k8s/checkov-skips.yaml lists
  for the resources it names, each with its reason.

A tool that is missing fails its test, saying how to install it: these
checks are never skipped. Our own rules (replicas, probes, security context,
disruption budgets, network policies, secrets) are in test_k8s_rules.py.
"""
import copy
import fnmatch
import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

try:
    import kubernetes_validate
except ImportError:  # the test extras are not installed: the tests say so, below
    kubernetes_validate = None

from tests.helpers.deploy import (
    K8S, KUSTOMIZATIONS, TOOLS, checkov, every_rendering, rendered, rendered_text)

# the oldest Kubernetes still to be supported by these manifests; every
# version kubernetes-validate knows after it accepts them too (the API kinds
# used here are GA since 1.23 and none was removed since)
KUBERNETES_VERSIONS = ("1.30.0", "1.33.0")
CRDS = {path.name: path for path in (K8S / "crds").glob("*.yaml")}
SKIPS = K8S / "checkov-skips.yaml"
CUSTOM_KINDS = {"RabbitmqCluster", "MongoDBCommunity"}


# --- kustomize -----------------------------------------------------------------------

def test_each_kustomization_renders_the_whole_deployment():
    for name in KUSTOMIZATIONS:
        kinds = {(o["kind"], o["metadata"]["name"]) for o in rendered(name)}
        expected = {("Deployment", d) for d in
                    ("members", "consultations", "grants", "notifications", "accounts", "gateway")}
        expected |= {("RabbitmqCluster", "coalition-rabbitmq"),
                     ("MongoDBCommunity", "coalition-mongo"),
                     ("HorizontalPodAutoscaler", "gateway"), ("Service", "gateway"),
                     ("NetworkPolicy", "default-deny")}
        assert expected <= kinds, (name, expected - kinds)
        assert all(o["metadata"].get("namespace") == "coalition" for o in rendered(name)
                   if o["kind"] != "Namespace"), f"{name}: everything in namespace coalition"


# --- core kinds: kubernetes-validate -----------------------------------------------------

def core_errors(obj, version):
    if kubernetes_validate is None:
        pytest.fail("kubernetes-validate is missing: `make install` installs the test extras "
                    "of pyproject.toml (or: .venv/bin/pip install kubernetes-validate==1.37.0)")
    try:
        kubernetes_validate.validate(obj, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return str(exc).splitlines()[0]
    return None


def test_core_kinds_validate_against_pinned_kubernetes_versions():
    for where, objects in every_rendering():
        core = [o for o in objects if o["kind"] not in CUSTOM_KINDS]
        assert core, where
        for version in KUBERNETES_VERSIONS:
            for obj in core:
                error = core_errors(obj, version)
                assert error is None, f"{where}: {obj['kind']} {obj['metadata']['name']} " \
                                      f"on Kubernetes {version}: {error}"


def test_the_core_check_refuses_an_unknown_field_and_a_wrong_type():
    deployment = next(o for o in rendered("base") if o["kind"] == "Deployment")
    typo = copy.deepcopy(deployment)
    typo["spec"]["template"]["spec"]["containers"][0]["imagePullPolicee"] = "Always"
    assert "imagePullPolicee" in core_errors(typo, KUBERNETES_VERSIONS[0])
    wrong = copy.deepcopy(deployment)
    wrong["spec"]["replicas"] = "two"
    assert core_errors(wrong, KUBERNETES_VERSIONS[0]) is not None


# --- custom resources: the operators' CRD schemas ------------------------------------------

def strict(schema):
    """The schema as strict field validation applies it: an object that lists
    its properties refuses any other, unless it preserves unknown fields."""
    schema = dict(schema)
    if "properties" in schema and "additionalProperties" not in schema \
            and not schema.get("x-kubernetes-preserve-unknown-fields"):
        schema["additionalProperties"] = False
    if "properties" in schema:
        schema["properties"] = {k: strict(v) for k, v in schema["properties"].items()}
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            schema[key] = strict(schema[key])
    for key in ("anyOf", "allOf", "oneOf"):
        if key in schema:
            schema[key] = [strict(s) for s in schema[key]]
    return schema


def crd_validators():
    """{(apiVersion, kind): validator} of every vendored CRD's served versions."""
    out = {}
    for path in CRDS.values():
        crd = yaml.safe_load(path.read_text())
        spec = crd["spec"]
        for version in spec["versions"]:
            schema = strict(version["schema"]["openAPIV3Schema"])
            jsonschema.Draft7Validator.check_schema(schema)
            out[(f"{spec['group']}/{version['name']}", spec["names"]["kind"])] = \
                jsonschema.Draft7Validator(schema)
    return out


def cr_errors(obj, validators):
    validator = validators.get((obj["apiVersion"], obj["kind"]))
    assert validator, f"no vendored CRD serves {obj['apiVersion']} {obj['kind']}"
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(obj)]


def test_custom_resources_validate_against_the_operators_crds():
    validators = crd_validators()
    assert {kind for _, kind in validators} == CUSTOM_KINDS
    for where, objects in every_rendering():
        for obj in objects:
            if obj["kind"] in CUSTOM_KINDS:
                errors = cr_errors(obj, validators)
                assert not errors, f"{where}: {obj['kind']} {obj['metadata']['name']}: " \
                    f"{errors} (an unknown field; or, for the RabbitmqCluster, one the " \
                    "excerpt in deploy/k8s/crds leaves out: copy it from the source it names)"


def test_the_crd_check_refuses_unknown_fields_wrong_types_and_missing_requirements():
    validators = crd_validators()
    objects = {o["kind"]: o for o in rendered("production") if o["kind"] in CUSTOM_KINDS}
    mongo = copy.deepcopy(objects["MongoDBCommunity"])
    mongo["spec"]["member"] = 3  # typo of members
    mongo["spec"]["users"][0]["roles"][0].pop("db")
    errors = " ".join(cr_errors(mongo, validators))
    assert "'member' was unexpected" in errors and "'db' is a required property" in errors
    rabbit = copy.deepcopy(objects["RabbitmqCluster"])
    rabbit["spec"]["replicas"] = "3"
    rabbit["spec"]["rabbitmq"]["additionalConfig"] = "x" * 2001
    errors = " ".join(cr_errors(rabbit, validators))
    assert "'3' is not of type 'integer'" in errors and "is too long" in errors


def test_each_vendored_crd_names_its_source():
    for name, path in CRDS.items():
        text = path.read_text()
        assert "repository " in text and "commit " in text and "version " in text, name


# --- yamllint --------------------------------------------------------------------------

def test_yamllint_accepts_deploy_k8s():
    result = subprocess.run([sys.executable, "-m", "yamllint", "-f", "parsable", "-c",
                             str(K8S / ".yamllint"), str(K8S)],
                            capture_output=True, text=True, timeout=120)
    assert "No module named yamllint" not in result.stderr, \
        "yamllint is missing: `make install` installs the test extras of pyproject.toml"
    assert result.returncode == 0, result.stdout + result.stderr


# --- checkov -----------------------------------------------------------------------------

def skips():
    entries = yaml.safe_load(SKIPS.read_text())["skips"]
    for entry in entries:
        assert len(entry["reason"].split()) >= 12, f"{entry['check']}: say why, in a sentence"
    return entries


def checkov_failures(tmp_path):
    """[(check id, resource)] checkov fails, over every rendering and tools/."""
    for name in KUSTOMIZATIONS:
        (tmp_path / f"{name}.yaml").write_text(rendered_text(name))
    for path in TOOLS:
        (tmp_path / f"tools-{path.name}").write_text(path.read_text())
    # --skip-download: offline, no call to checkov's vendor for guidelines
    result = subprocess.run([str(checkov()), "-d", str(tmp_path), "--framework", "kubernetes",
                             "--skip-download", "--quiet", "--compact", "-o", "json"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode in (0, 1), result.stderr[-2000:]
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    assert sum(r["summary"]["resource_count"] for r in reports) >= 30, "checkov saw the files"
    return [(f["check_id"], f["resource"]) for r in reports
            for f in r["results"]["failed_checks"]]


def skipped(check, resource, entries):
    return [e for e in entries if e["check"] == check
            and any(fnmatch.fnmatchcase(resource, p) for p in e["resources"])]


def test_checkov_fails_nothing_but_the_listed_skips(tmp_path):
    entries = skips()
    failures = checkov_failures(tmp_path)
    unexplained = sorted({f for f in failures if not skipped(*f, entries)})
    assert not unexplained, f"checkov failed (fix them, or list each with its reason in " \
                            f"{SKIPS.relative_to(K8S.parent.parent)}): {unexplained}"
    for entry in entries:
        for pattern in entry["resources"]:
            assert any(check == entry["check"] and fnmatch.fnmatchcase(resource, pattern)
                       for check, resource in failures), \
                f"{entry['check']} {pattern} no longer fails: remove it from the skips"


def test_checkov_requirements_pin_every_package():
    lines = [line for line in (K8S / "checkov-requirements.txt").read_text().splitlines()
             if line and not line.startswith("#")]
    assert any(line.startswith("checkov==") for line in lines)
    assert all("==" in line for line in lines), "pin every package: reproducible checks"


@pytest.mark.parametrize("name", sorted(KUSTOMIZATIONS))
def test_kustomizations_reference_only_files_that_exist(name):
    """kustomize would say so too; this names the file."""
    kustomization = yaml.safe_load((KUSTOMIZATIONS[name] / "kustomization.yaml").read_text())
    paths = [*kustomization.get("resources", []),
             *(p["path"] for p in kustomization.get("patches", []))]
    for generator in kustomization.get("configMapGenerator", []):
        paths += [*generator.get("envs", []), *generator.get("files", [])]
    for path in paths:
        assert (KUSTOMIZATIONS[name] / Path(path)).exists(), f"{name}: {path}"
