"""The hello handler: returns an API Gateway proxy response with a greeting."""

import json
import os


def handler(event, context):
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"message": os.environ.get("GREETING", "Hello")}),
    }
