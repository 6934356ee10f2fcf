
# Who may use the lab and what they may do: the owner, and the named accounts of
# `rjup user`, read from ACCOUNTS_FILE whenever it changes, so that adding or removing
# an account never restarts the lab and its kernels.
import hashlib
import importlib
import inspect
import json
import os
import time

from jupyter_server.auth.authorizer import Authorizer
from jupyter_server.auth.identity import PasswordIdentityProvider, User
from jupyter_server.auth.login import LoginFormHandler
from jupyter_server.auth.security import passwd_check
from jupyter_server.base.handlers import JupyterHandler
from tornado import web
from tornado.escape import url_escape
from traitlets import default

OWNER = {owner}
ACCOUNTS_FILE = {accounts_file}
READ_ONLY = "read-only"


class RjupAccounts:
    """The accounts beside the owner's. Each request stats the file (a syscall, no
    read), so a removed account is refused at its very next request."""

    def __init__(self, path):
        self.path = path
        self._seen = None
        self._accounts = {}
        self._missing_once = False

    def current(self):
        try:
            st = os.stat(self.path)
            # The engine copies files in with their archive's fixed mtime: the change
            # time and inode are what tell a new copy.
            seen = (st.st_ctime_ns, st.st_mtime_ns, st.st_size, st.st_ino)
        except FileNotFoundError:
            seen = None
        if seen is None and self._seen is not None and not self._missing_once:
            # The engine replaces the file by removing and recreating it: a request in
            # that gap keeps the accounts known; a second miss in a row means gone.
            self._missing_once = True
            return self._accounts
        self._missing_once = False
        if seen != self._seen:
            if seen is None:
                self._accounts = {}
            else:
                try:
                    with open(self.path, encoding="utf-8") as f:
                        self._accounts = json.load(f).get("accounts", {})
                except (OSError, ValueError):
                    # Caught mid-copy: keep what was known, and read it again next time.
                    return self._accounts
            self._seen = seen
        return self._accounts


class RjupLoginHandler(LoginFormHandler):
    """With accounts beyond the owner's, the login page asks for a name as well, in a
    field named `username` as JupyterHub's is, so password managers and scripts work.
    A lab with only the owner keeps Jupyter's password-only page."""

    NAMED_LOGIN = """{% extends "page.html" %}
{% block stylesheet %}{% endblock %}
{% block site %}
<div id="jupyter-main-app" class="container">
  <div class="row"><div class="navbar col-sm-8"><div class="navbar-inner"><div class="container"><div class="center-nav">
    <form action="{{base_url}}login?next={{next}}" method="post" class="navbar-form pull-left">
      {{ xsrf_form_html() | safe }}
      <label for="username_input"><strong>Name:</strong></label>
      <input type="text" name="username" id="username_input" class="form-control" autocomplete="username" autocapitalize="off" spellcheck="false" required>
      <label for="password_input"><strong>Password:</strong></label>
      <input type="password" name="password" id="password_input" class="form-control" autocomplete="current-password">
      <button type="submit" class="btn btn-default" id="login_submit">Log in</button>
    </form>
  </div></div></div></div></div>
  {% if message %}<div class="row">{% for key in message %}<div class="message {{key}}">{{message[key]}}</div>{% endfor %}</div>{% endif %}
</div>
{% endblock %}
"""

    def _render(self, message=None):
        if not self.identity_provider.named():
            return super()._render(message)
        template = self.settings["jinja2_env"].from_string(self.NAMED_LOGIN)
        namespace = dict(
            next=url_escape(self.get_argument("next", default=self.base_url)),
            message=message,
        )
        namespace.update(self.template_namespace)
        self.write(template.render(**namespace))


