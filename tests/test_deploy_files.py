"""The files users deploy with: compose.yaml, Grafana provisioning, the Dockerfile, Kubernetes manifests.

Docker and Kubernetes cannot run here, so these check what can be checked without them: every
file the stack mounts or copies exists, images are pinned, ports are overridable, the commands the
containers run parse with brownout's own argument parser, and the pieces name each other
consistently (services, ports, uids, paths, the ConfigMap).
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

import grafana_check
from brownout.cli.main import build_parser
from brownout.fleet.link import url_problem
from brownout.scenario.compile import load_scenario

REPO = grafana_check.REPO
DASHBOARDS = REPO / "dashboards"
COMPOSE = DASHBOARDS / "compose.yaml"
ADMIN_PORT = 9180
PROXY_PORT = 8080
_INTERPOLATION = re.compile(r"\$\$|\$\{(\w+)(?::-([^}]*))?\}|\$(\w+)")
_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def interpolate(text: str, env: dict[str, str] | None = None) -> str:
    """Compose's variable interpolation for the forms used here: `${VAR}`, `${VAR:-default}`, `$$`."""
    env = env or {}

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(3)
        return env.get(name) or (match.group(2) or "")

    return _INTERPOLATION.sub(substitute, text)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def brownout_args(args: list[str]) -> Any:
    return build_parser().parse_args(args)


def bind_mounts(service: dict[str, Any]) -> list[tuple[str, str, str]]:
    mounts = []
    for volume in service.get("volumes", []):
        source, target, *mode = volume.split(":")
        if source.startswith((".", "/")):
            mounts.append((source, target, mode[0] if mode else "rw"))
    return mounts


# -- compose.yaml


def test_compose_parses_without_the_obsolete_version_key(compose: dict[str, Any]) -> None:
    assert "version" not in compose
    assert set(compose["services"]) == {"brownout", "prometheus", "grafana"}


