"""Our own rules for deploy/k8s, checked on what kustomize renders (the base
and every overlay) and on deploy/k8s/tools:

- every process of docker-compose.yml runs as a Deployment with compose's
  command and one image, at least 2 replicas (the gateway: an autoscaler with
  at least 2), probes, requests and limits, the restricted security context,
  a writable /tmp only, and a PodDisruptionBudget;
- the broker is 3 RabbitMQ nodes with quorum queues by default importing the
  definitions Secret, the store a 3-member replica set, each with a budget;
- NetworkPolicies: default deny; only the gateway takes connections from
  outside; each process reaches only the broker, the store, DNS and (the
  notifications service) the SMTP ports: checked by evaluating the policies
  for pairs of pods, not by reading their text;
- no Secret in the repository; each process reads its own Secrets, and each
  store user may read and write its own database only.
"""
import re

from services.common import config as settings
from services.common.vocabulary import SERVICES
from tests.helpers.deploy import (
    K8S, ROOT, app_services, command_argv, every_rendering, of_kind, pod_labels, pod_spec,
    selects)

APPS = {*SERVICES, "gateway"}
SECRET_SETTINGS = {"COALITION_JWT_SECRET", "AMQP_URI", "MONGO_URI", "SMTP_URL"}
RABBIT_POD = {"app.kubernetes.io/name": "coalition-rabbitmq",
              "app.kubernetes.io/component": "rabbitmq"}
MONGO_POD = {"app": "coalition-mongo-svc"}


def kustomized():
    return [(where, objects) for where, objects in every_rendering() if where != "tools"]


def settings_of(objects):
    [config_map] = [o for name, o in of_kind(objects, "ConfigMap").items()
                    if name.startswith("coalition-settings")]
    return config_map["data"]


def containers(objects, kinds=("Deployment",)):
    for kind in kinds:
        for name, obj in of_kind(objects, kind).items():
            for container in pod_spec(obj)["containers"]:
                yield name, obj, container


# --- Deployments ------------------------------------------------------------------------

def test_every_process_of_compose_is_a_deployment_with_its_command_and_one_image():
    compose = {name: command_argv(svc) for name, svc in app_services().items()}
    for where, objects in kustomized():
        deployments = of_kind(objects, "Deployment")
        assert set(deployments) == set(compose) == APPS, where
        images = {c["image"] for _, _, c in containers(objects)}
        assert len(images) == 1, f"{where}: one image for every process, as compose: {images}"
        for name, _, container in containers(objects):
            assert container["command"] == compose[name], f"{where}: {name}"


def test_every_deployment_keeps_two_pods_at_least():
    for where, objects in kustomized():
        autoscalers = {h["spec"]["scaleTargetRef"]["name"]: h
                       for h in of_kind(objects, "HorizontalPodAutoscaler").values()}
        for name, deployment in of_kind(objects, "Deployment").items():
            if name in autoscalers:  # the autoscaler owns `replicas`: none in the manifest
                assert "replicas" not in deployment["spec"], f"{where}: {name}"
                assert autoscalers[name]["spec"]["minReplicas"] >= 2, f"{where}: {name}"
            else:
                assert deployment["spec"]["replicas"] >= 2, f"{where}: {name}"
            assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_the_gateway_autoscales_and_is_probed_on_its_health_endpoints():
    app = (ROOT / "services" / "gateway" / "app.py").read_text()
    for where, objects in kustomized():
        [autoscaler] = of_kind(objects, "HorizontalPodAutoscaler").values()
        assert autoscaler["apiVersion"] == "autoscaling/v2"
        assert autoscaler["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1", "kind": "Deployment", "name": "gateway"}
        assert autoscaler["spec"]["maxReplicas"] > autoscaler["spec"]["minReplicas"]
        [gateway] = pod_spec(of_kind(objects, "Deployment")["gateway"])["containers"]
        port = {p["name"]: p["containerPort"] for p in gateway["ports"]}["http"]
        env = {e["name"]: e.get("value") for e in gateway["env"]}
        assert env["GATEWAY_BIND"] == f"0.0.0.0:{port}"
        paths = {probe: gateway[probe]["httpGet"]["path"]
                 for probe in ("startupProbe", "readinessProbe", "livenessProbe")}
        assert paths == {"startupProbe": "/readyz", "readinessProbe": "/healthz",
                         "livenessProbe": "/healthz"}, where
        assert all(f'Rule("{path}"' in app for path in paths.values())
        [service] = of_kind(objects, "Service").values()
        assert service["spec"]["ports"][0]["targetPort"] == "http"


