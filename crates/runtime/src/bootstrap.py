"""Slipway's built-in Python bootstrap for the `python3.x` runtimes.

Shipped inside the slipway binary (`include_str!`) and written to a cache directory at start.
It speaks the Lambda Runtime API over HTTP (`AWS_LAMBDA_RUNTIME_API`) and reproduces what the
official runtime interface client (awslambdaric) shows the handler and the caller: handler
string resolution, the `Runtime.*` fault types and messages, the error JSON, the context
object, and Lambda's text log format for `print` and `logging`.

Differences from awslambdaric that a handler can observe are listed in the runtime crate's
module documentation (`crates/runtime/src/lib.rs`).
"""

import fcntl
import importlib
import json
import logging
import os
import resource
import select
import socket
import sys
import time

_API = "/2018-06-01/runtime"
_ERROR_LOG_IDENT = "\u00a0"  # awslambdaric indents stack lines with NO-BREAK SPACE
# Written on stdout after each invocation so the platform knows every earlier line arrived.
_FLUSH_MARKER = "\x00slipway:flush\x00\n"
_BEGIN_MARKER = "\x00slipway:begin:{}\x00\n"

_request_id = None
# Set by every write through sys.stdout/sys.stderr; cleared when a flush marker is written.
_dirty = True
# The request ID of an invocation written ahead (fast.rs) whose begin marker is not written
# yet: it is written before the invocation's first output, if it has any.
_ahead = None
# os.environ's own mapping (bytes to bytes), when the trace ID is kept there only and written
# to the C environment just before a process starts (`_set_trace`); None: set as usual.
_environ_data = None
# The trace ID last written to the C environment by `_sync_trace` (bytes).
_trace_in_c = None


class _Fault(Exception):
    def __init__(self, error_type, message, trace=None):
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.trace = trace


class _Unbuffered:
    def __init__(self, stream):
        self._stream = stream

    def __getattr__(self, name):
        return getattr(self._stream, name)

    def write(self, text):
        global _dirty
        _dirty = True
        if _ahead is not None:
            _begin_marker()
        n = self._stream.write(text)
        self._stream.flush()
        return n

    def writelines(self, lines):
        global _dirty
        _dirty = True
        if _ahead is not None:
            _begin_marker()
        self._stream.writelines(lines)
        self._stream.flush()


class _Api:
    """A keep-alive HTTP/1.1 connection to the Runtime API, on a plain socket (http.client and
    the email parser it imports would cost milliseconds at every cold start)."""

    # No quiet responses over HTTP: every answer follows a flush marker.
    quiet = None

    def __init__(self, address):
        host, _, port = address.rpartition(":")
        self._address = (host, int(port))
        self._host = address
        self._sock = None
        self._buf = bytearray()
        self._chunk = bytearray(262144)
        self._view = memoryview(self._chunk)

    def _recv(self):
        got = self._sock.recv_into(self._chunk)
        if not got:
            raise ConnectionError("the Runtime API closed the connection")
        self._buf += self._view[:got]

    def _request(self, method, path, body=b"", headers=()):
        if self._sock is None:
            self._sock = socket.create_connection(self._address)
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        head = "%s %s%s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n" % (
            method,
            _API,
            path,
            self._host,
            len(body),
        )
        for name, value in headers:
            head += "%s: %s\r\n" % (name, value)
        self._sock.sendall(head.encode("utf-8") + b"\r\n" + body)
        while True:
            end = self._buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            self._recv()
        lines = self._buf[:end].decode("latin-1").split("\r\n")
        del self._buf[: end + 4]
        status = int(lines[0].split(" ", 2)[1])
        fields = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        if fields.get("transfer-encoding", "").lower() == "chunked":
            data = bytearray()
            while True:
                while b"\r\n" not in self._buf:
                    self._recv()
                line_end = self._buf.find(b"\r\n")
                size = int(bytes(self._buf[:line_end]).split(b";")[0], 16)
                while len(self._buf) < line_end + 2 + size + 2:
                    self._recv()
                data += self._buf[line_end + 2 : line_end + 2 + size]
                del self._buf[: line_end + 2 + size + 2]
                if size == 0:
                    break
            data = bytes(data)
        else:
            length = int(fields.get("content-length", "0"))
            while len(self._buf) < length:
                self._recv()
            data = bytes(self._buf[:length])
            del self._buf[:length]
        return status, fields, data

    def next(self):
        return self._request("GET", "/invocation/next")

    def post(self, path, body, headers):
        status, _, _ = self._request("POST", path, body, headers)
        if status >= 500:
            # "container error, non-recoverable": the runtime should exit promptly.
            sys.stdout.flush()
            os._exit(1)
        return status


