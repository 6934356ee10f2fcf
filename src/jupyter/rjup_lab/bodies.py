"""Request bodies before authentication.

Tornado reads a request's whole body into memory before any handler runs, up to
Jupyter's 512 MiB: so a stranger could make the lab buffer half a gigabyte before the
login check refuses it. A request without a valid login cookie of an account that may
write (the owner, a collaborator) gets a small bound instead; one that declares a
bigger body is answered 413 without it being read.
"""


def declared_length(value):
    """The Content-Length header's value as an int; None when absent or not a length
    (tornado itself refuses those with 400)."""
    if value is None:
        return None
    pieces = {p.strip() for p in value.split(",")}
    if len(pieces) != 1:
        return None
    piece = pieces.pop()
    if not piece.isdigit():
        return None
    return int(piece)


def may_have_body(content_length, transfer_encoding):
    """Whether a request with these headers (None when absent) can carry a body: without
    either, HTTP/1.1 says it has none."""
    return content_length is not None or transfer_encoding is not None


def too_large(content_length, limit):
    length = declared_length(content_length)
    return length is not None and length > limit
