"""The limit for a Python handler: a minimal in-process asyncio HTTP/1.1 server that builds a
REST proxy event, calls the handler in the same process and writes its response. The gateway
benchmark load-tests it next to the gateway. Usage: baseline.py CODE_DIR MODULE.FUNCTION; it
prints its port on stdout."""

import asyncio
import importlib
import json
import sys
import time
import uuid


def main():
    code_dir, handler = sys.argv[1], sys.argv[2]
    sys.path.insert(0, code_dir)
    module, function = handler.rsplit(".", 1)
    fn = getattr(importlib.import_module(module), function)

    async def serve(reader, writer):
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
                event = {
                    "resource": path, "path": path, "httpMethod": method,
                    "headers": headers, "multiValueHeaders": {k: [v] for k, v in headers.items()},
                    "queryStringParameters": None, "multiValueQueryStringParameters": None,
                    "pathParameters": None, "stageVariables": None,
                    "requestContext": {"requestId": str(uuid.uuid4()), "stage": "Prod",
                                       "requestTimeEpoch": int(time.time() * 1000),
                                       "identity": {"sourceIp": "127.0.0.1"}},
                    "body": body.decode() if body else None, "isBase64Encoded": False,
                }
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

    async def run():
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