class _CognitoIdentity:
    __slots__ = ["cognito_identity_id", "cognito_identity_pool_id"]

    def __repr__(self):
        return "CognitoIdentity([cognito_identity_id={},cognito_identity_pool_id={}])".format(
            self.cognito_identity_id, self.cognito_identity_pool_id
        )


class _Client:
    __slots__ = [
        "installation_id",
        "app_title",
        "app_version_name",
        "app_version_code",
        "app_package_name",
    ]

    def __repr__(self):
        return (
            "Client([installation_id={},app_title={},app_version_name={},"
            "app_version_code={},app_package_name={}])"
        ).format(*(getattr(self, f) for f in self.__slots__))


class _ClientContext:
    __slots__ = ["custom", "env", "client"]

    def __repr__(self):
        return "ClientContext([custom={},env={},client={}])".format(
            self.custom, self.env, self.client
        )


def _from_dict(cls, values):
    if values is None:
        return None
    obj = cls()
    for field in cls.__slots__:
        setattr(obj, field, values.get(field))
    return obj


class LambdaContext:
    """The handler's `context`: the attributes of awslambdaric's LambdaContext."""

    # Read from the environment once per process (awslambdaric reads them at every invoke; a
    # handler that rewrites these reserved variables would see the difference).
    _from_env = None

    def __init__(self, request_id, client_context, identity, deadline_ms, arn, tenant_id):
        fixed = LambdaContext._from_env
        if fixed is None:
            env = os.environ
            fixed = LambdaContext._from_env = (
                env.get("AWS_LAMBDA_LOG_GROUP_NAME"),
                env.get("AWS_LAMBDA_LOG_STREAM_NAME"),
                env.get("AWS_LAMBDA_FUNCTION_NAME"),
                # A string, as on Lambda.
                env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"),
                env.get("AWS_LAMBDA_FUNCTION_VERSION"),
            )
        self.aws_request_id = request_id
        (
            self.log_group_name,
            self.log_stream_name,
            self.function_name,
            self.memory_limit_in_mb,
            self.function_version,
        ) = fixed
        self.invoked_function_arn = arn
        self.tenant_id = tenant_id
        w3c = {}
        if client_context is None:
            self.client_context = None
        else:
            if isinstance(client_context, dict) and "w3c" in client_context:
                raw = client_context.pop("w3c")
                if isinstance(raw, dict):
                    for key in ("traceparent", "tracestate", "baggage"):
                        if isinstance(raw.get(key), str):
                            w3c[key] = raw[key]
            self.client_context = _from_dict(_ClientContext, client_context)
            self.client_context.client = _from_dict(_Client, self.client_context.client)
        self._w3c_fields = w3c
        self.identity = cognito = _CognitoIdentity()
        if identity is None:
            cognito.cognito_identity_id = None
            cognito.cognito_identity_pool_id = None
        else:
            cognito.cognito_identity_id = identity.get("cognitoIdentityId")
            cognito.cognito_identity_pool_id = identity.get("cognitoIdentityPoolId")
        self._epoch_deadline_time_in_ms = deadline_ms

    def get_remaining_time_in_millis(self):
        remaining = self._epoch_deadline_time_in_ms - int(time.time() * 1000)
        return remaining if remaining > 0 else 0

    def w3c(self):
        return dict(self._w3c_fields)

    def log(self, msg):
        sys.stdout.write(str(msg))

    def __repr__(self):
        return (
            "LambdaContext([aws_request_id={},log_group_name={},log_stream_name={},"
            "function_name={},memory_limit_in_mb={},function_version={},"
            "invoked_function_arn={},client_context={},identity={},tenant_id={}])"
        ).format(
            self.aws_request_id,
            self.log_group_name,
            self.log_stream_name,
            self.function_name,
            self.memory_limit_in_mb,
            self.function_version,
            self.invoked_function_arn,
            self.client_context,
            self.identity,
            self.tenant_id,
        )


