"""The greet handler: says hello, and which stage and version answered."""

import os

VERSION = "1"


def greeting(name):
    return f"Hello, {name}!"


def handler(event, context):
    name = (event or {}).get("name", "world")
    return {"message": greeting(name), "stage": os.environ.get("STAGE"), "version": VERSION}
