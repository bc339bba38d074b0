"""The limit for a Python handler: a minimal in-process asyncio HTTP/1.1 server that builds a
REST proxy event, calls the handler in the same process and writes its response. The gateway
benchmark load-tests it next to the gateway. Usage: baseline.py CODE_DIR MODULE.FUNCTION
[full|minimal]; it prints its port on stdout.

`full` (the default) builds the same event the gateway builds for the request: every field of
payload version 1.0 that API Gateway sends for a REST API, with the `X-Forwarded-*` and
`X-Amzn-Trace-Id` headers it adds (about 1.4 KB for wrk's GET). `minimal` builds only the
handful of fields a hello handler could use (about 0.4 KB); the benchmark prints it as a
second, stricter reference."""

import asyncio
import importlib
import json
import sys
import time
import uuid
from base64 import b64encode
from random import getrandbits

API_ID = "benchapi01"


_clock = [None, ""]


def request_time(now):
    """API Gateway's `requestTime`, formatted once a second."""
    second = int(now)
    if _clock[0] != second:
        _clock[0] = second
        _clock[1] = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(second))
    return _clock[1]


def request_id():
    """A version-4 UUID from the process's PRNG (no system call, unlike uuid.uuid4)."""
    h = "%032x" % ((getrandbits(128) & ~(0xF << 76) | 0x4 << 76) & ~(0x3 << 62) | 0x2 << 62)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def full_event(method, path, query, headers, body, peer, port):
    """The REST (payload 1.0) event, field for field as the gateway writes it (event.rs),
    built as cheaply as plain Python allows: the baseline is meant to be the limit."""
    now = time.time()
    headers = dict(headers)
    headers["X-Forwarded-For"] = peer
    headers["X-Forwarded-Port"] = str(port)
    headers["X-Forwarded-Proto"] = "http"
    headers["X-Amzn-Trace-Id"] = "Root=1-%08x-%024x" % (int(now), getrandbits(96))
    params = None
    multi = None
    if query:
        multi = {}
        for pair in query.split("&"):
            k, _, v = pair.partition("=")
            multi.setdefault(k, []).append(v)
        params = {k: v[-1] for k, v in multi.items()}
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": params,
        "multiValueQueryStringParameters": multi,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": API_ID,
            "domainName": headers.get("Host", ""),
            "domainPrefix": API_ID,
            "extendedRequestId": b64encode(getrandbits(80).to_bytes(10, "big")).decode(),
            "httpMethod": method,
            "identity": {
                "accessKey": None, "accountId": None, "caller": None, "cognitoAmr": None,
                "cognitoAuthenticationProvider": None, "cognitoAuthenticationType": None,
                "cognitoIdentityId": None, "cognitoIdentityPoolId": None,
                "principalOrgId": None, "sourceIp": peer, "user": None,
                "userAgent": headers.get("User-Agent"), "userArn": None,
            },
            "path": path,
            "protocol": "HTTP/1.1",
            "requestId": request_id(),
            "requestTime": request_time(now),
            "requestTimeEpoch": int(now * 1000),
            "resourceId": "abc123",
            "resourcePath": path,
            "stage": "Prod",
        },
        "body": body.decode() if body else None,
        "isBase64Encoded": False,
    }


def minimal_event(method, path, headers, body):
    return {
        "resource": path, "path": path, "httpMethod": method,
        "headers": headers, "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None, "multiValueQueryStringParameters": None,
        "pathParameters": None, "stageVariables": None,
        "requestContext": {"requestId": str(uuid.uuid4()), "stage": "Prod",
                           "requestTimeEpoch": int(time.time() * 1000),
                           "identity": {"sourceIp": "127.0.0.1"}},
        "body": body.decode() if body else None, "isBase64Encoded": False,
    }


def main():
    code_dir, handler = sys.argv[1], sys.argv[2]
    full = (sys.argv[3] if len(sys.argv) > 3 else "full") == "full"
    sys.path.insert(0, code_dir)
    module, function = handler.rsplit(".", 1)
    fn = getattr(importlib.import_module(module), function)

    async def serve(reader, writer):
        peer = writer.get_extra_info("peername")[0]
        port = writer.get_extra_info("sockname")[1]
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip()] = v.strip()
                length = int(headers.get("Content-Length") or headers.get("content-length") or 0)
                body = await reader.readexactly(length) if length else b""
                path, _, query = target.partition("?")
                if full:
                    event = full_event(method, path, query, headers, body, peer, port)
                else:
                    event = minimal_event(method, path, headers, body)
                # The same trip through JSON that a Lambda event and result make.
                result = json.loads(json.dumps(fn(json.loads(json.dumps(event)), None)))
                out = (result.get("body") or "").encode()
                status = result.get("statusCode", 200)
                resp_headers = {"Content-Type": "application/json", **(result.get("headers") or {})}
                resp_headers["Content-Length"] = str(len(out))
                writer.write(
                    f"HTTP/1.1 {status} OK\r\n".encode()
                    + "".join(f"{k}: {v}\r\n" for k, v in resp_headers.items()).encode()
                    + b"\r\n" + out
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionResetError):
            pass
        finally:
            writer.close()

    def quiet_resets(loop, context):
        # wrk resets its connections at the end of a run; asyncio would print each one.
        if not isinstance(context.get("exception"), ConnectionResetError):
            loop.default_exception_handler(context)

    async def run():
        asyncio.get_running_loop().set_exception_handler(quiet_resets)
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        print(server.sockets[0].getsockname()[1], flush=True)
        async with server:
            await server.serve_forever()

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        # How the benchmark stops it.
        pass


if __name__ == "__main__":
    main()