class _Encoder(json.JSONEncoder):
    def default(self, obj):
        # A Decimal result means its module is already imported.
        decimal = sys.modules.get("decimal")
        if decimal is not None and isinstance(obj, decimal.Decimal):
            if obj.is_nan():
                return float("nan")
            if obj == obj.to_integral_value():
                return int(obj)
            return float(obj)
        return super().default(obj)


def _encoder():
    # awslambdaric keeps non-ASCII characters unescaped only on python3.12.
    if os.environ.get("AWS_EXECUTION_ENV") == "AWS_Lambda_python3.12":
        return _Encoder(ensure_ascii=False)
    return _Encoder()


def _load_handler(handler):
    try:
        modname, fname = handler.rsplit(".", 1)
    except ValueError as e:
        raise _Fault("Runtime.MalformedHandlerName", "Bad handler '{}': {}".format(handler, e))
    try:
        if modname.split(".")[0] in sys.builtin_module_names:
            raise _Fault(
                "Runtime.BuiltInModuleConflict",
                "Cannot use built-in module {} as a handler module".format(modname),
            )
        module = importlib.import_module(modname.replace("/", "."))
    except ImportError as e:
        raise _Fault(
            "Runtime.ImportModuleError", "Unable to import module '{}': {}".format(modname, e)
        )
    except SyntaxError as e:
        trace = ['  File "%s" Line %s\n    %s' % (e.filename, e.lineno, e.text)]
        raise _Fault(
            "Runtime.UserCodeSyntaxError",
            "Syntax error in module '{}': {}".format(modname, e),
            trace,
        )
    try:
        return getattr(module, fname)
    except AttributeError:
        raise _Fault(
            "Runtime.HandlerNotFound", "Handler '{}' missing on module '{}'".format(fname, modname)
        )


def _error(message, error_type, trace, request_id=None):
    return {
        "errorMessage": message if message else "",
        "errorType": error_type if error_type else "",
        "requestId": request_id if request_id is not None else "",
        "stackTrace": trace if trace else [],
    }


def _user_trace(tb):
    import traceback

    frames = [(f.filename, f.lineno, f.name, f.line) for f in traceback.extract_tb(tb)]
    for i, frame in enumerate(frames):
        if frame[0] != __file__:
            frames = frames[i:]
            break
    return traceback.format_list(frames)


def _log_error(result):
    line = "[ERROR]"
    if result.get("errorType"):
        line += " " + result["errorType"]
    if result.get("errorMessage"):
        if result.get("errorType"):
            line += ":"
        line += " " + result["errorMessage"]
    lines = [line]
    trace = result.get("stackTrace")
    if trace is not None:
        lines.append("Traceback (most recent call last):")
        for element in trace:
            if element == "":
                lines.append("")
                continue
            for text in element.splitlines():
                stripped = text.lstrip(" ")
                lines.append(_ERROR_LOG_IDENT * (len(text) - len(stripped)) + stripped)
    sys.stdout.write("\r".join(lines) + "\n")


class _RequestIdFilter(logging.Filter):
    def filter(self, record):
        record.aws_request_id = _request_id or ""
        record.tenant_id = None
        return True


class _LambdaLoggerHandler(logging.Handler):
    def emit(self, record):
        sys.stdout.write(self.format(record))


def _setup_logging():
    logging.Formatter.converter = time.gmtime
    handler = _LambdaLoggerHandler()
    handler.setFormatter(
        logging.Formatter(
            "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n",
            "%Y-%m-%dT%H:%M:%S",
        )
    )
    handler.addFilter(_RequestIdFilter())
    level = os.environ.get("AWS_LAMBDA_LOG_LEVEL", "").upper()
    root = logging.getLogger()
    if level in logging._nameToLevel:
        root.setLevel(level)
    root.addHandler(handler)