class RjupIdentityProvider(PasswordIdentityProvider):
    """Jupyter Server has no limit on password guesses. After FREE_FAILURES failed logins
    from one client address, or ACCOUNT_FREE_FAILURES for one account from at least two
    addresses, that address or account gets HTTP 429 for a lockout that doubles with
    every further failure, up to MAX_LOCKOUT. One address alone never locks an account
    (its own lockout slows it instead), so nobody can lock the owner out from one
    machine. A success clears the records it involved; others are never affected.
    Records are forgotten after FORGET_AFTER.

    A login names an account (the owner's when no name is given) and checks only that
    account's hash: argon2 runs once per login, however many accounts there are. The
    cookie carries a fingerprint of the account's hash, so removing the account or
    changing its password ends its sessions."""

    FREE_FAILURES = {free_failures}
    ACCOUNT_FREE_FAILURES = {account_free_failures}
    FIRST_LOCKOUT = {first_lockout}.0
    MAX_LOCKOUT = 3600.0
    FORGET_AFTER = 3600.0
    _failures = {}
    # The addresses that failed to log in to each account, bounded like _failures.
    _sources = {}
    accounts = RjupAccounts(ACCOUNTS_FILE)

    @default("login_handler_class")
    def _rjup_login_handler(self):
        return RjupLoginHandler

    @default("updatable_fields")
    def _rjup_names_are_rjups(self):
        # A guest must not pass for someone else in a shared lab.
        return []

    def named(self):
        return bool(self.accounts.current())

    def _account(self, name):
        if name == OWNER:
            return {"hash": self.hashed_password, "role": "owner", "display_name": OWNER, "initials": "O"}
        account = self.accounts.current().get(name)
        return account if isinstance(account, dict) and account.get("hash") else None

    def role_of(self, name):
        account = self._account(name)
        return account["role"] if account else None

    def _user(self, name, account):
        return User(
            username=name,
            name=name,
            display_name=account.get("display_name") or name,
            initials=account.get("initials") or name[:1].upper(),
        )

    def _refuse_if_locked(self, handler, key, now):
        count, last, until = self._failures.get(key, (0, 0.0, 0.0))
        if now - last > self.FORGET_AFTER and now >= until:
            self._failures.pop(key, None)
            if key[0] == "account":
                self._sources.pop(key[1], None)
            return
        if now < until:
            handler.set_header("Retry-After", str(int(until - now) + 1))
            self.log.warning("rjup: refused a login (%s %s) after %d failed attempts", key[0], key[1], count)
            raise web.HTTPError(429, "too many failed logins; try again later")

    def _failed(self, key, address, now):
        count, _, until = self._failures.get(key, (0, 0.0, 0.0))
        count += 1
        free = self.FREE_FAILURES
        several = True
        if key[0] == "account":
            free = self.ACCOUNT_FREE_FAILURES
            sources = self._sources.setdefault(key[1], set())
            if len(sources) < 64:
                sources.add(address)
            several = len(sources) >= 2
        if count >= free and several:
            lockout = self.FIRST_LOCKOUT * 2 ** (count - free)
            until = now + min(lockout, self.MAX_LOCKOUT)
            self.log.warning("rjup: %d failed logins (%s %s); locked out for %d s", count, key[0], key[1], until - now)
        self._failures[key] = (count, now, until)

    def process_login_form(self, handler):
        name = handler.get_argument("username", default="").strip() or OWNER
        password = handler.get_argument("password", default="")
        account = self._account(name)
        # Only known accounts get a record: guessed names must not grow the table.
        keys = [("address", handler.request.remote_ip)] + ([("account", name)] if account else [])
        now = time.monotonic()
        for key in keys:
            self._refuse_if_locked(handler, key, now)
        # An unknown name costs the same one argon2 run, so timing does not tell it.
        hashed = account["hash"] if account else self.hashed_password
        if password and passwd_check(hashed, password) and account:
            for key in keys:
                self._failures.pop(key, None)
            self._sources.pop(name, None)
            return self._user(name, account)
        for key in keys:
            self._failed(key, handler.request.remote_ip, now)
        return None

    @staticmethod
    def _fingerprint(account):
        return hashlib.sha256(account["hash"].encode()).hexdigest()[:16]

    def user_to_cookie(self, user):
        account = self._account(user.username)
        return json.dumps({"username": user.username, "rjup": self._fingerprint(account) if account else None})

    def user_from_cookie(self, cookie_value):
        data = json.loads(cookie_value)
        name = data.get("username")
        account = self._account(name) if isinstance(name, str) else None
        if account is None or data.get("rjup") != self._fingerprint(account):
            return None
        return self._user(name, account)


