#!/usr/bin/env python3
"""Start the stand in the background on 127.0.0.1 and seed a world to try `ecs-rollback` by hand.

    scripts/stand --seed          # or: VENV/bin/python tests/stand/seed.py

The world, in cluster `demo` (one task-definition family `hello-world`, revisions 1-4, images
tagged with the short SHAs of a scratch git repository whose commits describe them):

* `web`    :1 and :2 completed, then :3 FAILED (circuit breaker, no ECS rollback): the incident;
* `api`    :1 completed, then :2 completed: steady;
* `worker` :2 completed, then :4 in progress;
* ledger:  :2 ecs-rollback:status=stable; :1 bad for demo/api only (ecs-rollback:bad-for).

Prints the `export` lines to paste, the scratch git repository to `cd` into (its commits show in
`status`), and the PID that stops the stand (`kill PID`). The stand keeps running after this
script exits; nothing listens beyond 127.0.0.1. Its deployments end only when told:

    scripts/stand --end web [--state FAILED]    # with the export lines pasted
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

import boto3

HERE = os.path.dirname(os.path.abspath(__file__))
REGISTRY = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/hello-world"
CLUSTER = "demo"
COMMITS = [
    "Say hello to the world",
    "Greet in French too",
    "Render the greeting from a template",
    "Greet by the caller's name",
]


def start_stand(workdir: str, region: str) -> dict:
    ready = os.path.join(workdir, "ready.json")
    log = open(os.path.join(workdir, "stand.log"), "w")
    proc = subprocess.Popen(
        [sys.executable, os.path.join(HERE, "stand.py"), "--ready-file", ready,
         "--region", region, "--ignore-stdin"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
        start_new_session=True,  # outlives this script and the shell's Ctrl-C
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.flush()
            sys.exit(f"stand: exited early ({proc.returncode}); see {log.name}")
        try:
            with open(ready) as f:
                return json.load(f)
        except (OSError, ValueError):
            time.sleep(0.2)
    proc.terminate()
    sys.exit(f"stand: not ready within 120 s; see {log.name}")


def git_repo(path: str) -> list[str]:
    """A git repository with one commit per COMMITS entry; their short SHAs (oldest first), or
    made-up tags when git is not installed."""
    if shutil.which("git") is None:
        return ["d416822", "531530c", "9195dc7", "c3d4e5f"]
    env = dict(os.environ, GIT_CONFIG_NOSYSTEM="1", HOME=path,
               GIT_AUTHOR_NAME="Dev", GIT_AUTHOR_EMAIL="dev@example.com",
               GIT_COMMITTER_NAME="Dev", GIT_COMMITTER_EMAIL="dev@example.com")
    os.makedirs(path, exist_ok=True)

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", path, *args], env=env, check=True,
                              capture_output=True, text=True).stdout.strip()

    git("init", "-q")
    shas = []
    for i, message in enumerate(COMMITS):
        with open(os.path.join(path, "greeting.txt"), "w") as f:
            f.write(f"{i} {message}\n")
        git("add", "greeting.txt")
        git("commit", "-q", "-m", message)
        shas.append(git("rev-parse", "--short", "HEAD"))
    return shas


def seed(doc: dict, region: str, shas: list[str]) -> None:
    ecs = boto3.client("ecs", region_name=region, endpoint_url=doc["endpoint"],
                       aws_access_key_id="testing", aws_secret_access_key="testing")

    def control(service: str, state: str) -> None:
        body = json.dumps({"cluster": CLUSTER, "service": service, "state": state}).encode()
        req = urllib.request.Request(doc["control"] + "/ecs/deployment-state", data=body,
                                     headers={"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as resp:
            resp.read()

    ecs.create_cluster(clusterName=CLUSTER)
    revs = []
    for sha in shas:
        td = ecs.register_task_definition(
            family="hello-world",
            containerDefinitions=[{"name": "app", "image": f"{REGISTRY}:{sha}",
                                   "essential": True, "memory": 256}],
        )["taskDefinition"]["taskDefinitionArn"]
        revs.append(td)

    def service(name: str, first: str) -> None:
        ecs.create_service(
            cluster=CLUSTER, serviceName=name, taskDefinition=first, desiredCount=2,
            deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True, "rollback": False}},
            tags=[{"key": "ecs-rollback:enabled", "value": "true"}],
        )
        control(name, "SUCCESSFUL")

    def deploy(name: str, td: str, state: str | None) -> None:
        ecs.update_service(cluster=CLUSTER, service=name, taskDefinition=td)
        if state:
            control(name, state)

    service("web", revs[0])
    deploy("web", revs[1], "SUCCESSFUL")
    deploy("web", revs[2], "FAILED")
    service("api", revs[0])
    deploy("api", revs[1], "SUCCESSFUL")
    service("worker", revs[1])
    deploy("worker", revs[3], "IN_PROGRESS")  # deployments start PENDING; ECS has started this one
    ecs.tag_resource(resourceArn=revs[1], tags=[{"key": "ecs-rollback:status", "value": "stable"}])
    ecs.tag_resource(resourceArn=revs[0], tags=[
        {"key": "ecs-rollback:status", "value": "bad"},
        {"key": "ecs-rollback:bad-for", "value": f"{CLUSTER}/api"},
    ])


def end_deployment(service: str, state: str) -> int:
    """Move the service's newest deployment on the running stand ($AWS_ENDPOINT_URL) to `state`:
    the stand's deployments end only when told."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint:
        sys.exit("stand: AWS_ENDPOINT_URL is not set: paste the export lines first")
    body = json.dumps({"cluster": os.environ.get("ECS_ROLLBACK_CLUSTER", CLUSTER),
                       "service": service, "state": state}).encode()
    req = urllib.request.Request(endpoint.rstrip("/") + "/_stand/ecs/deployment-state", data=body,
                                 headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            resp.read()
    except Exception as e:
        sys.exit(f"stand: could not move {service}'s deployment to {state}: {e}")
    print(f"{service}: its newest deployment is now {state}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--region", default="eu-west-1")
    ap.add_argument("--no-seed", action="store_true", help="start the stand empty")
    ap.add_argument("--end", metavar="SERVICE",
                    help="on the running stand: end SERVICE's newest deployment (--state) and exit")
    ap.add_argument("--state", default="SUCCESSFUL", choices=["SUCCESSFUL", "FAILED"])
    args = ap.parse_args(argv)
    if args.end:
        return end_deployment(args.end, args.state)

    workdir = tempfile.mkdtemp(prefix="ecs-rollback-stand-")
    doc = start_stand(workdir, args.region)
    repo = os.path.join(workdir, "repo")
    try:
        if not args.no_seed:
            seed(doc, args.region, git_repo(repo))
    except Exception as e:  # the stand is of no use half-seeded: stop it
        os.kill(doc["pid"], 15)
        sys.exit(f"stand: seeding failed: {e}")

    endpoint = doc["endpoint"]
    lines = [
        f"# ecs-rollback stand: PID {doc['pid']}, log {workdir}/stand.log",
        f"export AWS_ENDPOINT_URL={endpoint} AWS_ENDPOINT_URL_CLOUDWATCH={doc['cloudwatch']}",
        f"export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION={args.region}",
        "unset AWS_PROFILE",
    ]
    if not args.no_seed:
        lines.append(f"export ECS_ROLLBACK_CLUSTER={CLUSTER} ECS_ROLLBACK_SERVICE=web")
        if os.path.isdir(os.path.join(repo, ".git")):
            lines.append(f"cd {repo}    # its commits tag the images: status shows them")
    lines.append("# deployments end when told: scripts/stand --end SERVICE [--state FAILED]")
    lines.append(f"# stop it: kill {doc['pid']}")
    print("\n".join(lines), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