def _json_header(value, name):
    try:
        return json.loads(value)
    except Exception as e:
        raise _Fault(
            "Runtime.LambdaContextUnmarshalError", "Unable to parse {} JSON: {}".format(name, e)
        )


class _FastApi:
    """The fast channel (crates/runtime/src/fast.rs has the frames): a Unix socket the platform
    handed over, with the same next()/post() as _Api and no HTTP."""

    _HEADERS = (
        "lambda-runtime-aws-request-id",
        "lambda-runtime-deadline-ms",
        "lambda-runtime-invoked-function-arn",
        "lambda-runtime-trace-id",
        "lambda-runtime-client-context",
        "lambda-runtime-cognito-identity",
    )

    def __init__(self, fd):
        self._sock = socket.socket(fileno=fd)
        # Waiting in poll(POLLIN) rather than in a blocking recv: a task asleep in recv on a
        # Unix stream socket is woken whenever the peer reads what this one wrote (the kernel's
        # unix_write_space wakes every sleeper, whatever it waits for), so each response
        # read by the platform would wake this process once for nothing. poll's wake-ups are
        # filtered by the events asked for.
        self._poll = select.poll()
        self._poll.register(fd, select.POLLIN)
        self._buf = bytearray()
        self._chunk = bytearray(262144)
        self._view = memoryview(self._chunk)
        self._ready = False
        # When the current invocation's frame was taken (the monotonic clock, in ns).
        self._taken = 0

    def quiet(self):
        """Nothing reached stdout since the last flush marker: no write through sys.stdout or
        sys.stderr, no process started (`_audit`), and nothing left unread in the pipe by any
        other writer. The platform then does not wait for a marker."""
        if _dirty:
            return False
        try:
            return int.from_bytes(fcntl.ioctl(1, 0x541B, b"\0\0\0\0"), sys.byteorder) == 0
        except Exception:
            return False

    def respond_quietly(self, request_id, body):
        # `r`: a response with no flush marker before it (fast.rs).
        self._send(b"r", request_id, body)

    def _take(self, n):
        while len(self._buf) < n:
            self._poll.poll()
            # Into one buffer kept for the process: `recv(262144)` would allocate (mmap) and
            # shrink (mremap) a 256 KiB object at every call.
            got = self._sock.recv_into(self._chunk)
            if not got:
                raise ConnectionError("the platform closed the fast channel")
            self._buf += self._view[:got]
        data = bytes(self._buf[:n])
        del self._buf[:n]
        return data

    def _send(self, kind, aux, body):
        if kind != b"N" and kind != b"I":
            # The peak resident size in KiB, so the platform need not read /proc, and the µs
            # since the frame was taken (fast.rs).
            aux = "%s\0%d\0%d" % (
                aux,
                resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                (time.monotonic_ns() - self._taken) // 1000,
            )
        aux = aux.encode("utf-8")
        self._sock.sendall(
            kind + len(aux).to_bytes(4, "big") + len(body).to_bytes(4, "big") + aux + body
        )

    def next(self):
        global _ahead
        if not self._ready:
            self._ready = True
            self._send(b"N", "", b"")
        head = self._take(8)
        header = self._take(int.from_bytes(head[:4], "big")).decode("utf-8")
        body = self._take(int.from_bytes(head[4:], "big"))
        self._taken = time.monotonic_ns()
        headers = {"content-type": "application/json"}
        for name, value in zip(self._HEADERS, header.split("\0")):
            if value:
                headers[name] = value
        deadline = headers.get("lambda-runtime-deadline-ms", "")
        _ahead = None
        if deadline.startswith("+"):
            # Written ahead while the last invocation ran: its timeout counts from now, and a
            # begin marker before its first output (if any) tells the platform that the lines
            # after it are this invocation's.
            headers["lambda-runtime-deadline-ms"] = str(int(time.time() * 1000) + int(deadline[1:]))
            _ahead = headers.get("lambda-runtime-aws-request-id", "")
        return 200, headers, body

    def post(self, path, body, headers):
        if path == "/init/error":
            self._send(b"I", dict(headers).get("Lambda-Runtime-Function-Error-Type", ""), body)
            return 202
        _, _, request_id, kind = path.split("/")
        if kind == "error":
            error_type = dict(headers).get("Lambda-Runtime-Function-Error-Type", "")
            self._send(b"E", request_id + "\0" + error_type, body)
        else:
            self._send(b"R", request_id, body)
        return 202


