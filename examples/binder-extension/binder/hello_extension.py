"""A Jupyter Server extension that lives in the repository; postBuild installs it."""

import pathlib


def _jupyter_server_extension_points():
    return [{"module": "hello_extension"}]


def _load_jupyter_server_extension(server_app):
    server_app.log.info("hello_extension is loaded")
    pathlib.Path.home().joinpath("hello-extension-loaded").write_text("yes\n")
