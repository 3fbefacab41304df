"""The deployment files agree with the code: every service and tool is built, composed and
deployed; they use only settings the code documents; probes, users and references are sound.

Pure file checks (no Docker engine or cluster here). Every image is built from deploy/Dockerfile
with the build arguments docker-compose.yml gives it; the Kubernetes workloads are what
`kubectl kustomize` renders from each overlay (those checks need kubectl).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
COMPOSE = ROOT / "docker-compose.yml"
DEMO_ENV = ROOT / "deploy" / "demo.env"  # the demo's values: `docker compose --env-file deploy/demo.env`
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
SERVICE_COMPONENT = K8S / "components" / "service"  # a service's Deployment and Service
OVERLAYS = ("dev", "production")

# The shared names (docs/architecture.md "Two ways to run", README.md); services add theirs in their READMEs
# or module docstrings, which `documented_env()` reads.
SHARED_ENV = {
    "DATABASE_URL",
    "KAFKA_BOOTSTRAP_SERVERS",
    "LINE_CHANNEL_SECRET",
    "LINE_CHANNEL_ACCESS_TOKEN",
    "LINE_API_URL",
    "CITYHALL_PORT",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "CITYHALL_PUBLIC_URL",
    "CITYHALL_BIND_HOST",
    "CITYHALL_SESSION_SECRET",
}
# Created by hand before the first production apply (deploy/README.md, "Secrets").
PRODUCTION_SECRETS = {"line-channel", "cityhall-session", "payments"}
# Services mounted at the root ("") serve these paths there; any other serves "/".
ROOT_ROUTES = {"gateway": "/callback"}
ENV_NAME = re.compile(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b")
# A compose interpolation: ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}, ...
INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Z][A-Z0-9_]*)(?P<op>:?[-?+])?[^}]*\}")
SECRET_NAME = re.compile(r"SECRET|TOKEN|PASSWORD")
DEVELOPMENT_TOOLS = {
    ep.name for ep in entry_points(group="cityhall.services") if getattr(ep.load(), "development_only", False)
}


@dataclass(frozen=True)
class Package:
    name: str
    services: tuple[str, ...]  # its `cityhall.services` entry points


def packages(*folders: str) -> list[Package]:
    found = []
    for pyproject in sorted(p for folder in folders for p in ROOT.glob(f"{folder}/*/pyproject.toml")):
        project = tomllib.loads(pyproject.read_text())["project"]
        names = tuple(project.get("entry-points", {}).get("cityhall.services", {}))
        if names:
            found.append(Package(project["name"], names))
    return found


# The workspace packages with services to run (a library's too: libs/web's staff-portal).
PACKAGES = {p.name: p for p in packages("libs", "services", "tools")}
SERVICES = {s for p in PACKAGES.values() for s in p.services}


@dataclass(frozen=True)
class Image:
    name: str
    packages: tuple[str, ...]  # build argument PACKAGES
    service: str  # build argument SERVICE: the image runs `cityhall service <service>`
    build: dict[str, Any]  # its compose `build:`


def compose() -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return spec


def image_name(reference: str) -> str:
    """cityhall-gateway of registry.example.jp/cityhall/cityhall-gateway:0.1.0 (overlays may
    move an image to a registry)."""
    return reference.split(":")[0].rsplit("/", 1)[-1]


def images() -> dict[str, Image]:
    """Every image compose builds, by name, with the build arguments it is built with."""
    found: dict[str, Image] = {}
    for name, service in compose()["services"].items():
        if "build" not in service:
            continue
        args = service["build"].get("args", {})
        image = Image(
            image_name(service["image"]),
            tuple(args.get("PACKAGES", "").split()),
            args.get("SERVICE", ""),
            service["build"],
        )
        assert found.setdefault(image.name, image) == image, f"{name}: {image.name} is built two ways"
    return found


IMAGES = images()


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the final stage, then ("BUILD", ...) for the build stage's
    RUNs and ("BUILD-ARG", ...) for its ARGs; continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    instructions = [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]
    stages = [i for i, (op, _) in enumerate(instructions) if op == "FROM"]
    return instructions[stages[-1] :] + [
        ("BUILD" if op == "RUN" else "BUILD-ARG", args)
        for op, args in instructions[: stages[-1]]
        if op in ("RUN", "ARG")
    ]


def image_cmd(image: str) -> list[str]:
    return ["cityhall", "service", IMAGES[image_name(image)].service]


def documented_env() -> set[str]:
    names = set(SHARED_ENV)
    for readme in [ROOT / "README.md", *ROOT.glob("*/*/README.md")]:
        if not readme.is_relative_to(ROOT / "deploy"):
            names |= set(ENV_NAME.findall(readme.read_text()))
    for source in ROOT.glob("*/*/src/**/*.py"):
        match = re.match(r'\s*(?:#.*\n\s*)*(?:"""|\'\'\')(.*?)(?:"""|\'\'\')', source.read_text(), re.S)
        if match:  # the module docstring
            names |= set(ENV_NAME.findall(match.group(1)))
    return names