def test_every_pod_has_probes_resources_and_the_restricted_security_context():
    for where, objects in every_rendering():
        for name, obj, container in containers(objects, ("Deployment", "Job", "Pod")):
            spec = pod_spec(obj)
            if obj["kind"] == "Deployment":
                assert {"readinessProbe", "livenessProbe"} <= set(container), f"{where}: {name}"
            for kind in ("requests", "limits"):
                assert set(container["resources"][kind]) == {"cpu", "memory"}, f"{where}: {name}"
            assert spec["securityContext"] == {
                "runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001,
                "seccompProfile": {"type": "RuntimeDefault"}}, f"{where}: {name}"
            assert container["securityContext"] == {
                "runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001,
                "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                "capabilities": {"drop": ["ALL"]},
                "seccompProfile": {"type": "RuntimeDefault"}}, f"{where}: {name}"
            assert spec["automountServiceAccountToken"] is False
            assert spec["serviceAccountName"] == "coalition"
            writable = {m["mountPath"] for m in container["volumeMounts"] if not m.get("readOnly")}
            assert writable == {"/tmp"}, f"{where}: {name} writes only to /tmp"
            [tmp] = [v for v in spec["volumes"] if v["name"] == "tmp"]
            assert "sizeLimit" in tmp["emptyDir"], f"{where}: {name}"


def test_a_disruption_budget_guards_each_deployment_the_broker_and_the_store():
    for where, objects in kustomized():
        budgets = of_kind(objects, "PodDisruptionBudget").values()
        pods = {name: pod_labels(d) for name, d in of_kind(objects, "Deployment").items()}
        pods |= {"rabbitmq": RABBIT_POD, "mongodb": MONGO_POD}
        for name, labels in pods.items():
            guarding = [b for b in budgets if selects(b["spec"]["selector"], labels)]
            assert len(guarding) == 1, f"{where}: {name} has {len(guarding)} budgets"
            assert guarding[0]["spec"] == {"maxUnavailable": 1,
                                           "selector": guarding[0]["spec"]["selector"]}


# --- the broker and the store ------------------------------------------------------------

def test_the_broker_is_three_nodes_with_quorum_queues_and_the_definitions_secret():
    for where, objects in kustomized():
        [rabbit] = of_kind(objects, "RabbitmqCluster").values()
        assert rabbit["metadata"]["name"] == "coalition-rabbitmq" and rabbit["spec"]["replicas"] == 3
        conf = dict(line.split(" = ", 1) for line in
                    rabbit["spec"]["rabbitmq"]["additionalConfig"].splitlines() if line.strip())
        assert conf["default_queue_type"] == "quorum"
        template = rabbit["spec"]["override"]["statefulSet"]["spec"]["template"]["spec"]
        [volume] = template["volumes"]
        [mount] = [m for c in template["containers"] if c["name"] == "rabbitmq"
                   for m in c["volumeMounts"] if m["name"] == volume["name"]]
        assert volume["secret"]["secretName"] == "coalition-rabbitmq-definitions"
        assert conf["load_definitions"] == f"{mount['mountPath']}/definitions.json"
        assert mount["readOnly"] is True
        assert settings_of(objects)["QUEUE_TYPE"] == "quorum"


