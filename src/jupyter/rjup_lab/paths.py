"""Containment: every path the lab serves stays inside its root (/project).

Outside the project a lab's container holds only its image and the lab's own secrets
(its config, cookie secret, accounts and TLS key), never the host's data: so no account,
the owner included, follows a link out of the project. An account that can run code
reaches all of that through a terminal anyway; a read-only guest must not reach it
through a link such as `ln -s /etc etclink` or `ln -s .. parent`.
"""

import os


def inside(root, path):
    """Whether `path`, with every link in it followed, is `root` or lies under it. A path
    that does not exist yet counts by its nearest existing parent, so a new file
    through a link out of the root is outside too."""
    try:
        real = os.path.realpath(path)
        base = os.path.realpath(root)
    except (OSError, ValueError):
        return False
    if real == base:
        return True
    return real.startswith(base.rstrip(os.sep) + os.sep)
