# Written by rjup and copied into the lab's container before it starts; `rjup up`
# rewrites it. It only reads rjup_lab.json beside it (every value rjup gives the lab),
# imports the rjup_lab package beside it (what the lab enforces beyond Jupyter Server's
# own checks) and sets the traits that name them. `c` is Jupyter's config object.
import json
import os
import sys

_rjup_dir = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(_rjup_dir, "rjup_lab.json"), encoding="utf-8") as _rjup_file:
    rjup = json.load(_rjup_file)
sys.path.insert(0, _rjup_dir)
try:
    import rjup_lab.server
finally:
    sys.path.remove(_rjup_dir)
rjup_lab.server.install(rjup)

c.ServerApp.ip = "0.0.0.0"
c.ServerApp.port = rjup["port"]
c.ServerApp.port_retries = 0
c.ServerApp.open_browser = False
c.ServerApp.root_dir = rjup["root_dir"]
c.ServerApp.allow_remote_access = True
c.ServerApp.allow_root = rjup["allow_root"]
c.ServerApp.cookie_secret_file = rjup["cookie_secret_file"]
c.ServerApp.identity_provider_class = rjup_lab.server.RjupIdentityProvider
c.ServerApp.authorizer_class = rjup_lab.server.RjupAuthorizer
# Always a password, never a token.
c.IdentityProvider.token = ""
c.PasswordIdentityProvider.hashed_password = rjup["hashed_password"]
c.PasswordIdentityProvider.password_required = True
c.PasswordIdentityProvider.allow_password_change = False

# SameSite=Lax: another site's page cannot make a browser send the lab's cookies with
# its requests (a form posted from elsewhere arrives logged out).
c.IdentityProvider.cookie_options = {"samesite": "Lax"}
_rjup_xsrf_cookie = {"path": "/", "samesite": "Lax"}
_rjup_headers = {}
if rjup["tls"]:
    c.ServerApp.certfile = rjup["tls"]["certfile"]
    c.ServerApp.keyfile = rjup["tls"]["keyfile"]
    c.IdentityProvider.secure_cookie = True
    _rjup_xsrf_cookie["secure"] = True
    # Browsers that saw the lab over TLS never try it over plain HTTP again.
    _rjup_headers["Strict-Transport-Security"] = rjup["tls"]["hsts"]
c.ServerApp.tornado_settings = {"xsrf_cookie_kwargs": _rjup_xsrf_cookie, "headers": _rjup_headers}

# The config directory is read-only to the lab. What Jupyter would write there goes to
# the lab user's home instead: JupyterLab's settings and workspaces (the container's
# JUPYTERLAB_SETTINGS_DIR and JUPYTERLAB_WORKSPACES_DIR), and /api/config's sections.
c.ServerApp.config_manager_class = rjup_lab.server.RjupConfigManager

# No phoning home: no news feed, no update check, when the image's JupyterLab knows
# these settings (3.6 and later); labconfig/default_setting_overrides.json says
# "never" to the page too.
try:
    from jupyterlab.handlers.announcements import NeverCheckForUpdate as _RjupNeverCheckForUpdate
except ImportError:
    _RjupNeverCheckForUpdate = None
if _RjupNeverCheckForUpdate is not None:
    c.LabApp.news_url = None
    c.LabApp.check_for_updates_class = _RjupNeverCheckForUpdate
