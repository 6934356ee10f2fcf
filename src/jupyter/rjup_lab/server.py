"""Where rjup's rules meet Jupyter Server and tornado: the identity provider (accounts,
the login page, the throttle), the authorizer of read-only accounts, and hooks on what
every request passes. `install` applies them once per process; the config file names
the classes in its traits.

The hooks sit on shared mechanisms rather than on the classes a lab happens to use, so
that an image's own subclasses are covered too: tornado's Application.find_handler
(every request, before any handler), Jupyter's FileManagerMixin._get_os_path (every
file the contents, large-file and checkpoint managers touch), its file handler's path
check (/files/), and JupyterHandler.prepare (every Jupyter handler).
"""

import contextvars
import functools
import importlib
import inspect
import json
import logging
import os
import types

from jupyter_server.auth.authorizer import Authorizer
from jupyter_server.auth.identity import PasswordIdentityProvider, User
from jupyter_server.auth.login import LoginFormHandler
from jupyter_server.auth.security import passwd_check
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.services.config.manager import ConfigManager
from tornado import httpserver, web
from tornado.escape import url_escape
from traitlets import default

from . import accounts as accounts_file
from . import allow, bodies, paths, renewal, roles, throttle

log = logging.getLogger("ServerApp")

# What `install` was given, for the classes below; None until then.
_lab = None


def install(settings):
    """Applies rjup's rules to this process, from the settings rjup wrote (rjup_lab.json).
    A second call (a config loaded twice) changes nothing."""
    global _lab
    if _lab is not None:
        return
    networks = settings.get("allow") or []
    allowlist = None
    if networks:
        try:
            with open("/proc/net/route", encoding="ascii") as routes:
                found = allow.gateways(routes.read())
        except OSError:
            found = []
        allowlist = allow.Allowlist(networks, found)
    try:
        with open(settings["cookie_secret_file"], "rb") as f:
            probe_key = allow.probe_key(f.read())
    except OSError:
        probe_key = None
    bounds = settings["bodies"]
    _lab = types.SimpleNamespace(
        owner=settings["owner"],
        accounts=accounts_file.Accounts(settings["accounts_file"]),
        throttle=throttle.Throttle(**settings["throttle"]),
        allowlist=allowlist,
        refused_header=settings["refused_header"],
        probe_header=settings["probe_header"],
        probe_key=probe_key,
        body_limit=bounds["unauthenticated_limit"],
        body_timeout=bounds["unauthenticated_timeout"],
        refusals=allow.RefusalLog(log.warning),
        too_large=allow.RefusalLog(
            log.warning,
            "rjup: refused a request for %s from %s without a login that may write: its body is bigger than the bound%s",
        ),
    )
    # A half-sent request head is dropped after `header_timeout` (tornado keeps it an
    # hour), and a logged-in body must arrive within `body_timeout`. Defaults for the
    # server Jupyter makes: its own arguments (body sizes) stay as they are.
    httpserver.HTTPServer.configure(
        None,
        idle_connection_timeout=bounds["header_timeout"],
        body_timeout=bounds["body_timeout"],
    )
    status_file = (settings.get("tls") or {}).get("renewal_status")
    if status_file:
        renewal.Watcher(status_file, log.warning, log.info).start()
    _guard_requests()
    _contain_files()
    _read_only_writes_refused()
    _read_only_documents()
    _version_needs_login()


def _marked(cls, mark):
    """Whether `cls` itself (not a base class: YDocWebSocketHandler is a JupyterHandler)
    was patched already."""
    return mark in vars(cls)


# ---------------------------------------------------------------------------------------
# Accounts and logins.


class Throttled(web.HTTPError):
    """A 429 that remembers when to come back: tornado's send_error clears headers set
    before the error, so RjupLoginHandler.write_error sets Retry-After from it."""

    def __init__(self, retry_after):
        super().__init__(429, "too many failed logins; try again later")
        self.retry_after = retry_after


def _probe(request):
    return allow.probe_matches(request.headers.get(_lab.probe_header), _lab.probe_key)


