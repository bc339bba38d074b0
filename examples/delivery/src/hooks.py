"""The pre-traffic hook: before any traffic moves to the new greet version, invoke it and tell
CodeDeploy whether it answers well. Written for AWS — boto3's `lambda` and `codedeploy`
clients — and run unchanged by Slipway."""

import json
import os

import boto3


def pre_traffic(event, context):
    status = "Succeeded"
    try:
        reply = boto3.client("lambda").invoke(
            FunctionName=os.environ["TARGET_FUNCTION"],
            Payload=json.dumps({"queryStringParameters": {"name": "hook"}}),
        )
        body = json.loads(json.loads(reply["Payload"].read())["body"])
        if reply.get("FunctionError") or body.get("message") != "Hello, hook!":
            status = "Failed"
    except Exception as e:  # noqa: BLE001 - any failure fails the deployment
        print(f"pre-traffic check failed: {e}")
        status = "Failed"
    print(f"pre-traffic check of {os.environ['TARGET_FUNCTION']}: {status}")
    boto3.client("codedeploy").put_lifecycle_event_hook_execution_status(
        deploymentId=event["DeploymentId"],
        lifecycleEventHookExecutionId=event["LifecycleEventHookExecutionId"],
        status=status,
    )
    return status
