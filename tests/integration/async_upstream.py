"""A small asyncio HTTP/1.1 upstream for the stress suite, run as its own process so that
thousands of connections cost the test process nothing. It prints "listening PORT" once it
accepts, then serves until it is killed.

Every request but GET /heartbeat and GET /stats reads its body (Content-Length or chunked)
and, after --delay-ms, answers 200 {"message": "Hello from Server: NAME", "status":
"successful"}. /heartbeat answers 200 at once; /stats answers the counts below as JSON
(connections_now counts the connection that asks).
With --idle-close-ms a keep-alive connection that gets no new request within that time is
closed, as many servers do (Node's default is 5 s).

    python3 async_upstream.py [--delay-ms MS] [--idle-close-ms MS] [--name NAME]
"""

import argparse
import asyncio
import json
import sys

# proxied_*: connections that carried a request other than /heartbeat and /stats.
counts = {"connections_now": 0, "connections_max": 0, "connections_total": 0,
          "proxied_now": 0, "proxied_max": 0, "requests": 0, "bodies_complete": 0,
          "idle_closed": 0}


def answer(status, body=b"", content_type="application/json"):
    reason = {200: "OK", 400: "Bad Request"}[status]
    head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    return head + body


async def read_body(reader, head):
    length = None
    chunked = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value.strip())
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass
                return
            await reader.readexactly(size + 2)
    elif length:
        await reader.readexactly(length)


async def serve(reader, writer, options):
    counts["connections_now"] += 1
    counts["connections_total"] += 1
    counts["connections_max"] = max(counts["connections_max"], counts["connections_now"])
    hello = json.dumps({"message": f"Hello from Server: {options.name}",
                        "status": "successful"}).encode()
    proxied = False
    try:
        while True:
            try:
                wait = options.idle_close_ms / 1000 if options.idle_close_ms else None
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), wait)
            except asyncio.TimeoutError:
                counts["idle_closed"] += 1
                return
            path = head.split(b" ")[1]
            if path == b"/heartbeat":
                writer.write(answer(200))
            elif path == b"/stats":
                writer.write(answer(200, json.dumps(counts).encode()))
            else:
                if not proxied:
                    proxied = True
                    counts["proxied_now"] += 1
                    counts["proxied_max"] = max(counts["proxied_max"], counts["proxied_now"])
                counts["requests"] += 1
                await read_body(reader, head)
                counts["bodies_complete"] += 1
                if options.delay_ms:
                    await asyncio.sleep(options.delay_ms / 1000)
                writer.write(answer(200, hello))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, ValueError):
        pass
    finally:
        counts["connections_now"] -= 1
        counts["proxied_now"] -= 1 if proxied else 0
        writer.close()


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--delay-ms", type=int, default=0)
    parser.add_argument("--idle-close-ms", type=int, default=0)
    parser.add_argument("--name", default="async")
    options = parser.parse_args()
    server = await asyncio.start_server(lambda r, w: serve(r, w, options), "127.0.0.1", 0,
                                        backlog=8192, limit=1 << 20)
    print(f"listening {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