class RjupAuthorizer(Authorizer):
    """Read-only accounts may only read. The kernel and terminal WebSockets ask for
    `execute`, writes to files and starting kernels, sessions or terminals for `write`:
    all refused with 403."""

    def is_authorized(self, handler, user, action, resource):
        role = self.identity_provider.role_of(user.username)
        if role is None:
            return False
        if role != READ_ONLY or action == "read":
            return True
        # The event stream only tells what the server did; the collaboration session
        # request only names a document's room, whose WebSocket is made read-only below.
        return (resource, action) == ("events", "execute") or type(handler).__name__ == "DocSessionHandler"


def _reads(message):
    """Whether a Yjs message from a client only reads: the sync request (step 1) and
    awareness (who is where), not updates (step 2, update), chat or anything else."""
    return len(message) >= 2 and ((message[0] == 0 and message[1] == 0) or message[0] == 1)


def _read_only_documents():
    """jupyter-collaboration's document WebSocket asks no Authorizer: it applies edits
    from anyone logged in. For read-only accounts it is made to drop every message that
    would change a document."""
    for module in ("jupyter_server_ydoc.handlers", "jupyter_collaboration.handlers"):
        try:
            handler_class = importlib.import_module(module).YDocWebSocketHandler
        except Exception:
            continue
        if getattr(handler_class, "_rjup_read_only", False):
            continue
        original = handler_class.on_message

        async def on_message(self, message, _original=original):
            user = self.current_user
            if user is None or self.identity_provider.role_of(user.username) == READ_ONLY:
                if not isinstance(message, bytes) or not _reads(message):
                    return None
            result = _original(self, message)
            if inspect.isawaitable(result):
                result = await result
            return result

        handler_class.on_message = on_message
        handler_class._rjup_read_only = True


# What a read-only account may send besides reads: logging in and out, and asking for
# a document's collaboration room (whose WebSocket is made read-only above).
READ_ONLY_WRITES = ("/login", "/logout", "/api/collaboration/session/")


def _read_only_writes_refused():
    """Only handlers marked @authorized ask the Authorizer. Others change things for
    anyone logged in: JupyterLab's extension manager installs packages (running their
    code), its settings and workspaces handlers change what every user gets. So a
    read-only account's request with any method but GET, HEAD and OPTIONS is refused
    before any handler runs, wherever it goes."""
    if getattr(JupyterHandler, "_rjup_read_only", False):
        return
    original = JupyterHandler.prepare

    async def prepare(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        if inspect.isawaitable(result):
            result = await result
        if self.request.method in ("GET", "HEAD", "OPTIONS") or self._finished:
            return result
        user = self.current_user
        provider = self.identity_provider
        if user is None or not hasattr(provider, "role_of") or provider.role_of(user.username) != READ_ONLY:
            return result
        path = "/" + self.request.path[len(self.base_url):].lstrip("/")
        if not any(path == p or (p.endswith("/") and path.startswith(p)) for p in READ_ONLY_WRITES):
            self.log.warning("rjup: refused %s %s to read-only account %s", self.request.method, path, user.username)
            raise web.HTTPError(403, "read-only account")
        return result

    JupyterHandler.prepare = prepare
    JupyterHandler._rjup_read_only = True


_read_only_documents()
_read_only_writes_refused()
c.ServerApp.identity_provider_class = RjupIdentityProvider
c.ServerApp.authorizer_class = RjupAuthorizer