def _shown(value):
    return value if value.isprintable() else repr(value)


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

    def write_error(self, status_code, **kwargs):
        error = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(error, Throttled):
            self.set_header("Retry-After", str(error.retry_after))
        return super().write_error(status_code, **kwargs)


class RjupIdentityProvider(PasswordIdentityProvider):
    """A login names an account (the owner's when no name is given) and checks only that
    account's hash: argon2 runs once per login, however many accounts there are, and an
    unknown name costs the same run. The cookie carries a fingerprint of the account's
    hash, so removing the account or changing its password ends its sessions. Failed
    logins are throttled (throttle.py)."""

    @default("login_handler_class")
    def _rjup_login_handler(self):
        return RjupLoginHandler

    @default("updatable_fields")
    def _rjup_names_are_rjups(self):
        # A guest must not pass for someone else in a shared lab.
        return []

    def named(self):
        return bool(_lab.accounts.current())

    def _account(self, name):
        if name == _lab.owner:
            return {"hash": self.hashed_password, "role": "owner", "display_name": name, "initials": "O"}
        account = _lab.accounts.current().get(name)
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

    def process_login_form(self, handler):
        name = handler.get_argument("username", default="").strip() or _lab.owner
        password = handler.get_argument("password", default="")
        probe = _probe(handler.request)
        client = throttle.client_key(handler.request.remote_ip, probe)
        account_key = throttle.account_key(name)
        # rjup's own probe holds the cookie secret, worth more than any password here:
        # guessers locking an account out must not lock rjup out of its own lab.
        refusal = _lab.throttle.refusal([client] if probe else [client, account_key])
        if refusal is not None:
            key, count, left = refusal
            self.log.warning("rjup: refused a login (%s %s) after %d failed attempts", key[0], _shown(key[1]), count)
            raise Throttled(int(left) + 1)
        account = self._account(name)
        hashed = account["hash"] if account else self.hashed_password
        if password and passwd_check(hashed, password) and account:
            _lab.throttle.succeeded([client, account_key])
            return self._user(name, account)
        for key, count, lockout in _lab.throttle.failed([client, account_key], client[1]):
            self.log.warning(
                "rjup: %d failed logins (%s %s); locked out for %d s", count, key[0], _shown(key[1]), lockout
            )
        return None

    def user_to_cookie(self, user):
        account = self._account(user.username)
        fingerprint = accounts_file.fingerprint(account["hash"]) if account else None
        return json.dumps({"username": user.username, "rjup": fingerprint})

    def user_from_cookie(self, cookie_value):
        data = json.loads(cookie_value)
        name = data.get("username") if isinstance(data, dict) else None
        account = self._account(name) if isinstance(name, str) else None
        if account is None or data.get("rjup") != accounts_file.fingerprint(account["hash"]):
            return None
        return self._user(name, account)


class RjupAuthorizer(Authorizer):
    """Read-only accounts may only read (roles.authorized): every write, and starting
    kernels, sessions or terminals, and their WebSockets, get 403."""

    def is_authorized(self, handler, user, action, resource):
        role = self.identity_provider.role_of(user.username)
        return roles.authorized(role, action, resource, type(handler).__name__)


class RjupConfigManager(ConfigManager):
    """/api/config's sections (frontend settings some extensions keep), written where
    the lab can write, `~/.jupyter/serverconfig`, and read from there first: by default
    they go to the config directory, which is read-only to the lab."""

    @default("write_config_dir")
    def _rjup_home(self):
        return os.path.join(os.path.expanduser("~"), ".jupyter", self.config_dir_name)

    @default("read_config_path")
    def _rjup_home_first(self):
        from jupyter_core.paths import jupyter_config_path

        return [self.write_config_dir] + [os.path.join(p, self.config_dir_name) for p in jupyter_config_path()]


def _role_of(handler, user):
    provider = handler.identity_provider
    return provider.role_of(user.username) if hasattr(provider, "role_of") else None


# ---------------------------------------------------------------------------------------
# Every request, before any handler: the allowlist, and bodies before login.


class _EveryMethod:
    def __contains__(self, method):
        return True


