"""Logs in as NAME with PASSWORD, opens PATH's collaboration room as JupyterLab does and
sends an edit inserting TEXT; prints the session request's status. Runs inside the lab,
whose Python has tornado and pycrdt (jupyter-collaboration's own)."""
import asyncio
import json
import sys
import urllib.parse

from pycrdt import Doc, Text, create_sync_message, create_update_message
from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.websocket import websocket_connect

BASE = "127.0.0.1:8888"


def cookies_of(response, cookies):
    for header in response.headers.get_list("Set-Cookie"):
        key, value = header.split(";")[0].split("=", 1)
        cookies[key] = value
    return cookies


async def main(name, password, path, text):
    http = AsyncHTTPClient()
    cookies = cookies_of(await http.fetch(f"http://{BASE}/login"), {})
    form = urllib.parse.urlencode({"_xsrf": cookies["_xsrf"], "username": name, "password": password})
    jar = lambda: "; ".join(f"{k}={v}" for k, v in cookies.items())
    login = await http.fetch(f"http://{BASE}/login", method="POST", body=form, headers={"Cookie": jar()},
                             follow_redirects=False, raise_error=False)
    assert login.code == 302, f"login as {name}: {login.code}"
    cookies_of(login, cookies)
    headers = {"Cookie": jar(), "X-XSRFToken": cookies["_xsrf"], "Content-Type": "application/json"}
    session = await http.fetch(f"http://{BASE}/api/collaboration/session/{path}", method="PUT",
                               body=json.dumps({"format": "text", "type": "file"}), headers=headers,
                               raise_error=False)
    print(f"session {session.code}")
    if session.code >= 300:
        return
    session = json.loads(session.body)
    room = f"{session['format']}:{session['type']}:{session['fileId']}"
    url = f"ws://{BASE}/api/collaboration/room/{room}?sessionId={session['sessionId']}"
    ws = await websocket_connect(HTTPRequest(url, headers=headers))
    doc = Doc()
    doc["source"] = source = Text()
    ws.write_message(create_sync_message(doc), binary=True)
    await asyncio.sleep(1)
    updates = []
    doc.observe(lambda event: updates.append(event.update))
    source.insert(0, text)
    for update in updates:
        ws.write_message(create_update_message(update), binary=True)
    # The room saves a second after the last change.
    await asyncio.sleep(4)
    ws.close()


asyncio.run(main(*sys.argv[1:5]))