def _handle(api, handler, encoder, headers, body):
    global _request_id, _ahead
    request_id = headers.get("lambda-runtime-aws-request-id")
    _request_id = request_id
    _set_trace(headers.get("lambda-runtime-trace-id"))
    result = None
    error = None
    content_type = "application/json"
    try:
        client_context = headers.get("lambda-runtime-client-context")
        identity = headers.get("lambda-runtime-cognito-identity")
        context = LambdaContext(
            request_id,
            _json_header(client_context, "Client Context") if client_context else None,
            _json_header(identity, "Cognito Identity") if identity else None,
            int(headers.get("lambda-runtime-deadline-ms")),
            headers.get("lambda-runtime-invoked-function-arn"),
            headers.get("lambda-runtime-aws-tenant-id"),
        )
        if headers.get("content-type", "application/json") == "application/json":
            try:
                # The platform checked the payload is JSON, which is UTF-8 (json.loads would
                # look for a UTF-16 or UTF-32 one first).
                event = json.loads(body.decode("utf-8", "surrogatepass"))
            except Exception as e:
                raise _Fault("Runtime.UnmarshalError", "Unable to unmarshal input: {}".format(e))
        else:
            event = body
        value = handler(event, context)
        if isinstance(value, bytes):
            result, content_type = value, "application/unknown"
        else:
            try:
                result = encoder.encode(value).encode("utf-8")
            except Exception as e:
                raise _Fault("Runtime.MarshalError", "Unable to marshal response: {}".format(e))
    except _Fault as fault:
        error = _error(fault.message, fault.error_type, fault.trace, request_id)
    except Exception:
        etype, value, tb = sys.exc_info()
        error = _error(str(value), etype.__name__, _user_trace(tb), request_id)
    if error is not None:
        _log_error(error)
        _flush_marker()
        api.post(
            "/invocation/{}/error".format(request_id),
            encoder.encode(error).encode("utf-8"),
            (
                ("Content-Type", "application/json"),
                ("Lambda-Runtime-Function-Error-Type", error["errorType"]),
            ),
        )
    elif api.quiet is not None and api.quiet():
        # No output, so no begin marker: the platform writes START itself (env.rs).
        _ahead = None
        api.respond_quietly(request_id, result)
    else:
        _flush_marker()
        api.post(
            "/invocation/{}/response".format(request_id),
            result,
            (("Content-Type", content_type),),
        )


# A process started by the handler may write to the log pipe directly: after one, the next
# answer follows a flush marker again, which orders that output before END as before.
_SPAWN_EVENTS = frozenset(
    ("subprocess.Popen", "os.system", "os.posix_spawn", "os.fork", "os.forkpty", "os.spawn", "os.exec", "pty.spawn")
)


def _audit(event, args):
    global _dirty
    if event in _SPAWN_EVENTS:
        _dirty = True
        if _ahead is not None:
            _begin_marker()
        if _environ_data is not None:
            _sync_trace()


