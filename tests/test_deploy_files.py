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

import pytest
import yaml

import grafana_check
from brownout.cli.main import build_parser
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


def manifests() -> dict[str, dict[str, Any]]:
    kustomization = yaml.safe_load((DASHBOARDS / "kubernetes" / "kustomization.yaml").read_text())
    found = {}
    for resource in kustomization["resources"]:
        for document in yaml.safe_load_all((DASHBOARDS / "kubernetes" / resource).read_text()):
            found[document["kind"]] = document
    return found


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
    kustomization = yaml.safe_load((DASHBOARDS / "kubernetes" / "kustomization.yaml").read_text())
    assert kustomization["images"][0]["name"] == sidecar["image"]
