#!/usr/bin/env python3
"""Idle keep-alive connections, and what a server's memory grows by for each.

Opens connections to 127.0.0.1:PORT in steps (8800, then 9800 in all by default); each
sends one GET PATH, reads its answer and stays open, idle. After each step (and a second
to settle) it reads the resident memory of PID and its descendants (nginx's worker is a
child of its master). Prints one JSON object: the RSS at each step and the growth per
connection between the last two steps, which leaves out what any busy server touched once
(buffers, pools): the cost of one more idle connection. bench/concurrency.sh runs it.

    bench/hold_idle.py --port P --pid PID [--steps 8800,9800] [--path /home]
"""

import argparse
import glob
import json
import resource
import socket
import time


def tree_rss(pid):
    total = 0
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
    except OSError:
        return 0
    for path in glob.glob(f"/proc/{pid}/task/*/children"):
        try:
            with open(path) as f:
                total += sum(tree_rss(int(child)) for child in f.read().split())
        except OSError:
            pass
    return total


def read_answer(sock):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError("closed before answering")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise ValueError(head.split(b"\r\n")[0].decode(errors="replace"))
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
            while len(body) < length:
                body += sock.recv(65536)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--steps", default="8800,9800")
    parser.add_argument("--path", default="/home")
    options = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    steps = [int(s) for s in options.steps.split(",")]
    request = f"GET {options.path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
    held = []
    rss = {}
    for step in steps:
        batch = [socket.create_connection(("127.0.0.1", options.port), timeout=30)
                 for _ in range(step - len(held))]
        for sock in batch:
            sock.sendall(request)
        for sock in batch:
            read_answer(sock)
        held += batch
        time.sleep(1.0)
        rss[step] = tree_rss(options.pid)
    last, before = steps[-1], steps[-2] if len(steps) > 1 else 0
    growth = (rss[last] - rss.get(before, 0)) / (last - before)
    print(json.dumps({"rss": rss, "bytes_per_idle_connection": round(growth)}))
    for sock in held:
        sock.close()


if __name__ == "__main__":
    main()
