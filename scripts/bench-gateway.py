"""The gateway benchmark as a user would run it: `slipway serve` (the release binary) on a hello
handler, next to a minimal in-process asyncio server (crates/gateway/benches/baseline.py) that
builds the same proxy event and calls the same handler — the limit for a Python handler — both
load-tested with wrk over loopback at 1 and 16 connections, bounded in time. Run it through
`scripts/bench-gateway`, which installs wrk and builds the binary.

Printed: requests/s, p50 and p99 (wrk's latency distribution) and, from /proc, the CPU time per
request of the server side (`slipway serve` and its execution environments; the baseline
process) and of wrk; then the ratio of requests/s at 16 connections (target ≥ 0.80: the median
over alternating pairs of runs, both servers up at once), the same against a baseline that
builds only a minimal event, the p50 added at 1 connection (target < 0.2 ms), the same with
server and client pinned to one core (on these virtual machines a wake-up across cores costs
about 75 µs a round trip), and the gateway's ceiling with a no-op (MOCK) integration on the
same server.

Usage: bench-gateway.py SLIPWAY_BINARY [SECONDS_PER_RUN]
"""

import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASELINE = os.path.join(ROOT, "crates", "gateway", "benches", "baseline.py")

TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Api:
    Type: AWS::Serverless::Api
    Properties:
      StageName: Prod
      DefinitionBody:
        openapi: "3.0.1"
        info: {title: bench, version: "1"}
        paths:
          /hello:
            get:
              x-amazon-apigateway-integration:
                type: aws_proxy
                httpMethod: POST
                uri: !Sub arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${HelloFunction.Arn}/invocations
          /noop:
            get:
              x-amazon-apigateway-integration:
                type: mock
                requestTemplates: {application/json: '{"statusCode": 200}'}
                responses: {default: {statusCode: "200"}}
  HelloFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Runtime: python3.12
      Handler: app.handler
      Events:
        Hello:
          Type: Api
          Properties: {RestApiId: !Ref Api, Path: /hello, Method: get}
"""

APP = (
    "import json\n\n"
    "def handler(event, context):\n"
    "    return {'statusCode': 200, 'body': json.dumps({'message': 'hello world'})}\n"
)

UNITS = {"us": 1.0, "ms": 1e3, "s": 1e6}
# Alternating pairs of runs at 16 connections.
ROUNDS = 3


def tree(pid):
    """`pid` and its descendants."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        # Children are listed by the thread that started them (tokio's workers start the
        # execution environments), so every thread's list.
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for t in tasks:
            try:
                with open(f"/proc/{p}/task/{t}/children") as f:
                    todo += [int(c) for c in f.read().split()]
            except OSError:
                pass
    return out


