"""The accounts beside the owner's (`rjup user`), read from their file whenever it
changes, so that adding or removing one never restarts the lab and its kernels."""

import hashlib
import json
import os


def fingerprint(hashed):
    """What a login cookie carries of its account's hash: a new password or a removed
    account ends its sessions."""
    return hashlib.sha256(hashed.encode()).hexdigest()[:16]


class Accounts:
    """Each request stats the file (a syscall, no read), so a removed account is refused
    at its very next request."""

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
                        accounts = json.load(f).get("accounts", {})
                except (OSError, ValueError, AttributeError):
                    # Caught mid-copy: keep what was known, and read it again next time.
                    return self._accounts
                self._accounts = accounts if isinstance(accounts, dict) else {}
            self._seen = seen
        return self._accounts
