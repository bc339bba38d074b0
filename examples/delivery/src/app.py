"""The two functions behind the API: greet says hello (and which stage and version answered),
status says the service is up."""

import json
import os

VERSION = "1"


def greeting(name):
    return f"Hello, {name}!"


def _ok(body):
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}


def handler(event, context):
    params = (event or {}).get("queryStringParameters") or {}
    name = params.get("name", "world")
    return _ok({"message": greeting(name), "stage": os.environ.get("STAGE"), "version": VERSION})


def status(event, context):
    return _ok({"status": "ok", "stage": os.environ.get("STAGE")})
