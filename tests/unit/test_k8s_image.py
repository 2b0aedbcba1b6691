"""The image every process runs, in compose and in Kubernetes alike:
deploy/Dockerfile and its build context (.dockerignore), and what the
Kubernetes manifests assume of it (its user, a read-only root filesystem).
Nothing here needs Docker."""
import re

from tests.helpers.deploy import (
    DOCKERIGNORE, ROOT, dockerfile_instructions, every_rendering, of_kind, pod_spec)


def test_dockerfile_base_images_are_pinned():
    stages = set()
    froms = [args for word, args in dockerfile_instructions() if word == "FROM"]
    assert froms
    for args in froms:
        parts = [p for p in args.split() if not p.startswith("--")]
        image = parts[0]
        if len(parts) >= 3 and parts[1].upper() == "AS":
            stages.add(parts[2])
        if image in stages:
            continue
        name, _, tag = image.rpartition(":") if ":" in image.split("/")[-1] else (image, "", "")
        assert tag and tag != "latest", f"unpinned base image {image}"
        assert re.match(r"\d+\.\d+\.\d+", tag), f"{image}: tag must name a patch version"
    assert froms[0].split()[0] == "python:3.11.7-slim-bookworm"


def test_dockerfile_runs_as_a_non_root_user():
    users = [args for word, args in dockerfile_instructions() if word == "USER"]
    assert users, "the image must set USER"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}


def test_dockerfile_installs_the_project():
    runs = " ".join(args for word, args in dockerfile_instructions() if word == "RUN")
    assert re.search(r"pip install --no-cache-dir [^&]*\.(\s|$)", runs)


def test_dockerfile_copies_only_existing_files_not_dockerignored():
    ignored = {line.strip().rstrip("/") for line in DOCKERIGNORE.read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    for word, args in dockerfile_instructions():
        if word not in {"COPY", "ADD"} or "--from=" in args:
            continue
        sources = [p for p in args.split() if not p.startswith("--")][:-1]
        assert any(list(ROOT.glob(s)) for s in sources), f"{word} {args}: copies nothing"
        for source in sources:
            # a wildcard source (README.md*) may match nothing; a plain one must exist
            if not any(c in source for c in "*?["):
                assert (ROOT / source).exists(), f"{word} {source}: no such file in the repo"
            assert source.rstrip("/") not in ignored, f"{source} is excluded by .dockerignore"


def test_dockerignore_keeps_local_state_out():
    entries = set(DOCKERIGNORE.read_text().split())
    assert {".venv", "var", ".git", ".env", ".pytest_cache", ".hypothesis"} <= entries


def test_the_manifests_run_as_the_images_own_user_on_a_read_only_filesystem():
    """runAsUser is the image's numeric USER (so runAsNonRoot can be checked
    by the kubelet), and Python writes no bytecode next to the code."""
    user = [args for word, args in dockerfile_instructions() if word == "USER"][-1]
    uid, _, gid = user.partition(":")
    envs = " ".join(args for word, args in dockerfile_instructions() if word == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in envs, "a read-only root filesystem takes no .pyc"
    for where, objects in every_rendering():
        for kind in ("Deployment", "Job", "Pod"):
            for name, obj in of_kind(objects, kind).items():
                for container in pod_spec(obj)["containers"]:
                    context = container["securityContext"]
                    assert (str(context["runAsUser"]), str(context["runAsGroup"])) == (uid, gid), \
                        f"{where}: {kind} {name}"
                    assert context["readOnlyRootFilesystem"] is True, f"{where}: {kind} {name}"
