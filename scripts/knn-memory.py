#!/usr/bin/env python3
"""The memory knn-server's limits allow: its peak resident size (VmHWM) under the largest
accepted body and under as many such bodies at once as --max-concurrent-requests lets in.

    cargo build --release -p knn-server
    scripts/knn-memory.py target/release/knn-server [SERVE-FLAGS...]

Starts the binary on 127.0.0.1 with a fresh data directory and its default limits (SERVE-FLAGS
change them), upserts bodies just under the body limit into collections of dimension 256, and
prints VmHWM (from /proc/PID/status) after start, after the largest accepted body and after as
many at once as --max-concurrent-requests lets in, for two shapes of body, each in a fresh server:
values written with 9 characters and with 2 ("0," parses to 4 bytes, the most a byte of JSON can
become: such a body is accepted only up to the size whose parsed form fits the body limit); then
fills a fresh server's store until --max-stored-bytes refuses (507) and queries it (an index
rebuild). A report, not a test: nothing is asserted.
"""

import argparse
import contextlib
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading

DIMENSION = 256


def vm_hwm_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM")


def body_of(size, value_text, prefix):
    """An upsert body of at most `size` bytes whose values are all `value_text`."""
    row = '{"id":"%s-%08d","values":[' + ",".join([value_text] * DIMENSION) + "]}"
    row_size = len(row % (prefix, 0)) + 1
    rows = max(1, (size - len('{"vectors":[]}')) // row_size)
    text = '{"vectors":[' + ",".join(row % (prefix, i) for i in range(rows)) + "]}"
    return text.encode(), rows


def request(base, method, path, body=None):
    """(status, reply). A server that refuses a body early (413) answers before it has read it
    all and closes: the reply is read after the send fails."""
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    connection = http.client.HTTPConnection(base.removeprefix("http://"), timeout=600)
    try:
        try:
            connection.request(method, path, body=data,
                               headers={"content-type": "application/json"})
        except (BrokenPipeError, ConnectionResetError):
            pass
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("serve_flags", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    flags = dict(zip(args.serve_flags[::2], args.serve_flags[1::2]))
    args.max_body_bytes = int(flags.get("--max-body-bytes", 32 * 1024 * 1024))
    args.concurrent = int(flags.get("--max-concurrent-requests", 8))
    print(f"limits: body {args.max_body_bytes} bytes, {args.concurrent} requests at once")
    for shape, value in (("9-character values", "0.1234567"), ("2-character values", "0")):
        with started(args) as (server, base):
            print(f"{shape}: after start: VmHWM {vm_hwm_kib(server.pid) / 1024:.0f} MiB")
            measure_shape(args, server, base, shape, value)
    with started(args) as (server, base):
        fill(args, server, base)


@contextlib.contextmanager
def started(args):
    """A server on a fresh data directory, and its address."""
    data = tempfile.mkdtemp(prefix="knn-memory-")
    server = subprocess.Popen(
        [args.binary, "serve", "--listen", "127.0.0.1:0", "--backend", "cpu",
         "--data-dir", os.path.join(data, "data")] + args.serve_flags,
        stderr=subprocess.PIPE, text=True, env={**os.environ, "NO_COLOR": "1"})
    try:
        for line in server.stderr:
            match = re.search(r"listening on (\S+)", line)
            if match:
                base = "http://" + match.group(1)
                break
        threading.Thread(target=lambda: [None for _ in server.stderr], daemon=True).start()
        yield server, base
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(data, ignore_errors=True)


def measure_shape(args, server, base, shape, value):
    """The largest body of this shape the server accepts (the body limit, else the largest
    fraction of it whose parsed size fits), then as many at once as the limit lets in."""
    name = "c" + str(len(value))
    status, _ = request(base, "POST", "/collections",
                        {"name": name, "dimension": DIMENSION, "metric": "l2"})
    assert status == 201, status
    for fraction in (1.0, 0.5, 0.45, 0.4, 0.35):
        size = int(args.max_body_bytes * fraction) - 1024
        body, rows = body_of(size, value, "one")
        status, reply = request(base, "POST", f"/collections/{name}/upsert", body)
        print(f"{shape}: one body of {len(body) / 2**20:.1f} MiB ({rows} rows): {status}, "
              f"VmHWM {vm_hwm_kib(server.pid) / 1024:.0f} MiB")
        if status == 200:
            break
    bodies = [body_of(size, value, f"p{i}")[0] for i in range(args.concurrent)]
    statuses = []
    threads = [threading.Thread(target=lambda b=b: statuses.append(
        request(base, "POST", f"/collections/{name}/upsert", b)[0])) for b in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(f"{shape}: {args.concurrent} such bodies at once: {sorted(statuses)}, "
          f"VmHWM {vm_hwm_kib(server.pid) / 1024:.0f} MiB")
    status, _ = request(base, "POST", f"/collections/{name}/query",
                        {"vector": [0.5] * DIMENSION, "k": 3})
    print(f"{shape}: a query after (index rebuilt): {status}, "
          f"VmHWM {vm_hwm_kib(server.pid) / 1024:.0f} MiB")


def fill(args, server, base):
    """Bodies of the 9-character shape until --max-stored-bytes refuses, then a query."""
    name = "fill"
    status, _ = request(base, "POST", "/collections",
                        {"name": name, "dimension": DIMENSION, "metric": "l2"})
    assert status == 201, status
    statuses = []
    for i in range(10_000):
        body, _ = body_of(args.max_body_bytes - 1024, "0.1234567", f"fill{i}")
        status, reply = request(base, "POST", f"/collections/{name}/upsert", body)
        statuses.append(status)
        if status != 200:
            break
    status, _ = request(base, "POST", f"/collections/{name}/query",
                        {"vector": [0.5] * DIMENSION, "k": 3})
    print(f"filled until {reply.decode()[:90]}...: {len(statuses)} bodies, "
          f"a query after: {status}, VmHWM {vm_hwm_kib(server.pid) / 1024:.0f} MiB")


if __name__ == "__main__":
    sys.exit(main())
