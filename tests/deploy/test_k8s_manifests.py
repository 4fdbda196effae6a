"""deploy/k8s as kustomize renders it: valid Kubernetes objects, and the rules a production deploy keeps.

The rendered objects are validated against the OpenAPI schemas of the Kubernetes versions below
(kubernetes-validate ships them), strictly: an unknown or misspelt field fails.
"""
from __future__ import annotations

import re
import subprocess

import kubernetes_validate
import pytest
import yaml

from fusebox.core.topics import CALL_OUTCOMES
from tests.deploy.tools import DEPLOY, ROOT, tool

# The oldest Kubernetes minor still maintained upstream, and the newest the validator ships.
KUBERNETES_VERSIONS = ("1.35.0", "1.37.0")
K8S = DEPLOY / "k8s"
CONFIG_MAP = "fusebox-config"
SECRET = "fusebox-secrets"
SECRET_KEYS = ("FUSEBOX_JWT_SECRET", "FUSEBOX_DATABASE_URL")
WORKLOAD_KINDS = ("Deployment", "Job")


@pytest.fixture(scope="module")
def rendered() -> list[dict]:
    done = subprocess.run([str(tool("kustomize")), "build", str(K8S)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    objects = [doc for doc in yaml.safe_load_all(done.stdout) if doc]
    assert objects, "kustomize rendered nothing"
    return objects


def by_kind(objects: list[dict], kind: str) -> list[dict]:
    return [obj for obj in objects if obj["kind"] == kind]


def named(objects: list[dict], kind: str, name: str) -> dict:
    found = [obj for obj in by_kind(objects, kind) if obj["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def pod_specs(objects: list[dict]) -> list[tuple[str, dict]]:
    return [(f"{obj['kind']}/{obj['metadata']['name']}", obj["spec"]["template"]["spec"])
            for obj in objects if obj["kind"] in WORKLOAD_KINDS]


def containers(objects: list[dict]) -> list[tuple[str, dict, dict]]:
    """(workload/container, container, pod spec) for every container and init container."""
    return [(f"{where}/{c['name']}", c, spec) for where, spec in pod_specs(objects)
            for c in spec.get("initContainers", []) + spec["containers"]]


def documented_variables() -> set[str]:
    """The variables of README's configuration table."""
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"`((?:FUSEBOX|REDIS)_[A-Z0-9_]+)`", table))


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_object_is_valid_for_the_pinned_kubernetes_versions(rendered, version):
    for obj in rendered:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{obj['kind']}/{obj['metadata']['name']} is invalid for Kubernetes {version}: "
                        f"{exc.message} at {list(exc.path)}")


def test_the_render_holds_the_whole_deployment_in_one_namespace(rendered):
    kinds = sorted((obj["kind"], obj["metadata"]["name"]) for obj in rendered)
    assert kinds == sorted([
        ("Namespace", "fusebox"), ("ConfigMap", CONFIG_MAP), ("Job", "fusebox-migrate"),
        ("Deployment", "fusebox-aggregator"), ("PodDisruptionBudget", "fusebox-aggregator"),
        ("Deployment", "fusebox-api"), ("Service", "fusebox-api"), ("PodDisruptionBudget", "fusebox-api"),
    ])
    for obj in rendered:
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == "fusebox", obj["metadata"]["name"]
    # the secret is the operator's to create: a committed one would carry a known JWT secret
    assert not by_kind(rendered, "Secret")


def test_long_running_containers_probe_healthz_for_liveness_and_readyz_for_readiness(rendered):
    for where, container, _ in containers(rendered):
        if where.startswith("Job/"):
            continue  # a one-shot migration: it ends, nothing routes to it
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
            assert probe in container, f"{where} has no {probe}"
            get = container[probe]["httpGet"]
            assert get["path"] == path, f"{where} {probe} asks {get['path']}"
            assert get["port"] in ports or get["port"] in ports.values(), f"{where} {probe} port {get['port']}"


def test_every_container_requests_and_limits_cpu_and_memory(rendered):
    for where, container, _ in containers(rendered):
        resources = container.get("resources", {})
        for kind in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                assert resource in resources.get(kind, {}), f"{where} has no {kind}.{resource}"


def test_every_container_runs_as_non_root_with_a_read_only_root_and_no_privilege_escalation(rendered):
    for where, container, pod in containers(rendered):
        pod_security = pod.get("securityContext", {})
        security = container.get("securityContext", {})
        non_root = security.get("runAsNonRoot", pod_security.get("runAsNonRoot"))
        user = security.get("runAsUser", pod_security.get("runAsUser"))
        assert non_root is True, f"{where} may run as root"
        assert user not in (None, 0), f"{where} has no non-zero runAsUser"
        assert security.get("readOnlyRootFilesystem") is True, f"{where} has a writable root filesystem"
        assert security.get("allowPrivilegeEscalation") is False, f"{where} allows privilege escalation"
        assert security.get("privileged", False) is False, f"{where} is privileged"
        assert security.get("capabilities", {}).get("drop") == ["ALL"], f"{where} keeps Linux capabilities"
        assert pod_security.get("seccompProfile", {}).get("type") == "RuntimeDefault", f"{where} seccomp"


def test_a_read_only_root_leaves_the_aggregator_a_writable_data_dir(rendered):
    dockerfile = (DEPLOY / "docker" / "Dockerfile").read_text()
    data_dir = re.search(r"FUSEBOX_AGGREGATOR_DATA_DIR=(\S+)", dockerfile).group(1)
    _, container, pod = next(c for c in containers(rendered) if c[0].startswith("Deployment/fusebox-aggregator/"))
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = [m for m in container["volumeMounts"] if data_dir.startswith(m["mountPath"].rstrip("/") + "/")]
    assert mounts and not mounts[0].get("readOnly", False), f"{data_dir} is on no writable volume"
    assert "emptyDir" in volumes[mounts[0]["name"]]
    for where, container, _ in containers(rendered):
        assert any(m["mountPath"] == "/tmp" for m in container.get("volumeMounts", [])), f"{where} has no /tmp"


def test_every_image_is_pinned_to_a_tag_that_is_not_latest(rendered):
    for where, container, _ in containers(rendered):
        image = container["image"]
        name = image.rsplit("/", 1)[-1].split("@", 1)[0]  # the tag follows the last path segment's ':'
        tag = name.partition(":")[2]
        assert tag and tag != "latest", f"{where} runs {image!r}: no pinned tag"


def test_aggregator_workers_never_outnumber_the_partitions_of_call_outcomes(rendered):
    aggregator = named(rendered, "Deployment", "fusebox-aggregator")
    spec = aggregator["spec"]
    rolling = spec["strategy"]["rollingUpdate"]
    surge = int(rolling["maxSurge"])
    # a worker beyond the partition count holds no partition, and each join costs a rebalance
    assert 1 <= spec["replicas"] + surge <= CALL_OUTCOMES.partitions, (spec["replicas"], surge)
    assert str(rolling["maxUnavailable"]) == "1", "workers are replaced one at a time"


def test_each_deployment_has_a_disruption_budget_that_selects_its_pods(rendered):
    budgets = by_kind(rendered, "PodDisruptionBudget")
    for deployment in by_kind(rendered, "Deployment"):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        matching = [b for b in budgets if b["spec"]["selector"]["matchLabels"].items() <= labels.items()]
        assert len(matching) == 1, f"{deployment['metadata']['name']} has {len(matching)} disruption budgets"
        budget = matching[0]["spec"]
        replicas = deployment["spec"]["replicas"]
        if "minAvailable" in budget:
            assert 1 <= int(budget["minAvailable"]) < replicas, "a drain must be able to proceed"
        else:
            assert int(budget["maxUnavailable"]) == 1


def test_config_comes_from_the_config_map_and_secrets_from_the_secret(rendered):
    config = named(rendered, "ConfigMap", CONFIG_MAP)["data"]
    known = documented_variables()
    assert set(config) <= known, f"undocumented settings in the ConfigMap: {sorted(set(config) - known)}"
    for key in SECRET_KEYS:
        assert key not in config, f"{key} belongs in the Secret"
    for where, container, _ in containers(rendered):
        assert {"configMapRef": {"name": CONFIG_MAP}} in container.get("envFrom", []), f"{where} misses the config"
        env = {e["name"]: e for e in container.get("env", [])}
        for key in SECRET_KEYS:
            assert key in env, f"{where} does not read {key}"
            assert "value" not in env[key], f"{where} has {key} in clear"
            assert env[key]["valueFrom"]["secretKeyRef"] == {"name": SECRET, "key": key}, where
        for name, entry in env.items():
            assert name in known, f"{where} sets undocumented {name}"
    example = yaml.safe_load((K8S / "secret.example.yaml").read_text())
    assert example["kind"] == "Secret" and example["metadata"]["name"] == SECRET
    assert set(example["stringData"]) == set(SECRET_KEYS)


def test_container_ports_agree_with_the_configured_ports(rendered):
    config = named(rendered, "ConfigMap", CONFIG_MAP)["data"]
    expected = {"fusebox-aggregator": int(config["FUSEBOX_AGGREGATOR_PORT"]),
                "fusebox-api": int(config["FUSEBOX_API_PORT"])}
    for deployment in by_kind(rendered, "Deployment"):
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        ports = [p["containerPort"] for p in container["ports"]]
        name = deployment["metadata"]["name"]
        assert ports == [expected[name]], (name, ports)
        annotation = deployment["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"]
        assert int(annotation) == expected[name]
    service = named(rendered, "Service", "fusebox-api")
    assert service["spec"]["selector"] == {"app": "fusebox-api"}


def test_every_container_runs_a_fusebox_command(rendered):
    from fusebox.cli import COMMANDS

    for where, container, _ in containers(rendered):
        args = container.get("args", [])
        assert "command" not in container, f"{where} overrides the image's entry point"
        assert args and args[0] in COMMANDS, f"{where} runs {args!r}, not a fusebox command"