def _set_trace(trace_id):
    """`_X_AMZN_TRACE_ID` for this invocation, as awslambdaric sets it in os.environ.

    With the fast channel (whose audit hook sees every process start), only os.environ's own
    mapping is updated here, and the C environment just before a process starts
    (`_sync_trace`): glibc's setenv keeps every distinct value it was given for the life of the
    process, in a search tree it walks at each call, so one setenv per invocation with a new
    trace ID each time grew the process by a string per invocation and cost more CPU the longer
    it ran. Python code (os.environ, os.getenv) and child processes see the invocation's trace
    ID either way; only native code calling getenv(3) in the handler's own process sees the
    value as of the last process started."""
    global _trace_in_c
    if trace_id is None:
        os.environ.pop("_X_AMZN_TRACE_ID", None)
        _trace_in_c = None
    elif _environ_data is None:
        os.environ["_X_AMZN_TRACE_ID"] = trace_id
    else:
        _environ_data[b"_X_AMZN_TRACE_ID"] = trace_id.encode("utf-8", "surrogateescape")


def _sync_trace():
    global _trace_in_c
    value = _environ_data.get(b"_X_AMZN_TRACE_ID")
    if value is not None and value != _trace_in_c:
        os.putenv(b"_X_AMZN_TRACE_ID", value)
        _trace_in_c = value


def _begin_marker():
    # Straight to the stream under the wrapper: not output of the handler's.
    global _ahead
    stream = getattr(sys.stdout, "_stream", sys.stdout)
    stream.write(_BEGIN_MARKER.format(_ahead))
    stream.flush()
    _ahead = None


def _flush_marker():
    global _dirty
    sys.stdout.write(_FLUSH_MARKER)
    _dirty = False


def _batch_scheduled():
    """Puts this process (and what it starts) under SCHED_BATCH: the kernel then never lets
    it preempt the task that woke it. The platform's writing a frame to an environment, or a
    frame written ahead reaching it, made the environment preempt the gateway's one worker
    thread on the spot, in the middle of the requests it had in hand, on a machine whose cores
    are all busy under load. Its share of the CPU is unchanged (SCHED_BATCH is SCHED_OTHER for
    fairness and nice). `scripts/bench-gateway`'s set-up at 16 connections, four pairs with
    `chrt -b` applied to the environments: 23.4k-25.7k against 15.9k-22.5k requests/s, server
    CPU per request 56-62 against 63-80 µs."""
    try:
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    except (AttributeError, OSError):
        pass


def main():
    _batch_scheduled()
    sys.stdout = _Unbuffered(sys.stdout)
    sys.stderr = _Unbuffered(sys.stderr)
    env = os.environ
    fast_fd = env.pop("_SLIPWAY_FAST_FD", None)
    # Bytecode of the handler and its modules is cached outside the code directory.
    pycache = env.pop("_SLIPWAY_PYCACHE", None)
    if pycache:
        sys.pycache_prefix = pycache
    api = _FastApi(int(fast_fd)) if fast_fd else _Api(env["AWS_LAMBDA_RUNTIME_API"])
    if fast_fd:
        sys.addaudithook(_audit)
        global _environ_data
        data = getattr(env, "_data", None)
        # os.environ keeps bytes keys on POSIX (CPython 3.2 on); anything else: set as usual.
        if isinstance(data, dict) and all(type(key) is bytes for key in data):
            _environ_data = data
    # sys.path as on Lambda: the task root, then the layers' python directories.
    extra = env.pop("_SLIPWAY_PYTHONPATH", "")
    paths = [env.get("LAMBDA_TASK_ROOT", os.getcwd())]
    paths += [p for p in extra.split(os.pathsep) if p]
    sys.path[0:1] = paths
    encoder = _encoder()
    try:
        _setup_logging()
        handler = _load_handler(env.get("_HANDLER", ""))
    except Exception as e:
        if isinstance(e, _Fault):
            error = _error(e.message, e.error_type, e.trace)
        else:
            etype, value, tb = sys.exc_info()
            error = _error(str(value), etype.__name__, _user_trace(tb))
        _log_error(error)
        sys.stdout.write(_FLUSH_MARKER)
        api.post(
            "/init/error",
            encoder.encode(error).encode("utf-8"),
            (
                ("Content-Type", "application/json"),
                ("Lambda-Runtime-Function-Error-Type", error["errorType"]),
            ),
        )
        sys.exit(1)
    _flush_marker()
    while True:
        _, headers, body = api.next()
        _handle(api, handler, encoder, headers, body)


if __name__ == "__main__":
    main()