def test_compose_images_are_pinned(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        image = service["image"]
        tag = image.split("@")[0].rsplit(":", 1)
        assert len(tag) == 2 and tag[1] not in ("", "latest"), f"{name}: pin {image} to a version"
        if "build" not in service:
            assert _DIGEST.search(image), f"{name}: pin {image} by digest too"


def test_every_mounted_file_exists_and_configs_are_read_only(compose: dict[str, Any]) -> None:
    mounted = 0
    for name, service in compose["services"].items():
        for source, _target, mode in bind_mounts(service):
            assert (COMPOSE.parent / source).exists(), f"{name}: {source} does not exist"
            assert mode == "ro", f"{name}: mount {source} read-only"
            mounted += 1
    assert mounted >= 4
    named = {v.split(":")[0] for s in compose["services"].values() for v in s.get("volumes", [])}
    assert {v for v in named if not v.startswith(".")} <= set(compose.get("volumes", {}))


def test_compose_ports_are_overridable_and_local(compose: dict[str, Any]) -> None:
    published = {}
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            match = re.fullmatch(r"127\.0\.0\.1:\$\{(\w+):-(\d+)\}:(\d+)", port)
            assert match, f"{name}: publish as 127.0.0.1:${{NAME:-default}}:port, not {port}"
            published[match.group(1)] = (int(match.group(2)), int(match.group(3)))
    assert published == {
        "BROWNOUT_PORT": (PROXY_PORT, PROXY_PORT),
        "BROWNOUT_ADMIN_PORT": (ADMIN_PORT, ADMIN_PORT),
        "PROMETHEUS_PORT": (9090, 9090),
        "GRAFANA_PORT": (3000, 3000),
    }
    assert interpolate("127.0.0.1:${GRAFANA_PORT:-3000}:3000", {"GRAFANA_PORT": "3300"}) == "127.0.0.1:3300:3000"


def test_brownout_service_builds_from_the_repo_and_its_command_parses(compose: dict[str, Any]) -> None:
    service = compose["services"]["brownout"]
    assert (COMPOSE.parent / service["build"]["context"] / service["build"]["dockerfile"]).resolve() == (
        REPO / "Dockerfile"
    )
    for env in ({}, {"BROWNOUT_COMMAND": "run --listen-host 0.0.0.0 --admin-host 0.0.0.0 --scenario demo"}):
        args = brownout_args(shlex.split(interpolate(service["command"], env)))
        assert args.listen_host == "0.0.0.0" and args.admin_host == "0.0.0.0"
        assert args.port == PROXY_PORT and args.admin_port == ADMIN_PORT
    assert brownout_args(shlex.split(interpolate(service["command"]))).command == "demo"
    # The admin port binds beyond loopback in the container: brownout refuses to start without a token.
    assert interpolate(service["environment"]["BROWNOUT_ADMIN_TOKEN"])


def test_prometheus_scrapes_the_brownout_service(compose: dict[str, Any]) -> None:
    config = yaml.safe_load((DASHBOARDS / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    targets = jobs["brownout"]["static_configs"][0]["targets"]
    assert targets == [f"brownout:{ADMIN_PORT}"]
    # The admin port answers only to its addresses and the names it is told (DNS rebinding).
    from brownout.control.access import Access

    allowed = compose["services"]["brownout"]["environment"]["BROWNOUT_ADMIN_HOSTS"].split(",")
    assert Access.of("0.0.0.0", allowed).host_problem(targets[0], ADMIN_PORT) is None
    mounts = {target: source for source, target, _ in bind_mounts(compose["services"]["prometheus"])}
    config_path = next(a.split("=", 1)[1] for a in compose["services"]["prometheus"]["command"] if "config.file" in a)
    assert mounts[config_path] == "./prometheus.yml"
    rules_dir = str(Path(config_path).parent / "rules")
    assert mounts[rules_dir] == "./rules" and config["rule_files"] == ["rules/*.yml"]


def test_grafana_provisioning_matches_the_mounts(compose: dict[str, Any]) -> None:
    grafana = compose["services"]["grafana"]
    mounts = {source: target for source, target, _ in bind_mounts(grafana)}
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"
    provider = yaml.safe_load((DASHBOARDS / "grafana/provisioning/dashboards/brownout.yaml").read_text())
    path = provider["providers"][0]["options"]["path"]
    assert Path(mounts["./brownout.json"]).parent == Path(path)
    assert grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"] == mounts["./brownout.json"]
    assert grafana["environment"]["GF_AUTH_ANONYMOUS_ENABLED"] == "true"
    assert grafana["environment"]["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"

    datasource = yaml.safe_load((DASHBOARDS / "grafana/provisioning/datasources/brownout.yaml").read_text())
    source = datasource["datasources"][0]
    assert source["url"] == "http://prometheus:9090" and source["uid"] == "prometheus"
    scrape = yaml.safe_load((DASHBOARDS / "prometheus.yml").read_text())["global"]["scrape_interval"]
    assert source["jsonData"]["timeInterval"] == scrape, "$__rate_interval needs the scrape interval"
    dashboard = json.loads((DASHBOARDS / "brownout.json").read_text())
    assert dashboard["uid"] == "brownout"


# -- Dockerfile


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in (REPO / "Dockerfile").read_text().splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        text = pending + stripped
        pending = ""
        keyword, _, rest = text.partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
    assert not pending, "Dockerfile ends inside a continued line"
    return instructions


def dockerignored(path: str) -> bool:
    patterns = [
        p.strip() for p in (REPO / ".dockerignore").read_text().splitlines() if p.strip() and not p.startswith("#")
    ]
    return any(fnmatch.fnmatch(path, p) or fnmatch.fnmatch(path.split("/")[0], p) for p in patterns)


def test_dockerfile_instructions_are_known_and_images_pinned() -> None:
    known = {"FROM", "COPY", "ENV", "WORKDIR", "RUN", "USER", "EXPOSE", "HEALTHCHECK", "ENTRYPOINT", "CMD", "ARG"}
    instructions = dockerfile()
    assert {keyword for keyword, _ in instructions} <= known
    images = [rest.split()[0] for keyword, rest in instructions if keyword == "FROM"]
    images += [
        re.search(r"--from=(\S+)", rest).group(1)  # type: ignore[union-attr]
        for keyword, rest in instructions
        if keyword == "COPY" and "--from=" in rest
    ]
    assert images
    for image in images:
        name, _, tag = image.partition(":")
        assert tag and tag != "latest" and re.search(r"\d", tag), f"pin {image} to a version"


def test_dockerfile_copies_only_what_exists_and_is_not_ignored() -> None:
    copied = []
    for keyword, rest in dockerfile():
        if keyword != "COPY" or "--from=" in rest:
            continue
        *sources, _destination = rest.split()
        for source in sources:
            assert (REPO / source).exists(), f"COPY {source}: no such file in the build context"
            assert not dockerignored(source), f"COPY {source}: excluded by .dockerignore"
            copied.append(source)
    assert {"pyproject.toml", "uv.lock", "README.md", "addons", "scenarios"} <= set(copied)
    assert dockerignored(".venv") and dockerignored("tests") and dockerignored(".git")


def test_dockerfile_installs_with_uv_and_runs_brownout_on_all_interfaces() -> None:
    instructions = dockerfile()
    runs = [rest for keyword, rest in instructions if keyword == "RUN"]
    assert any("uv sync --frozen --no-dev" in run for run in runs)
    entrypoint = json.loads(next(rest for keyword, rest in instructions if keyword == "ENTRYPOINT"))
    cmd = json.loads(next(rest for keyword, rest in instructions if keyword == "CMD"))
    assert entrypoint == ["brownout"]
    args = brownout_args(cmd)
    assert args.command == "run" and args.listen_host == "0.0.0.0" and args.admin_host == "0.0.0.0"
    exposed = {int(p) for keyword, rest in instructions if keyword == "EXPOSE" for p in rest.split()}
    assert exposed == {args.port, args.admin_port}
    user = next(rest for keyword, rest in instructions if keyword == "USER")
    assert user not in ("root", "0")


# -- Kubernetes


KUBERNETES = DASHBOARDS / "kubernetes"
SIDECAR = KUBERNETES / "sidecar"


def kustomization(directory: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((directory / "kustomization.yaml").read_text())
    return data


def json_patch_add(document: dict[str, Any], operation: dict[str, Any]) -> None:
    """RFC 6902's `add` (the only operation these kustomizations use): a key set, a list item inserted
    (`-`: appended); every step of the path before the last must exist."""
    assert operation["op"] == "add", f"only add is used here, not {operation['op']}"
    *parents, last = [step.replace("~1", "/").replace("~0", "~") for step in operation["path"].split("/")[1:]]
    node: Any = document
    for step in parents:
        node = node[int(step)] if isinstance(node, list) else node[step]
    if isinstance(node, list):
        node.insert(len(node) if last == "-" else int(last), operation["value"])
    else:
        node[last] = operation["value"]


def kustomize(directory: Path) -> list[dict[str, Any]]:
    """What `kubectl kustomize` makes of the parts these kustomizations use: resources (files, or
    directories with a kustomization of their own), `replicas`, and JSON patches with `add`.
    Anything else fails here, so a new kind of entry is noticed rather than ignored."""
    spec = kustomization(directory)
    assert set(spec) <= {"apiVersion", "kind", "resources", "images", "replicas", "patches"}, sorted(spec)
    documents: list[dict[str, Any]] = []
    for resource in spec["resources"]:
        path = (directory / resource).resolve()
        assert path.is_relative_to(KUBERNETES), f"{directory.name}: {resource} is outside dashboards/kubernetes"
        if path.is_dir():
            documents += kustomize(path)
        else:
            assert path.parent == directory.resolve(), f"{resource}: kustomize reads files only below its root"
            documents += [document for document in yaml.safe_load_all(path.read_text()) if document]

    def target(kind: str | None, name: str) -> dict[str, Any]:
        found = [d for d in documents if d["metadata"]["name"] == name and kind in (None, d["kind"])]
        assert len(found) == 1, f"{directory.name}: {kind} {name} matches {len(found)} resources"
        return found[0]

    for entry in spec.get("replicas", []):
        target(None, entry["name"])["spec"]["replicas"] = entry["count"]
    for patch in spec.get("patches", []):
        resource = target(patch["target"]["kind"], patch["target"]["name"])
        for operation in yaml.safe_load(patch["patch"]):
            json_patch_add(resource, operation)
    return documents


def manifests() -> dict[str, dict[str, Any]]:
    return {document["kind"]: document for document in kustomize(SIDECAR)}


def test_kubernetes_scenarios_are_valid(tmp_path: Path) -> None:
    configmap = manifests()["ConfigMap"]
    assert configmap["data"]
    for key, text in configmap["data"].items():
        path = tmp_path / key
        path.write_text(text)
        scenario = load_scenario(path)  # raises with file:line: key: message on any problem
        assert scenario.name == path.stem, f"{key}: name the scenario after its key"


def test_kubernetes_sidecar_wiring() -> None:
    found = manifests()
    deployment, configmap = found["Deployment"], found["ConfigMap"]
    pod = deployment["spec"]["template"]
    containers = {c["name"]: c for c in pod["spec"]["containers"]}
    sidecar = containers["brownout"]
    args = brownout_args(sidecar["args"])
    assert args.command == "run" and args.listen_host == "127.0.0.1" and args.admin_host == "0.0.0.0"
    assert any(e["name"] == "BROWNOUT_ADMIN_TOKEN" and "secretKeyRef" in e["valueFrom"] for e in sidecar["env"])
    # On SIGTERM the drain ends before the kubelet's SIGKILL, with time to spare.
    from brownout.units import parse_duration

    assert parse_duration(args.shutdown_grace) + 5 <= pod["spec"]["terminationGracePeriodSeconds"]

    # Scenarios: the ConfigMap mounted as a whole directory (a subPath mount is never updated).
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    mount = next(m for m in sidecar["volumeMounts"] if m["mountPath"] == args.library)
    assert "subPath" not in mount and mount["readOnly"] is True
    assert volumes[mount["name"]]["configMap"]["name"] == configmap["metadata"]["name"]

    # Prometheus finds the admin port through the pod annotations.
    annotations = pod["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert int(annotations["prometheus.io/port"]) == args.admin_port == ADMIN_PORT
    assert annotations["prometheus.io/path"] == "/metrics"
    ports = {p["name"]: p["containerPort"] for p in sidecar["ports"]}
    assert ports["admin"] == args.admin_port
    assert sidecar["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": "admin"}

    # The app reaches the proxy on the pod's loopback, through the provider prefixes.
    app_env = {e["name"]: e.get("value") for e in containers["app"]["env"]}
    assert app_env["OPENAI_BASE_URL"] == f"http://127.0.0.1:{args.port}/openai/v1"
    assert app_env["ANTHROPIC_BASE_URL"] == f"http://127.0.0.1:{args.port}/anthropic"

    # The image runs as uid 10001 with a read-only root: mitmproxy's home must be writable.
    assert sidecar["securityContext"]["runAsUser"] == 10001
    assert any(m["mountPath"] == "/home/brownout" for m in sidecar["volumeMounts"])
    assert kustomization(SIDECAR)["images"][0]["name"] == sidecar["image"]


# -- a fleet: compose.fleet.yaml, kubernetes/redis, kubernetes/fleet, kubernetes/fleet-sidecars

COMPOSE_FLEET = DASHBOARDS / "compose.fleet.yaml"
REPLICAS = ("brownout-1", "brownout-2", "brownout-3")
REDIS_PORT = 6379


@pytest.fixture(scope="module")
def fleet_compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE_FLEET.read_text())
    return data


def redis_address(args: Any) -> tuple[str, int]:
    """The host and port of a replica's `--redis` URL."""
    assert url_problem(args.redis.replace("$(REDIS_PASSWORD)", "secret")) is None, args.redis
    url = urlsplit(args.redis)
    assert url.scheme == "redis" and url.path in ("", "/0"), args.redis
    return url.hostname or "", url.port or REDIS_PORT


def test_fleet_compose_runs_three_replicas_on_one_redis(fleet_compose: dict[str, Any]) -> None:
    services = fleet_compose["services"]
    assert "version" not in fleet_compose
    assert set(services) == {"redis", "sim", *REPLICAS, "prometheus", "grafana"}
    for name in REPLICAS:
        service = services[name]
        args = brownout_args([interpolate(arg) for arg in service["command"]])
        assert args.command == "run" and args.listen_host == "0.0.0.0" and args.admin_host == "0.0.0.0"
        assert redis_address(args) == ("redis", REDIS_PORT)
        assert {"redis", "sim"} <= set(service["depends_on"])
        # Every replica's upstream is the simulator service, at the port it listens on.
        sim = brownout_args(services["sim"]["command"])
        assert sim.command == "sim" and sim.host == "0.0.0.0"
        assert len(args.upstream) == 3
        for upstream in args.upstream:
            provider, _, url = upstream.partition("=")
            assert urlsplit(url).netloc == f"sim:{sim.port}" and urlsplit(url).path == f"/{provider}", upstream
        assert (COMPOSE_FLEET.parent / service["build"]["context"] / service["build"]["dockerfile"]).resolve() == (
            REPO / "Dockerfile"
        )
        assert interpolate(service["environment"]["BROWNOUT_ADMIN_TOKEN"])
    redis = services["redis"]
    assert _DIGEST.search(redis["image"]), "pin Redis by tag and digest"
    command = redis["command"]
    assert command[0] == "redis-server" and command[command.index("--appendonly") + 1] == "yes"
    assert any(volume.endswith(":/data") for volume in redis["volumes"]), "Redis keeps its file on a volume"


def test_fleet_compose_ports_and_mounts(fleet_compose: dict[str, Any]) -> None:
    published: dict[str, tuple[int, int]] = {}
    for name, service in fleet_compose["services"].items():
        for port in service.get("ports", []):
            match = re.fullmatch(r"127\.0\.0\.1:\$\{(\w+):-(\d+)\}:(\d+)", port)
            assert match, f"{name}: publish as 127.0.0.1:${{NAME:-default}}:port, not {port}"
            published[match.group(1)] = (int(match.group(2)), int(match.group(3)))
        image = service["image"]
        if "build" not in service:
            assert _DIGEST.search(image), f"{name}: pin {image} by digest too"
        for source, _target, mode in bind_mounts(service):
            assert (COMPOSE_FLEET.parent / source).exists(), f"{name}: {source} does not exist"
            assert mode == "ro", f"{name}: mount {source} read-only"
    replicas = {f"BROWNOUT_{i}_PORT": (PROXY_PORT + i - 1, PROXY_PORT) for i in (1, 2, 3)}
    admins = {f"BROWNOUT_{i}_ADMIN_PORT": (ADMIN_PORT + i - 1, ADMIN_PORT) for i in (1, 2, 3)}
    assert published == {**replicas, **admins, "PROMETHEUS_PORT": (9090, 9090), "GRAFANA_PORT": (3000, 3000)}
    named = {v.split(":")[0] for s in fleet_compose["services"].values() for v in s.get("volumes", [])}
    assert {v for v in named if not v.startswith(".")} <= set(fleet_compose["volumes"])


def test_fleet_prometheus_scrapes_every_replica(fleet_compose: dict[str, Any]) -> None:
    prometheus = fleet_compose["services"]["prometheus"]
    mounts = {target: source for source, target, _ in bind_mounts(prometheus)}
    config_path = next(a.split("=", 1)[1] for a in prometheus["command"] if "config.file" in a)
    config = yaml.safe_load((COMPOSE_FLEET.parent / mounts[config_path]).read_text())
    assert mounts[str(Path(config_path).parent / "rules")] == "./rules" and config["rule_files"] == ["rules/*.yml"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    targets = jobs["brownout"]["static_configs"][0]["targets"]
    assert targets == [f"{name}:{ADMIN_PORT}" for name in REPLICAS]
    from brownout.control.access import Access

    for index, name in enumerate(REPLICAS):
        access = Access.of("0.0.0.0", fleet_compose["services"][name]["environment"]["BROWNOUT_ADMIN_HOSTS"].split(","))
        assert access.host_problem(f"{name}:{ADMIN_PORT}", ADMIN_PORT) is None
        # `brownout ctl --admin http://127.0.0.1:918N` on the host, through the published port.
        assert access.host_problem(f"127.0.0.1:{ADMIN_PORT + index}", ADMIN_PORT) is None
    grafana = fleet_compose["services"]["grafana"]
    assert {s: t for s, t, _ in bind_mounts(grafana)} == {
        s: t for s, t, _ in bind_mounts(yaml.safe_load(COMPOSE.read_text())["services"]["grafana"])
    }, "the fleet's Grafana is provisioned as compose.yaml's"


def by_kind(documents: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for document in documents:
        key = (document["kind"], document["metadata"]["name"])
        assert key not in found, f"{key} defined twice"
        found[key] = document
    return found


def container_env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in container.get("env", [])}


def expanded_variables(text: str) -> set[str]:
    """The `$(NAME)` references Kubernetes expands in a container's args from its env."""
    return set(re.findall(r"\$\((\w+)\)", text))


def check_joins_the_redis(pod: dict[str, Any], container: dict[str, Any], found: dict[Any, Any]) -> Any:
    """A container of `pod` uses `--redis` with the Redis Service's name and port, the Redis's own
    password (from the same secret), and the label the Redis's NetworkPolicy lets in."""
    args = brownout_args(container["args"])
    service = found[("Service", "brownout-redis")]
    assert redis_address(args) == (service["metadata"]["name"], service["spec"]["ports"][0]["port"])
    env = container_env(container)
    for name in expanded_variables(args.redis):
        assert name in env, f"--redis uses $({name}), which the container's env lacks"
    redis_container = found[("StatefulSet", "brownout-redis")]["spec"]["template"]["spec"]["containers"][0]
    password = container_env(redis_container)["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"]
    assert "$(REDIS_PASSWORD)" in redis_container["args"] and "$(REDIS_PASSWORD)@" in args.redis
    assert env["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"] == password
    policy = found[("NetworkPolicy", "brownout-redis")]["spec"]
    allowed = policy["ingress"][0]["from"][0]["podSelector"]["matchLabels"]
    assert allowed.items() <= pod["metadata"]["labels"].items(), "the Redis's NetworkPolicy keeps this pod out"
    return args


def test_kubernetes_redis_is_persistent_pinned_and_fenced() -> None:
    found = by_kind(kustomize(KUBERNETES / "redis"))
    statefulset, service = found[("StatefulSet", "brownout-redis")], found[("Service", "brownout-redis")]
    pod = statefulset["spec"]["template"]
    container = pod["spec"]["containers"][0]
    assert _DIGEST.search(container["image"]), "pin Redis by tag and digest"
    args = container["args"]
    assert args[0] == "redis-server" and args[args.index("--appendonly") + 1] == "yes"
    data = next(m for m in container["volumeMounts"] if m["mountPath"] == "/data")
    assert data["name"] in {claim["metadata"]["name"] for claim in statefulset["spec"]["volumeClaimTemplates"]}
    labels = pod["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] in {p["name"] for p in container["ports"]}
    assert {p["containerPort"] for p in container["ports"]} == {REDIS_PORT}
    policy = found[("NetworkPolicy", "brownout-redis")]["spec"]
    assert policy["podSelector"]["matchLabels"].items() <= labels.items() and policy["policyTypes"] == ["Ingress"]


def test_kubernetes_fleet_replicas_behind_a_service() -> None:
    found = by_kind(kustomize(KUBERNETES / "fleet"))
    deployment, service = found[("Deployment", "brownout")], found[("Service", "brownout")]
    assert deployment["spec"]["replicas"] >= 3
    pod = deployment["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    args = check_joins_the_redis(pod, container, found)
    assert args.command == "run" and args.listen_host == "0.0.0.0" and args.admin_host == "0.0.0.0"
    from brownout.control.access import Access
    from brownout.units import parse_duration

    assert parse_duration(args.shutdown_grace) + 5 <= pod["spec"]["terminationGracePeriodSeconds"]
    env = container_env(container)
    assert "secretKeyRef" in env["BROWNOUT_ADMIN_TOKEN"]["valueFrom"]
    allowed = env["BROWNOUT_ADMIN_HOSTS"]["value"].split(",")
    assert Access.of(args.admin_host, allowed).host_problem(f"brownout:{ADMIN_PORT}", args.admin_port) is None

    # The Service reaches the proxy and admin ports of the pods it selects.
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"proxy": args.port, "admin": args.admin_port}
    assert {p["targetPort"]: p["port"] for p in service["spec"]["ports"]} == ports
    annotations = pod["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true" and int(annotations["prometheus.io/port"]) == args.admin_port

    # The library: the fleet's ConfigMap, mounted as a whole directory; its scenarios are valid.
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == args.library)
    assert "subPath" not in mount
    configmap = found[("ConfigMap", volumes[mount["name"]]["configMap"]["name"])]
    assert configmap["data"]
    assert kustomization(KUBERNETES / "fleet")["images"][0]["name"] == container["image"]


def test_kubernetes_fleet_scenarios_are_valid(tmp_path: Path) -> None:
    configmap = by_kind(kustomize(KUBERNETES / "fleet"))[("ConfigMap", "brownout-fleet-scenarios")]
    for key, text in configmap["data"].items():
        path = tmp_path / key
        path.write_text(text)
        assert load_scenario(path).name == path.stem, f"{key}: name the scenario after its key"


def test_kubernetes_fleet_of_sidecars() -> None:
    """The sidecar overlay: the app has several replicas and every sidecar joins the Redis; the rest
    of the sidecar is the plain one's."""
    found = by_kind(kustomize(KUBERNETES / "fleet-sidecars"))
    deployment = found[("Deployment", "my-app")]
    assert deployment["spec"]["replicas"] >= 3
    pod = deployment["spec"]["template"]
    containers = {c["name"]: c for c in pod["spec"]["containers"]}
    args = check_joins_the_redis(pod, containers["brownout"], found)
    plain_pod = manifests()["Deployment"]["spec"]["template"]
    plain = next(c for c in plain_pod["spec"]["containers"] if c["name"] == "brownout")
    assert containers["brownout"]["args"] == [*plain["args"], f"--redis={args.redis}"]
    assert args.listen_host == "127.0.0.1", "a sidecar serves its own pod only"
    assert manifests()["Deployment"]["spec"]["replicas"] == 1, "the plain sidecar is left as it was"


def test_kustomize_stand_in_applies_patches_and_refuses_what_it_does_not_know(tmp_path: Path) -> None:
    document: dict[str, Any] = {"spec": {"args": ["a"], "labels": {}}}
    json_patch_add(document, {"op": "add", "path": "/spec/args/-", "value": "b"})
    json_patch_add(document, {"op": "add", "path": "/spec/args/0", "value": "z"})
    json_patch_add(document, {"op": "add", "path": "/spec/labels/x~1y", "value": "1"})
    assert document == {"spec": {"args": ["z", "a", "b"], "labels": {"x/y": "1"}}}
    with pytest.raises(AssertionError, match="only add"):
        json_patch_add(document, {"op": "remove", "path": "/spec/args/0"})
    (tmp_path / "kustomization.yaml").write_text("resources: []\nconfigMapGenerator: []\n")
    with pytest.raises(AssertionError, match="configMapGenerator"):
        kustomize(tmp_path)
