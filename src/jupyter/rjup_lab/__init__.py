"""What rjup's labs enforce beyond Jupyter Server's own checks.

rjup copies this package into the lab's config directory, beside
`jupyter_server_config.py` and `rjup_lab.json`; the config imports it and calls
`rjup_lab.server.install` with the JSON. Only `server` imports Jupyter Server and
tornado: the other modules are the pure rules it applies (the login throttle, the
address allowlist, the project's containment, what read-only accounts may send, body
bounds), which rjup's unit tests run without either (`src/jupyter/tests`).
"""