def test_the_store_is_a_three_member_replica_set_with_one_user_per_process():
    for where, objects in kustomized():
        [mongo] = of_kind(objects, "MongoDBCommunity").values()
        spec = mongo["spec"]
        assert (spec["type"], spec["members"]) == ("ReplicaSet", 3)
        assert spec["security"]["authentication"]["modes"] == ["SCRAM"]
        prefix = settings_of(objects)["MONGO_DB_PREFIX"]
        users = {u["name"]: u for u in spec["users"]}
        assert set(users) == APPS | {"backup"}, where
        for name in APPS:  # readWrite on its own database, nothing else
            assert users[name]["roles"] == [{"name": "readWrite", "db": f"{prefix}_{name}"}]
        assert {r["db"] for r in users["backup"]["roles"]} == {"admin"}
        for key in ("passwordSecretRef", "scramCredentialsSecretName",
                    "connectionStringSecretName"):
            values = [str(u[key]) for u in users.values()]
            assert len(set(values)) == len(values), f"{key}: one per user"


# --- Secrets -------------------------------------------------------------------------------

def secret_refs(container):
    return {e["name"]: (e["valueFrom"]["secretKeyRef"]["name"], e["valueFrom"]["secretKeyRef"]["key"])
            for e in container.get("env", []) if "secretKeyRef" in e.get("valueFrom", {})}


def test_each_process_reads_its_own_secrets_and_no_other():
    for where, objects in kustomized():
        [mongo] = of_kind(objects, "MongoDBCommunity").values()
        uri_secret = {u["name"]: u["connectionStringSecretName"] for u in mongo["spec"]["users"]}
        for name, _, container in containers(objects):
            expected = {"COALITION_JWT_SECRET": ("coalition-jwt", "COALITION_JWT_SECRET"),
                        "AMQP_URI": (f"coalition-amqp-{name}", "AMQP_URI"),
                        "MONGO_URI": (uri_secret[name], "connectionString.standard")}
            if name == "notifications":
                expected["SMTP_URL"] = ("coalition-smtp", "SMTP_URL")
            assert secret_refs(container) == expected, f"{where}: {name}"
            assert all("secretRef" not in e for e in container.get("envFrom", [])), name
            plain = {e["name"] for e in container.get("env", []) if "value" in e}
            assert not plain & SECRET_SETTINGS, f"{where}: {name}: a secret in the manifest"
    tools = {name: secret_refs(c) for name, _, c in containers(dict(every_rendering())["tools"],
                                                               ("Pod", "Job"))}
    assert tools["coalition-cli"]["AMQP_URI"] == ("coalition-amqp-cli", "AMQP_URI")
    assert "MONGO_URI" not in tools["coalition-cli"], "the CLI talks RPC only"
    assert tools["coalition-queues-migrate"]["AMQP_ADMIN_URI"][0] == "coalition-amqp-admin"


def test_no_secret_is_kept_in_the_repository():
    for where, objects in every_rendering():
        assert not of_kind(objects, "Secret"), f"{where}: Secrets are made by make_secrets.py"
    for path in K8S.rglob("*.yaml"):
        text = path.read_text()
        assert not re.search(r"^kind:\s*Secret\b", text, re.M), path
        assert "secretGenerator" not in text, f"{path}: a generator would read secret files"
        assert not re.search(r"(amqp|mongodb)://[^:\s/]+:[^@\s]+@", text), f"{path}: a password"


def test_the_settings_are_known_settings_and_hold_no_secret():
    known = set(settings.SettingsSchema().fields)
    for where, objects in kustomized():
        values = settings_of(objects)
        assert set(values) <= known - SECRET_SETTINGS, (where, set(values) - known)
        assert values["COALITION_ENV"] == "production" and values["QUEUE_TYPE"] == "quorum"


# --- NetworkPolicies: evaluated ----------------------------------------------------------

NAMESPACE = "coalition"
INTERNET = {"external": True}
KUBE_DNS = {"namespace": "kube-system", "labels": {"k8s-app": "kube-dns"}}
INGRESS_CONTROLLER = {"namespace": "ingress-nginx", "labels": {"app": "ingress-nginx"}}
RABBIT_OPERATOR = {"namespace": "rabbitmq-system",
                   "labels": {"app.kubernetes.io/component": "rabbitmq-operator"}}


def pod(labels):
    return {"namespace": NAMESPACE, "labels": labels}


