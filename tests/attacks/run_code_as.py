"""Logs in to the lab as NAME with PASSWORD, starts a kernel, runs CODE in it over the
kernel's WebSocket as JupyterLab does, and prints what the code printed. Runs inside the
lab (`docker exec`), whose Python has tornado; it reaches the lab on its own loopback,
so what runs is exactly what that account may run from any browser."""
import asyncio
import datetime
import json
import sys
import urllib.parse
import uuid

from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.websocket import websocket_connect

BASE = "127.0.0.1:8888"


def cookies_of(response, cookies):
    for header in response.headers.get_list("Set-Cookie"):
        key, value = header.split(";")[0].split("=", 1)
        cookies[key] = value
    return cookies


async def main(name, password, code):
    http = AsyncHTTPClient()
    cookies = cookies_of(await http.fetch(f"http://{BASE}/login"), {})
    jar = lambda: "; ".join(f"{k}={v}" for k, v in cookies.items())
    form = urllib.parse.urlencode({"_xsrf": cookies["_xsrf"], "username": name, "password": password})
    login = await http.fetch(f"http://{BASE}/login", method="POST", body=form, headers={"Cookie": jar()},
                             follow_redirects=False, raise_error=False)
    assert login.code == 302, f"login as {name}: {login.code}"
    cookies_of(login, cookies)
    headers = {"Cookie": jar(), "X-XSRFToken": cookies["_xsrf"], "Content-Type": "application/json"}
    kernel = await http.fetch(f"http://{BASE}/api/kernels", method="POST", body=json.dumps({"name": "python3"}),
                              headers=headers, raise_error=False)
    assert kernel.code == 201, f"starting a kernel as {name}: {kernel.code}"
    kernel_id = json.loads(kernel.body)["id"]
    ws = await websocket_connect(HTTPRequest(f"ws://{BASE}/api/kernels/{kernel_id}/channels", headers=headers))
    msg_id = uuid.uuid4().hex
    ws.write_message(json.dumps({
        "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": name, "session": uuid.uuid4().hex,
                   "date": datetime.datetime.now(datetime.timezone.utc).isoformat(), "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
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
            break
    ws.close()
    await http.fetch(f"http://{BASE}/api/kernels/{kernel_id}", method="DELETE", headers=headers, raise_error=False)
    print("".join(out), end="")


asyncio.run(main(*sys.argv[1:4]))
