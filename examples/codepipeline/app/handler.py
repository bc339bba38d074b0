import json
import os


def hello(event, context):
    return {
        "message": "hello from orders",
        "stage": os.environ["STAGE"],
        "source_etag": os.environ.get("SOURCE_ETAG"),
    }


def react(event, context):
    out = os.environ["MARKER_DIR"]
    os.makedirs(out, exist_ok=True)
    for record in event["Records"]:
        key = record["s3"]["object"]["key"]
        seen = {
            "stage": os.environ["STAGE"],
            "bucket": record["s3"]["bucket"]["name"],
            "key": key,
            "event": record["eventName"],
        }
        name = "%s-%s" % (os.environ["STAGE"], key.replace("/", "_"))
        with open(os.path.join(out, name), "w") as f:
            json.dump(seen, f)
    return {"handled": len(event["Records"])}