def cpu_us(pids):
    """CPU time (user + system) of live processes, in µs."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) * 1e6 / tick
        except OSError:
            pass
    return total


def wrk(url, connections, secs, server_pid, pin=None):
    cmd = ["wrk", "--latency", "-t1", f"-c{connections}", f"-d{secs}s", url]
    if pin is not None:
        cmd = ["taskset", "-c", pin] + cmd
    before = cpu_us(tree(server_pid))
    # wrk is a child that has exited and been waited for when run() returns: RUSAGE_CHILDREN.
    client_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    run = subprocess.run(cmd, capture_output=True, text=True, check=True)
    elapsed = time.monotonic() - started
    after = cpu_us(tree(server_pid))
    client_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    client = (client_after.ru_utime + client_after.ru_stime
              - client_before.ru_utime - client_before.ru_stime) * 1e6
    text = run.stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    n = int(re.search(r"(\d+) requests in", text).group(1))
    pct = {}
    for p, value, unit in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", text, re.M):
        pct[p] = float(value) * UNITS[unit]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return {
        "rate": rate,
        "n": n,
        "p50": pct.get("50"),
        "p99": pct.get("99"),
        "server_cpu": (after - before) / max(n, 1),
        "client_cpu": client / max(n, 1),
        "non2xx": int(errors.group(1)) if errors else 0,
        "elapsed": elapsed,
    }


def show(name, c, r):
    bad = f"   ({r['non2xx']} non-2xx!)" if r["non2xx"] else ""
    print(
        f"{name:<16} c={c:<3} {r['rate']:>8.0f} req/s   p50 {r['p50']:>8.1f} µs   "
        f"p99 {r['p99']:>9.1f} µs   cpu/req server {r['server_cpu']:>6.1f} µs client {r['client_cpu']:>5.1f} µs{bad}",
        flush=True,
    )


def wait_http(url, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return resp.read()
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def start_serve(binary, project, port, pin=None):
    cmd = [binary, "serve", "-p", str(port), "--warm", str(os.cpu_count() or 1)]
    if pin is not None:
        cmd = ["taskset", "-c", pin] + cmd
    env = dict(os.environ, SLIPWAY_PYTHON_SDK="off")
    proc = subprocess.Popen(
        cmd, cwd=project, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    wait_http(f"http://127.0.0.1:{port}/hello")
    return proc


def start_baseline(project, pin=None, event="full"):
    cmd = [sys.executable, BASELINE, os.path.join(project, "src"), "app.handler", event]
    if pin is not None:
        cmd = ["taskset", "-c", pin] + cmd
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, start_new_session=True)
    port = int(proc.stdout.readline())
    wait_http(f"http://127.0.0.1:{port}/hello")
    return proc, port


def stop(proc):
    try:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    binary = os.path.abspath(sys.argv[1])
    secs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    project = tempfile.mkdtemp(prefix="slipway-bench-gateway-")
    os.makedirs(os.path.join(project, "src"))
    with open(os.path.join(project, "template.yaml"), "w") as f:
        f.write(TEMPLATE)
    with open(os.path.join(project, "src", "app.py"), "w") as f:
        f.write(APP)
    print(f"slipway serve ({binary}) vs crates/gateway/benches/baseline.py, wrk, {secs} s a run, "
          f"{os.cpu_count()} CPUs", flush=True)
    results = {}
    rounds = []
    try:
        # Unpinned: both servers up at once (an idle one uses no CPU), and the runs at 16
        # connections taken in alternation, ROUNDS pairs, so that a drift of the machine's
        # speed (it swings by half from minute to minute on these virtual machines) falls on
        # both sides of each ratio alike.
        port = free_port()
        serve = start_serve(binary, project, port)
        base, bport = start_baseline(project)
        try:
            ours_url = f"http://127.0.0.1:{port}"
            for path, name in (("/noop", "ceiling (mock)"), ("/hello", "slipway serve")):
                wrk(ours_url + path, 16, 1, serve.pid)  # warm-up: environments, caches
                for c in (1, 16) if path == "/noop" else (1,):
                    r = wrk(ours_url + path, c, secs, serve.pid)
                    show(name, c, r)
                    results[(name, c)] = r
            py_url = f"http://127.0.0.1:{bport}/hello"
            wrk(py_url, 16, 1, base.pid)
            r = wrk(py_url, 1, secs, base.pid)
            show("python", 1, r)
            results[("python", 1)] = r
            for i in range(ROUNDS):
                ours = wrk(ours_url + "/hello", 16, secs, serve.pid)
                show(f"slipway serve #{i + 1}", 16, ours)
                py = wrk(py_url, 16, secs, base.pid)
                show(f"python #{i + 1}", 16, py)
                rounds.append((ours, py))
        finally:
            stop(serve)
            stop(base)
        # The stricter reference: the same server building only the fields a hello handler
        # could use.
        mini, mport = start_baseline(project, event="minimal")
        try:
            url = f"http://127.0.0.1:{mport}/hello"
            wrk(url, 16, 1, mini.pid)
            minimal = wrk(url, 16, secs, mini.pid)
            show("python minimal", 16, minimal)
        finally:
            stop(mini)
        # Pinned to one core, at one connection.
        port = free_port()
        serve = start_serve(binary, project, port, "0")
        try:
            for path, name in (("/noop", "ceiling (mock)"), ("/hello", "slipway serve")):
                url = f"http://127.0.0.1:{port}{path}"
                wrk(url, 16, 1, serve.pid, "0")
                r = wrk(url, 1, secs, serve.pid, "0")
                show(name + " pinned", 1, r)
                results[(name + " pinned", 1)] = r
        finally:
            stop(serve)
        base, bport = start_baseline(project, "0")
        try:
            url = f"http://127.0.0.1:{bport}/hello"
            wrk(url, 16, 1, base.pid, "0")
            r = wrk(url, 1, secs, base.pid, "0")
            show("python pinned", 1, r)
            results[("python pinned", 1)] = r
        finally:
            stop(base)
    finally:
        shutil.rmtree(project, ignore_errors=True)
    ratios = sorted(ours["rate"] / py["rate"] for ours, py in rounds)
    cpu = sorted(ours["server_cpu"] / py["server_cpu"] for ours, py in rounds)
    median = ratios[len(ratios) // 2]
    print(f"ratio    c=16  slipway serve / python requests/s = {median:.2f} (target ≥ 0.80), the "
          f"median of {len(ratios)} alternating pairs: {', '.join(f'{r:.2f}' for r in ratios)}; "
          f"server CPU/req {cpu[len(cpu) // 2]:.2f}× the baseline's")
    mid = sorted(rounds, key=lambda pair: pair[0]["rate"])[len(rounds) // 2][0]
    print(f"         c=16  against the minimal event's baseline: {mid['rate'] / minimal['rate']:.2f} "
          f"(median slipway run / one python-minimal run)")
    for tag in ("", " pinned"):
        ours, py = results[("slipway serve" + tag, 1)], results[("python" + tag, 1)]
        print(f"added    c=1{tag:<8} p50 {ours['p50'] - py['p50']:+.1f} µs (target < 200 µs)")


if __name__ == "__main__":
    main()