class _Refusal(web.RequestHandler):
    """Answers in prepare(), before the body: a streaming handler, so tornado reads none
    of it into memory, and hangs up after the answer rather than read the rest."""

    SUPPORTED_METHODS = _EveryMethod()

    def check_xsrf_cookie(self):
        pass

    def data_received(self, chunk):
        pass

    def refuse(self, status, text):
        self.set_status(status)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.set_header("Connection", "close")
        self.finish(text)


@web.stream_request_body
class RjupRefusedHandler(_Refusal):
    def prepare(self):
        remote_ip = self.request.remote_ip
        _lab.refusals.refused(remote_ip, self.request.path)
        self.set_header(_lab.refused_header, "address")
        self.refuse(403, f"403 Forbidden: this lab does not admit requests from {remote_ip}\n")


@web.stream_request_body
class RjupTooLargeHandler(_Refusal):
    def prepare(self):
        _lab.too_large.refused(self.request.remote_ip, self.request.path)
        self.refuse(413, "413: without a login that may write, a request's body may be at most %d bytes\n" % _lab.body_limit)


def _may_send_bodies(app, request):
    """Whether the request carries a valid login cookie of an account that may write:
    tornado's signature (an HMAC) and the identity provider's check of the account (a
    JSON parse and a hash), no argon2. A read-only account sends nothing bigger than a
    login form either."""
    provider = app.settings.get("identity_provider")
    secret = app.settings.get("cookie_secret")
    if provider is None or not secret:
        return False
    try:
        name = provider.get_cookie_name(types.SimpleNamespace(request=request))
        morsel = request.cookies.get(name)
        if morsel is None:
            return False
        options = dict(getattr(provider, "get_secure_cookie_kwargs", None) or {})
        options.setdefault("max_age_days", 31)
        value = web.decode_signed_value(secret, name, morsel.value, **options)
        user = provider.user_from_cookie(value.decode("utf-8")) if value is not None else None
        if user is None:
            return False
        role = provider.role_of(user.username) if hasattr(provider, "role_of") else None
        return role is not None and role != roles.READ_ONLY
    except Exception:
        return False


def _guard_requests():
    application = web.Application
    if _marked(application, "_rjup_guarded"):
        return
    find_handler = application.find_handler

    def guarded(self, request, **kwargs):
        if _lab.allowlist is not None and not _lab.allowlist.admits(request.remote_ip, _probe(request)):
            return self.get_handler_delegate(request, RjupRefusedHandler)
        length = request.headers.get("Content-Length")
        if bodies.may_have_body(length, request.headers.get("Transfer-Encoding")) and not _may_send_bodies(self, request):
            if bodies.too_large(length, _lab.body_limit):
                return self.get_handler_delegate(request, RjupTooLargeHandler)
            # A body without a length (chunked) is cut off at the bound as it arrives.
            connection = request.connection
            if hasattr(connection, "set_max_body_size"):
                connection.set_max_body_size(_lab.body_limit)
                connection.set_body_timeout(_lab.body_timeout)
        return find_handler(self, request, **kwargs)

    application.find_handler = guarded
    application._rjup_guarded = True


# ---------------------------------------------------------------------------------------
# Containment: no path the lab serves leaves the project (paths.py).

# The directory a contents manager is listing, while it lists it.
_listing = contextvars.ContextVar("rjup_listing", default=None)


def _missing(path):
    return web.HTTPError(404, "file or directory does not exist: %r" % path)