def peer_matches(peer, endpoint):
    if endpoint.get("external"):
        return "ipBlock" in peer and peer["ipBlock"]["cidr"] in ("0.0.0.0/0", "::/0")
    namespace = {"kubernetes.io/metadata.name": endpoint["namespace"]}
    if "namespaceSelector" in peer:
        if not selects(peer["namespaceSelector"], namespace):
            return False
    elif endpoint["namespace"] != NAMESPACE or "podSelector" not in peer:
        return False
    return selects(peer.get("podSelector", {}), endpoint["labels"])


def port_matches(rule, port, protocol):
    if not rule.get("ports"):
        return True
    return any(p.get("protocol", "TCP") == protocol
               and p["port"] <= port <= p.get("endPort", p["port"]) for p in rule["ports"])


def allowed(policies, direction, endpoint, other, port, protocol):
    """Whether the policies selecting `endpoint` let this traffic through."""
    if endpoint.get("external") or endpoint["namespace"] != NAMESPACE:
        return True  # not ours to police
    key, peers = ("egress", "to") if direction == "Egress" else ("ingress", "from")
    selecting = [p["spec"] for p in policies if direction in p["spec"]["policyTypes"]
                 and selects(p["spec"]["podSelector"], endpoint["labels"])]
    if not selecting:
        return True  # a pod no policy selects is not isolated
    return any(port_matches(rule, port, protocol)
               and (not rule.get(peers) or any(peer_matches(p, other) for p in rule[peers]))
               for spec in selecting for rule in spec.get(key, []))


def connects(policies, source, target, port, protocol="TCP"):
    return allowed(policies, "Egress", source, target, port, protocol) \
        and allowed(policies, "Ingress", target, source, port, protocol)


def test_network_policies_let_through_only_what_each_pod_needs():
    objects = dict(every_rendering())
    tools = [pod(pod_labels(o)) for kind in ("Pod", "Job") for o in of_kind(objects["tools"],
                                                                            kind).values()]
    for where, rendering in kustomized():
        policies = list(of_kind(rendering, "NetworkPolicy").values())
        assert {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]} in \
            [p["spec"] for p in policies], f"{where}: default deny"
        apps = {name: pod(pod_labels(d)) for name, d in of_kind(rendering, "Deployment").items()}
        rabbit, mongo, intruder = pod(RABBIT_POD), pod(MONGO_POD), pod({"app": "intruder"})

        def ok(*args):
            return connects(policies, *args)

        for name, app in apps.items():
            for outsider in (INGRESS_CONTROLLER, INTERNET):  # only the gateway takes them
                assert ok(outsider, app, 8000) == (name == "gateway"), f"{where}: -> {name}"
            for neighbour in (intruder, *apps.values()):  # no pod of ours calls another
                assert not ok(neighbour, app, 8000), f"{where}: -> {name}"
            assert ok(app, rabbit, 5672) and ok(app, mongo, 27017), f"{where}: {name}"
            assert ok(app, KUBE_DNS, 53, "UDP") and ok(app, KUBE_DNS, 53, "TCP")
            assert ok(app, INTERNET, 587) == ok(app, INTERNET, 465) == (name == "notifications")
            assert not ok(app, INTERNET, 443) and not ok(app, rabbit, 15672), f"{where}: {name}"
        for tool in tools:
            assert ok(tool, rabbit, 5672) and not ok(tool, mongo, 27017)
            assert not ok(tool, INTERNET, 443)
        for stranger in (intruder, INGRESS_CONTROLLER):
            assert not ok(stranger, rabbit, 5672) and not ok(stranger, mongo, 27017)
        assert ok(rabbit, rabbit, 25672) and ok(rabbit, rabbit, 4369) and ok(rabbit, rabbit, 35680)
        assert ok(RABBIT_OPERATOR, rabbit, 15672) and not ok(intruder, rabbit, 15672)
        assert not ok(rabbit, INTERNET, 443) and not ok(rabbit, mongo, 27017)
        assert ok(mongo, mongo, 27017) and not ok(mongo, rabbit, 5672)
        assert ok(mongo, INTERNET, 443) and not ok(mongo, INTERNET, 80), "the Kubernetes API only"
