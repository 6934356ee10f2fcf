"""The lab's side of `tls: acme`: the engine's renewer (the container rjup-acme) keeps
the lab's certificate in a volume, and beside it `status.json`, what its last order
did. A renewal that fails is logged here, in the lab's own log (`rjup logs`), with its
reason, each time another attempt fails and again every hour while it does, so that it
is seen well before the certificate ends. Only a stat of the file every few seconds.
"""

import json
import os
import threading
import time


def moment(seconds):
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(seconds))


def message(status):
    """The line to log about the renewer's `status`, and whether it is a failure; None
    before the renewer said anything about a certificate."""
    error = status.get("last_error")
    end = status.get("not_after")
    if error:
        serves = (
            "the lab serves its certificate valid until %s" % moment(end)
            if end
            else "the lab has no certificate from the CA"
        )
        retry = status.get("retry_at")
        return (
            "rjup: renewing the lab's TLS certificate failed (%d in a row; next try %s): %s; %s"
            % (
                status.get("failures", 1),
                moment(retry) if retry else "soon",
                error.get("message", "no reason given"),
                serves,
            ),
            True,
        )
    if end:
        return (
            "rjup: the lab's TLS certificate for %s is valid until %s"
            % (", ".join(status.get("names", [])), moment(end)),
            False,
        )
    return None


class Watcher:
    """Logs what `path` says when it changes: a failure each time, the recovery once."""

    def __init__(self, path, warn, info, every=5, repeat=3600, clock=time.time):
        self.path = path
        self.warn = warn
        self.info = info
        self.every = every
        self.repeat = repeat
        self.clock = clock
        self.seen = None
        self.last = None
        self.failing = False
        self.logged_at = 0

    def check(self):
        """Reads the file if it changed (or, while renewals fail, once `repeat` passed)
        and logs what it says; returns the line logged, if any."""
        try:
            stat = os.stat(self.path)
        except OSError:
            return None
        now = self.clock()
        seen = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        again = self.failing and now - self.logged_at >= self.repeat
        if seen == self.seen and not again:
            return None
        self.seen = seen
        try:
            with open(self.path, encoding="utf-8") as f:
                said = message(json.load(f))
        except (OSError, ValueError):
            return None
        if said is None:
            return None
        line, failing = said
        if line == self.last and not again:
            return None
        if failing:
            self.warn(line)
        elif self.failing or self.last is None:
            self.info(line)
        else:
            # A renewal that went well: no news.
            self.last = line
            return None
        self.last, self.failing, self.logged_at = line, failing, now
        return line

    def start(self):
        def run():
            while True:
                try:
                    self.check()
                except Exception:  # noqa: BLE001 - the lab must outlive its logger
                    pass
                time.sleep(self.every)

        threading.Thread(target=run, name="rjup-renewal", daemon=True).start()