def _contain_files():
    from jupyter_server.base.handlers import AuthenticatedFileHandler
    from jupyter_server.services.contents import fileio, filemanager, manager

    mixin = fileio.FileManagerMixin
    if _marked(mixin, "_rjup_contained"):
        return
    get_os_path = mixin._get_os_path

    @functools.wraps(get_os_path)
    def contained(self, path):
        os_path = get_os_path(self, path)
        if not paths.inside(self.root_dir, os_path):
            raise _missing(path)
        return os_path

    mixin._get_os_path = contained
    mixin._rjup_contained = True

    # A listing would otherwise fail as a whole on its first entry that leads out: it
    # leaves such entries out instead (should_list, told which directory is listed).
    for cls in (filemanager.FileContentsManager, filemanager.AsyncFileContentsManager):
        dir_model = cls.__dict__.get("_dir_model")
        if dir_model is None:
            continue
        if inspect.iscoroutinefunction(dir_model):

            async def listed(self, path, *args, _original=dir_model, **kwargs):
                token = _listing.set(self._get_os_path(path))
                try:
                    return await _original(self, path, *args, **kwargs)
                finally:
                    _listing.reset(token)

        else:

            def listed(self, path, *args, _original=dir_model, **kwargs):
                token = _listing.set(self._get_os_path(path))
                try:
                    return _original(self, path, *args, **kwargs)
                finally:
                    _listing.reset(token)

        cls._dir_model = listed

    should_list = manager.ContentsManager.should_list

    def listed_inside(self, name):
        directory = _listing.get()
        if directory is not None and not paths.inside(self.root_dir, os.path.join(directory, name)):
            return False
        return should_list(self, name)

    manager.ContentsManager.should_list = listed_inside

    # /files/: tornado's own check is on the path as written (older tornado follows
    # links anywhere; newer answers 403 for a link out); this one is on the real path,
    # before tornado's, and answers as for a missing file.
    validate = AuthenticatedFileHandler.validate_absolute_path

    @functools.wraps(validate)
    def validated(self, root, absolute_path):
        if not paths.inside(root, absolute_path):
            raise web.HTTPError(404)
        result = validate(self, root, absolute_path)
        if result is not None and not paths.inside(root, result):
            raise web.HTTPError(404)
        return result

    AuthenticatedFileHandler.validate_absolute_path = validated


# ---------------------------------------------------------------------------------------
# What read-only accounts may send, and what strangers may read.


def _read_only_writes_refused():
    """Only handlers marked @authorized ask the Authorizer. Others change things for
    anyone logged in: JupyterLab's extension manager installs packages (running their
    code), its settings and workspaces handlers change what every user gets. So a
    read-only account's request with any method but GET, HEAD and OPTIONS is refused
    before any handler runs, wherever it goes (roles.read_only_may_send)."""
    if _marked(JupyterHandler, "_rjup_read_only_writes"):
        return
    original = JupyterHandler.prepare

    async def prepare(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        if inspect.isawaitable(result):
            result = await result
        if self.request.method in roles.READS or self._finished:
            return result
        user = self.current_user
        if user is None or _role_of(self, user) != roles.READ_ONLY:
            return result
        path = "/" + self.request.path[len(self.base_url):].lstrip("/")
        if not roles.read_only_may_send(self.request.method, path):
            self.log.warning("rjup: refused %s %s to read-only account %s", self.request.method, path, user.username)
            raise web.HTTPError(403, "read-only account")
        return result

    JupyterHandler.prepare = prepare
    JupyterHandler._rjup_read_only_writes = True


def _read_only_documents():
    """jupyter-collaboration's document WebSocket asks no Authorizer: it applies edits
    from anyone logged in. For read-only accounts it is made to drop every message that
    would change a document (roles.reads)."""
    for module in ("jupyter_server_ydoc.handlers", "jupyter_collaboration.handlers"):
        try:
            handler_class = importlib.import_module(module).YDocWebSocketHandler
        except Exception:
            continue
        if _marked(handler_class, "_rjup_read_only_documents"):
            continue
        original = handler_class.on_message

        async def on_message(self, message, _original=original):
            user = self.current_user
            if user is None or _role_of(self, user) == roles.READ_ONLY:
                if not roles.reads(message):
                    return None
            result = _original(self, message)
            if inspect.isawaitable(result):
                result = await result
            return result

        handler_class.on_message = on_message
        handler_class._rjup_read_only_documents = True


def _version_needs_login():
    """GET /api answers the server's version to anyone: a scanner's first question."""
    try:
        from jupyter_server.base.handlers import APIVersionHandler
    except ImportError:
        return
    if _marked(APIVersionHandler, "_rjup_login"):
        return
    get = APIVersionHandler.get

    @functools.wraps(get)
    def logged_in_get(self, *args, **kwargs):
        if not self.current_user:
            raise web.HTTPError(403)
        return get(self, *args, **kwargs)

    APIVersionHandler.get = logged_in_get
    APIVersionHandler._rjup_login = True
