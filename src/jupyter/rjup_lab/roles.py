"""What each role may do. Read-only accounts may read: browse, open files, see outputs.
The owner and collaborators may do everything the lab can."""

READ_ONLY = "read-only"

# What a read-only account may send besides reads: logging in and out, and asking for
# a document's collaboration room (whose WebSocket then drops its edits).
READ_ONLY_WRITES = ("/login", "/logout", "/api/collaboration/session/")

READS = ("GET", "HEAD", "OPTIONS")


def authorized(role, action, resource, handler_name):
    """The Authorizer's answer for an account of `role` (None: no such account). The
    kernel and terminal WebSockets ask for `execute`; writes to files and starting
    kernels, sessions or terminals ask for `write`."""
    if role is None:
        return False
    if role != READ_ONLY or action == "read":
        return True
    # The event stream only tells what the server did; the collaboration session
    # request only names a document's room, whose WebSocket is made read-only.
    return (resource, action) == ("events", "execute") or handler_name == "DocSessionHandler"


def read_only_may_send(method, path):
    """Whether a read-only account's request with `method` to `path` (below the base
    URL, starting with /) may reach its handler. Handlers that ask no Authorizer
    (JupyterLab's extension manager, which runs pip; its settings and workspaces)
    would otherwise change things for it."""
    if method in READS:
        return True
    return any(path == p or (p.endswith("/") and path.startswith(p)) for p in READ_ONLY_WRITES)


def reads(message):
    """Whether a Yjs message from a client only reads: the sync request (step 1) and
    awareness (who is where), not updates (step 2, update), chat or anything else."""
    return (
        isinstance(message, bytes)
        and len(message) >= 2
        and ((message[0] == 0 and message[1] == 0) or message[0] == 1)
    )