def k8s_documents() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in sorted(K8S.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            assert isinstance(doc, dict), f"{path}: not a mapping"
            yield path, doc


needs_kubectl = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")


@cache
def rendered(overlay: str) -> list[dict[str, Any]]:
    out = subprocess.run(
        ["kubectl", "kustomize", str(K8S / "overlays" / overlay)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def cityhall_containers(overlay: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, container) for every container of ours in a Deployment or Job the overlay renders."""
    for doc in rendered(overlay):
        if doc["kind"] in ("Deployment", "Job"):
            for container in doc["spec"]["template"]["spec"]["containers"]:
                if image_name(container["image"]) in IMAGES:
                    yield f"overlays/{overlay}:{doc['metadata']['name']}", container


def deployed(container: dict[str, Any]) -> tuple[str, ...]:
    """The command a container runs: its own, or its image's."""
    return tuple(container.get("command", []) + container.get("args", []) or image_cmd(container["image"]))


def compose_services() -> Iterator[tuple[str, dict[str, Any]]]:
    for name, service in compose()["services"].items():
        if image_name(service.get("image", "")) in IMAGES:
            yield name, service


def test_the_workspace_has_services_to_deploy() -> None:
    assert {"gateway", "notify", "line-emulator", "simulator"} <= SERVICES


def test_the_dockerfile_installs_only_the_named_packages_and_runs_the_service_as_a_non_root_container() -> (
    None
):
    steps = dockerfile()
    args = {op: [a for o, a in steps if o == op] for op in {op for op, _ in steps}}
    sync = " ".join(args["BUILD"])
    assert (
        "uv sync --locked --no-dev" in sync
        and '--package "$package"' in sync
        and "--all-packages" not in sync
    )
    assert "for package in $PACKAGES" in sync and "PACKAGES" in args["BUILD-ARG"]
    assert "SERVICE" in args["ARG"] and "CITYHALL_SERVICE=${SERVICE}" in " ".join(args["ENV"])
    assert json.loads(args["CMD"][-1]) == ["sh", "-c", 'exec cityhall service "$CITYHALL_SERVICE"']
    user = args["USER"][-1].split(":")[0]
    assert user not in ("root", "0")
    assert "8000" in args["EXPOSE"]
    assert "/healthz" in args["HEALTHCHECK"][-1]
    env = " ".join(args["ENV"])
    assert "CITYHALL_BIND_HOST=0.0.0.0" in env and "CITYHALL_PORT=8000" in env


def test_every_image_holds_every_services_declarations_without_their_dependencies() -> None:
    # The gateway and the staff portal read every service's ServiceSpec (cityhall.runtime.registry).
    build = [args for op, args in dockerfile() if op == "BUILD"]
    assert any("uv pip install" in run and "--no-deps services/*/" in run for run in build), build


def test_the_image_gets_its_files_only_from_its_build_stage() -> None:
    # The build stage installs from the repository (the one context); anything else copied in
    # (`COPY --from=<name>`, a file beside the repository) would need another build context.
    copies = [args for op, args in dockerfile() if op in ("COPY", "ADD")]
    assert copies and all(args.startswith("--from=build ") for args in copies), copies


@pytest.mark.parametrize("image", IMAGES.values(), ids=lambda i: i.name)
def test_each_image_holds_the_package_of_the_service_it_runs(image: Image) -> None:
    assert image.packages and set(image.packages) <= set(PACKAGES), f"{image.name}: unknown {image.packages}"
    assert any(image.service in PACKAGES[p].services for p in image.packages), image
    assert image.name == f"cityhall-{image.service}"


def test_compose_builds_every_image_from_the_one_dockerfile() -> None:
    declared = {args.split("=")[0] for op, args in dockerfile() if op in ("ARG", "BUILD-ARG")}
    for image in IMAGES.values():
        build = image.build
        assert build["context"] == "."
        assert set(build) <= {"context", "dockerfile", "args"}, (
            f"{image.name}: the repository is the only build context"
        )
        assert ROOT / build["dockerfile"] == DOCKERFILE, image.name
        assert {"PACKAGES", "SERVICE"} <= set(build["args"]) <= declared, image.name


def test_every_service_is_built_and_run_by_compose() -> None:
    built = {image.service for image in IMAGES.values()}
    composed = {
        tuple(service.get("command") or image_cmd(service["image"])) for _, service in compose_services()
    }
    for name in SERVICES:
        assert name in built, f"no image in docker-compose.yml runs {name}"
        assert ("cityhall", "service", name) in composed, f"no compose service runs {name}"


def test_every_service_has_a_kubernetes_folder() -> None:
    """A service's folder uses components/service and names the service (kubectl-free; the
    rendered overlays are checked below)."""
    named: set[str] = set()
    for kustomization in K8S.rglob("kustomization.yaml"):
        spec = yaml.safe_load(kustomization.read_text())
        if any((kustomization.parent / c).resolve() == SERVICE_COMPONENT for c in spec.get("components", [])):
            [generator] = spec["configMapGenerator"]
            named |= {literal.removeprefix("name=") for literal in generator["literals"]}
    assert named >= SERVICES, f"no folder under deploy/k8s names {sorted(SERVICES - named)}"


@needs_kubectl
def test_every_service_is_run_by_a_kubernetes_workload() -> None:
    commands = {deployed(container) for overlay in OVERLAYS for _, container in cityhall_containers(overlay)}
    for name in SERVICES:
        assert ("cityhall", "service", name) in commands, f"no Deployment under deploy/k8s runs {name}"


def test_manifests_use_only_documented_settings() -> None:
    known = documented_env()
    used: dict[str, set[str]] = {}
    for name, service in compose_services():
        used[f"compose {name}"] = set(service.get("environment", {}))
    if shutil.which("kubectl"):
        for overlay in OVERLAYS:
            for where, container in cityhall_containers(overlay):
                used[where] = {e["name"] for e in container.get("env", [])}
    for kustomization in K8S.rglob("kustomization.yaml"):
        for generator in yaml.safe_load(kustomization.read_text()).get("configMapGenerator", []):
            if generator["name"] == "cityhall-config":  # the settings (the others name a service)
                used[str(kustomization)] = {
                    literal.split("=", 1)[0] for literal in generator.get("literals", [])
                }
    assert any(where.endswith("kustomization.yaml") for where in used)
    for where, names in used.items():
        assert names <= known, f"{where}: undocumented {sorted(names - known)}"


def assert_probes_and_security(where: str, deployment: dict[str, Any]) -> None:
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True, where
    for container in pod["containers"]:
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", where
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", where
        assert container["securityContext"]["readOnlyRootFilesystem"] is True, where
        assert {"requests", "limits"} <= set(container["resources"]), where


def test_probes_and_security_of_every_deployment_file() -> None:
    found = [(path, doc) for path, doc in k8s_documents() if doc.get("kind") == "Deployment"]
    assert found  # components/service/service.yaml at least
    for path, doc in found:
        assert_probes_and_security(str(path), doc)


def test_every_mount_is_routed_by_the_ingress_and_the_compose_proxy() -> None:
    specs = [ep.load() for ep in entry_points(group="cityhall.services") if ep.name in SERVICES]
    mounts = {spec.name: spec.mount for spec in specs}
    for spec in specs:  # a former prefix still reaches the service, which redirects it
        mounts.update({f"{spec.name} (moved from {old})": old for old in spec.moved_from})
    ingress_paths = {
        value["path"]
        for _, doc in k8s_documents()
        for value in _walk(doc)
        if isinstance(value, dict) and "backend" in value and "path" in value
    }
    caddyfile = compose()["configs"]["caddyfile"]["content"]
    for name, mount in mounts.items():
        route = mount or ROOT_ROUTES.get(name, "/")
        assert route in ingress_paths, f"{name}: no ingress path {route}"
        matchers = [line.split()[2:] for line in caddyfile.splitlines() if line.split()[1:2] == ["path"]]
        routed = any(route in paths for paths in matchers) if route != "/" else "\thandle {" in caddyfile
        assert routed, f"{name}: no proxy route"


def _walk(value: Any) -> Iterator[Any]:
    """Every node of a document, inline kustomize patches (YAML in a string) included."""
    yield value
    if isinstance(value, dict) and isinstance(value.get("patch"), str):
        yield from _walk(yaml.safe_load(value["patch"]))
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
    for child in children:
        yield from _walk(child)


def test_kustomizations_reference_files_that_exist() -> None:
    kustomizations = list(K8S.rglob("kustomization.yaml"))
    assert {"base", "overlays/dev", "overlays/production"} <= {
        str(k.parent.relative_to(K8S)) for k in kustomizations
    }
    for kustomization in kustomizations:
        spec = yaml.safe_load(kustomization.read_text())
        refs = [*spec.get("resources", []), *spec.get("components", [])]
        refs += [p["path"] for p in spec.get("patches", []) if "path" in p]
        for generator in spec.get("configMapGenerator", []) + spec.get("secretGenerator", []):
            refs += [f.split("=")[-1] for f in generator.get("files", []) + generator.get("envs", [])]
        for ref in refs:
            target = kustomization.parent / ref
            assert target.is_file() or (target / "kustomization.yaml").is_file(), f"{kustomization}: {ref}"


def test_compose_postgres_18_keeps_its_data_in_the_volume() -> None:
    for name, service in compose()["services"].items():
        if service.get("image", "").startswith("postgres:"):
            assert service["image"] == "postgres:18"
            assert any(v.endswith(":/var/lib/postgresql") for v in service["volumes"]), name


@needs_kubectl
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders(overlay: str) -> None:
    docs = rendered(overlay)
    config_maps = {d["metadata"]["name"] for d in docs if d["kind"] == "ConfigMap"}
    # Secrets: generated by the overlay, written by CloudNativePG (<cluster>-app), or created by
    # the operator before a production apply (deploy/README.md).
    secrets = {d["metadata"]["name"] for d in docs if d["kind"] == "Secret"}
    secrets |= {f"{d['metadata']['name']}-app" for d in docs if d["kind"] == "Cluster"}
    if overlay == "production":
        secrets |= PRODUCTION_SECRETS
    for doc in docs:
        if doc["kind"] == "Deployment":
            assert_probes_and_security(f"overlays/{overlay}:{doc['metadata']['name']}", doc)
            [container] = doc["spec"]["template"]["spec"]["containers"]
            assert image_name(container["image"]) in IMAGES, f"{container['image']}: not built"
        if doc["kind"] in ("Deployment", "Job"):
            for container in doc["spec"]["template"]["spec"]["containers"]:
                refs = {e["configMapRef"]["name"] for e in container.get("envFrom", [])}
                assert refs <= config_maps, f"{doc['metadata']['name']}: {refs - config_maps}"
                refs = {
                    e["valueFrom"]["secretKeyRef"]["name"]
                    for e in container.get("env", [])
                    if "valueFrom" in e
                }
                assert refs <= secrets, f"{doc['metadata']['name']}: {refs - secrets}"


def served_domains(commands: list[tuple[str, ...]]) -> str:
    """The domains the services run by `commands` consume, as the gateway's setting names them."""
    names = {c[2] for c in commands if c[:2] == ("cityhall", "service")}
    served = {
        d for ep in entry_points(group="cityhall.services") if ep.name in names for d in ep.load().domains
    }
    return ",".join(sorted(served))


def test_the_gateway_is_told_the_domains_of_the_services_composed_with_it() -> None:
    services = dict(compose_services())
    composed = [tuple(s.get("command") or image_cmd(s["image"])) for s in services.values()]
    configured = services["gateway"]["environment"]["CITYHALL_SERVED_DOMAINS"]
    assert sorted(configured.split(",")) == served_domains(composed).split(","), "docker-compose.yml"


@needs_kubectl
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_gateway_is_told_the_domains_of_the_services_deployed_with_it(overlay: str) -> None:
    containers = dict(cityhall_containers(overlay))
    [gateway] = [c for where, c in containers.items() if where.endswith(":gateway")]
    env = {e["name"]: e.get("value") for e in gateway.get("env", [])}
    served = served_domains([deployed(c) for c in containers.values()])
    assert sorted(env["CITYHALL_SERVED_DOMAINS"].split(",")) == served.split(","), f"overlays/{overlay}"


def demo_env() -> dict[str, str]:
    lines = [line.strip() for line in DEMO_ENV.read_text().splitlines()]
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def test_compose_has_no_default_secret_outside_the_demo() -> None:
    """A secret comes from the operator (`${NAME:?message}`: compose stops, naming it) or, for the
    demo, from deploy/demo.env; never from a default written into docker-compose.yml."""
    text = COMPOSE.read_text()
    secrets = {m["name"]: m["op"] for m in INTERPOLATION.finditer(text) if SECRET_NAME.search(m["name"])}
    assert {"LINE_CHANNEL_SECRET", "LINE_CHANNEL_ACCESS_TOKEN", "POSTGRES_PASSWORD"} <= set(secrets)
    for match in INTERPOLATION.finditer(text):
        if SECRET_NAME.search(match["name"]):
            assert match["op"] == ":?", f"docker-compose.yml: {match.group(0)} has a default"
    for name, service in compose()["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if SECRET_NAME.search(key):
                assert INTERPOLATION.fullmatch(str(value)), f"{name}: {key} is written in the file"
    # The demo has every value compose requires, and the development profile.
    required = {m["name"] for m in INTERPOLATION.finditer(text) if m["op"] == ":?"}
    assert required <= set(demo_env()), f"deploy/demo.env lacks {sorted(required - set(demo_env()))}"
    assert demo_env()["CITYHALL_PROFILE"] == "development" and demo_env()["COMPOSE_PROFILES"] == "demo"
    assert "${CITYHALL_PROFILE:-production}" in text


def test_the_development_tools_are_composed_only_in_the_demo_profile() -> None:
    assert {"line-emulator", "simulator", "payments-sim"} == DEVELOPMENT_TOOLS
    for name, service in compose_services():
        runs = tuple(service.get("command") or image_cmd(service["image"]))
        if runs[2] in DEVELOPMENT_TOOLS:
            assert service.get("profiles") == ["demo"], f"{name} runs outside the demo profile"
        else:
            assert "profiles" not in service, f"{name} is left out of the production composition"


def test_compose_publishes_on_127_0_0_1_unless_told_otherwise() -> None:
    published = [(name, port) for name, s in compose()["services"].items() for port in s.get("ports", [])]
    assert [name for name, _ in published if name == "proxy"] == ["proxy"]
    for name, port in published:
        assert str(port).startswith("${CITYHALL_PUBLISH_ADDRESS:-127.0.0.1}:"), f"{name}: {port}"


@needs_kubectl
@pytest.mark.parametrize(("overlay", "profile"), [("dev", "development"), ("production", "production")])
def test_each_overlay_runs_its_profile_and_production_no_development_tool(overlay: str, profile: str) -> None:
    [config] = [
        d
        for d in rendered(overlay)
        if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("cityhall-config")
    ]
    assert config["data"]["CITYHALL_PROFILE"] == profile
    services = {
        deployed(c)[2] for _, c in cityhall_containers(overlay) if deployed(c)[:2] == ("cityhall", "service")
    }
    if profile == "production":
        assert services.isdisjoint(DEVELOPMENT_TOOLS), (
            f"overlays/{overlay} runs {services & DEVELOPMENT_TOOLS}"
        )
    else:
        assert services >= DEVELOPMENT_TOOLS
