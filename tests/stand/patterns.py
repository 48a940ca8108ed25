#!/usr/bin/env python3
"""Checks the EventBridge rules of the translated template against real event shapes, with
moto's implementation of EventBridge pattern matching (the same matcher moto's events backend
uses). Proves the server-side filtering: which fixtures invoke the function, and that 1,000
ordinary task stops (scale-in, user stops, spot interruptions, ...) invoke it zero times.

Usage: python patterns.py TEMPLATE.cfn.json EVENTS_DIR
Prints 'N passed, N failed' and exits non-zero on a failure.
"""
import copy
import json
import pathlib
import random
import sys

from moto.events.models import EventPattern

ACCOUNT, REGION = "123456789012", "eu-west-1"


def resolve(value):
    """Resolve the intrinsic functions used in the rules' patterns for the default parameters
    (every cluster: the AllClusters branch)."""
    if isinstance(value, dict):
        if "Fn::If" in value:
            cond, yes, _no = value["Fn::If"]
            assert cond == "AllClusters", cond
            return resolve(yes)
        if value == {"Ref": "AWS::AccountId"}:
            return ACCOUNT
        if value == {"Ref": "AWS::Region"}:
            return REGION
        return {k: resolve(v) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v) for v in value]
    return value


def main():
    template = json.loads(pathlib.Path(sys.argv[1]).read_text())
    events_dir = pathlib.Path(sys.argv[2])
    rules = {
        name: EventPattern.load(json.dumps(resolve(res["Properties"]["EventPattern"])))
        for name, res in template["Resources"].items()
        # The default parameters: the organization-mode rules (on the central bus) do not
        # exist then; scripts/check-org-template checks those.
        if res["Type"] == "AWS::Events::Rule" and not res.get("Condition", "").startswith("Organization")
    }

    def invoked(event):
        return [name for name, p in rules.items() if p.matches_event(event)]

    passed = failed = 0

    def check(what, ok, detail=""):
        nonlocal passed, failed
        print(("ok   - " if ok else "FAIL - ") + what + (f" ({detail})" if detail and not ok else ""))
        passed, failed = passed + ok, failed + (not ok)

    # Fixture → should it reach the function?
    expect = {
        "ecs-deployment-failed.json": True,
        "ecs-deployment-completed.json": True,
        "ecs-deployment-in-progress.json": False,
        "cloudwatch-alarm-metric.json": True,
        "cloudwatch-alarm-ok.json": False,
        "cloudwatch-alarm-insufficient-data.json": False,
        "ecs-task-stopped-essential-exited.json": True,
        "ecs-task-stopped-failed-to-start.json": True,
        "ecs-task-stopped-old-deployment.json": True,  # reaches us; the core says "does not count"
        "ecs-task-stopped-spot-interruption.json": False,
        "ecs-task-stopped-scale-in.json": False,
        "ecs-task-stopped-user-initiated.json": False,
        "ecs-task-stopped-standalone.json": False,
        "ecs-task-stopped-migration.json": True,  # our own down-migration task (MigrationTaskRule)
        "ecs-task-stopped-elb-health-check.json": True,  # a health-check kill: the revision's fault
        "ecs-task-stopped-image-pull-throttled.json": True,  # reaches us; the core reads the reason
        "ecs-task-provisioning.json": False,
        "ecs-task-deprovisioning.json": False,
        "ecs-hook-state-change.json": True,  # a pause hook awaiting action (PauseHookRule)
        "ecs-deployment-rollback-in-progress.json": False,
        "cloudwatch-alarm-target-tracking-low.json": True,  # reaches us; rule 4 says never a trigger
        "ecs-service-action-task-start-impaired.json": True,
        "ecs-service-action-task-configuration-failure.json": True,
        "ecs-service-action-placement-failure.json": False,
        "ecs-deployment-failed-other-account.json": False,
    }
    for name, want in expect.items():
        event = json.loads((events_dir / name).read_text())
        got = invoked(event)
        check(f"{name} {'invokes' if want else 'does not invoke'} the function", bool(got) == want, f"matched {got}")

    # 1,000 ordinary task stops: every stop code that is not the revision's fault, RUNNING
    # tasks about to stop, standalone tasks. None may invoke the function.
    base = json.loads((events_dir / "ecs-task-stopped-scale-in.json").read_text())
    rng = random.Random(7)
    ordinary = ["ServiceSchedulerInitiated", "UserInitiated", "SpotInterruption", "TerminationNotice", "InfrastructureHealth"]
    invocations = 0
    for i in range(1000):
        e = copy.deepcopy(base)
        kind = i % 7
        if kind < 5:
            e["detail"]["stopCode"] = ordinary[kind]
        elif kind == 5:  # the two-minute warning: still RUNNING, desired STOPPED
            e["detail"]["lastStatus"] = "RUNNING"
            e["detail"]["stopCode"] = rng.choice(["SpotInterruption", "EssentialContainerExited"])
        else:  # a standalone task (RunTask), even with a fault stop code
            e["detail"]["group"] = "family:hello-world"
            e["detail"]["stopCode"] = "EssentialContainerExited"
        e["detail"]["taskArn"] = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/demo/{i:032x}"
        invocations += bool(invoked(e))
    check("1,000 ordinary task stops cause 0 invocations", invocations == 0, f"{invocations} invocations")
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
