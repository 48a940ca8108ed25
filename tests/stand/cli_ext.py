"""Stand additions for the CLI's tests (tests/cli.rs), kept apart from ecs_ext.py.

Two ECS control operations, added to ``ecs_ext.control`` (POST /_stand/ecs/<op>):

* ``service-event`` ``{"cluster", "service", "message"}``: a service event, as DescribeServices
  shows them in ``services[].events`` (``ServiceEvent``: ``id``, ``createdAt``, ``message``,
  newest first; ECS keeps the 100 newest — "Amazon ECS service event messages", developer guide).
* ``lifecycle-stage`` ``{"cluster", "service", "stage", "serviceDeploymentArn"?}``: the
  ``lifecycleStage`` of the newest (or the given) service deployment, as DescribeServiceDeployments
  shows it (``ServiceDeploymentLifecycleStage`` in botocore's ECS model: RECONCILE_SERVICE,
  PRE_SCALE_UP, SCALE_UP, POST_SCALE_UP, TEST_TRAFFIC_SHIFT, POST_TEST_TRAFFIC_SHIFT,
  PRODUCTION_TRAFFIC_SHIFT, POST_PRODUCTION_TRAFFIC_SHIFT, BAKE_TIME, CLEAN_UP).
"""

from __future__ import annotations

import uuid

import ecs_ext

STAGES = ("RECONCILE_SERVICE", "PRE_SCALE_UP", "SCALE_UP", "POST_SCALE_UP", "TEST_TRAFFIC_SHIFT",
          "POST_TEST_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT", "POST_PRODUCTION_TRAFFIC_SHIFT",
          "BAKE_TIME", "CLEAN_UP")

_orig = {}


def control(op: str, body: dict) -> dict:
    with ecs_ext.LOCK:
        if op == "service-event":
            _rs, st = ecs_ext._svc_from(body)
            ev = {"id": str(uuid.uuid4()), "createdAt": ecs_ext.now(), "message": str(body["message"])}
            st.service.events.insert(0, ev)
            del st.service.events[100:]
            return {"event": dict(ev)}
        if op == "lifecycle-stage":
            stage = body.get("stage")
            if stage not in STAGES:
                raise ecs_ext.ControlError(400, f"stage must be one of {', '.join(STAGES)}")
            rs, st = ecs_ext._svc_from(body)
            sd = ecs_ext._sd_from(rs, st, body)
            sd["lifecycleStage"] = stage
            sd["updatedAt"] = ecs_ext.now()
            return {"serviceDeployment": ecs_ext.public(sd)}
    return _orig["control"](op, body)


def install() -> None:
    if "control" not in _orig:
        _orig["control"] = ecs_ext.control
        ecs_ext.control = control
