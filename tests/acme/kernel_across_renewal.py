"""The colleague's browser during a renewal, on the second host: logs in to the lab at
URL (HTTPS, trusting only ROOT, the test CA's root, and checking the lab's address),
starts a kernel, sets `x = 42` over the kernel's WebSocket, prints `ready KERNEL_ID`,
and waits for a line on stdin (the test saw the certificate change). Then, on the same
WebSocket, opened under the old certificate, prints `x` and the kernel's state.
Makes no other TLS connection meanwhile: one opened and reset in the WebSocket's own
process was seen to end the WebSocket in Jupyter Server (a different matter).

usage: kernel_across_renewal.py URL PASSWORD ROOT
"""
import asyncio
import datetime
import json
import sys
import urllib.parse
import uuid

from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.websocket import websocket_connect

URL, PASSWORD, ROOT = sys.argv[1:4]
WS = URL.replace("https://", "wss://")


def cookies_of(response, cookies):
    for header in response.headers.get_list("Set-Cookie"):
        key, value = header.split(";")[0].split("=", 1)
        cookies[key] = value
    return cookies


async def execute(ws, code):
    msg_id = uuid.uuid4().hex
    ws.write_message(json.dumps({
        "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "owner",
                   "session": uuid.uuid4().hex, "version": "5.3",
                   "date": datetime.datetime.now(datetime.timezone.utc).isoformat()},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                    "allow_stdin": False, "stop_on_error": True},
    }))
    out = []
    while True:
        message = await asyncio.wait_for(ws.read_message(), 60)
        if message is None:
            raise SystemExit("the kernel's WebSocket closed")
        message = json.loads(message)
        if message.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        kind = message["header"]["msg_type"]
        if kind == "stream":
            out.append(message["content"]["text"])
        elif kind == "error":
            raise SystemExit("\n".join(message["content"]["traceback"]))
        elif kind == "status" and message["content"]["execution_state"] == "idle":
            return "".join(out)


async def main():
    http = AsyncHTTPClient()
    fetch = lambda url, **kw: http.fetch(HTTPRequest(url, ca_certs=ROOT, **kw), raise_error=False)
    cookies = cookies_of(await fetch(f"{URL}/login"), {})
    jar = lambda: "; ".join(f"{k}={v}" for k, v in cookies.items())
    form = urllib.parse.urlencode({"_xsrf": cookies["_xsrf"], "password": PASSWORD})
    login = await fetch(f"{URL}/login", method="POST", body=form, headers={"Cookie": jar()},
                        follow_redirects=False)
    assert login.code == 302, f"login: {login.code}"
    cookies_of(login, cookies)
    headers = {"Cookie": jar(), "X-XSRFToken": cookies["_xsrf"], "Content-Type": "application/json"}
    kernel = await fetch(f"{URL}/api/kernels", method="POST", body=json.dumps({"name": "python3"}),
                         headers=headers)
    assert kernel.code == 201, f"starting a kernel: {kernel.code}"
    kernel_id = json.loads(kernel.body)["id"]
    ws = await websocket_connect(HTTPRequest(f"{WS}/api/kernels/{kernel_id}/channels", headers=headers,
                                             ca_certs=ROOT))
    await execute(ws, "x = 42")
    print("ready", kernel_id, flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    print("x", (await execute(ws, "print(x)")).strip(), flush=True)
    state = await fetch(f"{URL}/api/kernels/{kernel_id}", headers=headers)
    print("kernel", json.loads(state.body)["id"], json.loads(state.body)["execution_state"], flush=True)
    ws.close()


asyncio.run(main())
