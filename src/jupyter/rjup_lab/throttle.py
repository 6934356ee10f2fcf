"""The login throttle: Jupyter Server has no limit on password guesses.

After `free_failures` failed logins from one client, or `account_free_failures` for one
account from at least two clients, that client or account is locked out for
`first_lockout` seconds, doubling with every further failure up to `max_lockout`. One
client alone never locks an account (its own lockout slows it instead), so nobody can
lock the owner out from one machine. A success clears the records it involved; records
are forgotten `forget_after` seconds after their last failure.

Every name gets records, known or not, so that under a lockout an unknown name gets the
answer an existing one gets. The tables are bounded: past `max_records` entries, the
least recently failed one is dropped, so guessed names and addresses cannot grow memory.
"""

import collections
import hashlib
import time

# Past this, a name is stored by its hash: no record holds a long guess.
LONGEST_NAME = 64
# Clients remembered per account: two are enough to tell "several".
SOURCES_PER_ACCOUNT = 64


class Bounded:
    """A dict that keeps at most `cap` entries, dropping the least recently set."""

    def __init__(self, cap):
        self.cap = max(1, int(cap))
        self._items = collections.OrderedDict()

    def get(self, key, default=None):
        return self._items.get(key, default)

    def set(self, key, value):
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.cap:
            self._items.popitem(last=False)

    def pop(self, key):
        self._items.pop(key, None)

    def __len__(self):
        return len(self._items)

    def __contains__(self, key):
        return key in self._items


def client_key(address, probe):
    """The record a client's failures count in: rjup's own probe (it holds the cookie
    secret) has its own, apart from the address it shares with everyone the engine
    forwards (IPv6 clients, other containers)."""
    return ("probe", "rjup") if probe else ("address", address)


def account_key(name):
    if len(name) > LONGEST_NAME:
        name = "sha256:" + hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()
    return ("account", name)


class Throttle:
    def __init__(
        self,
        free_failures,
        account_free_failures,
        first_lockout,
        max_lockout,
        forget_after,
        max_records,
        clock=time.monotonic,
    ):
        self.free_failures = free_failures
        self.account_free_failures = account_free_failures
        self.first_lockout = float(first_lockout)
        self.max_lockout = float(max_lockout)
        self.forget_after = float(forget_after)
        self.clock = clock
        # key -> (failures, time of the last one, locked until)
        self._failures = Bounded(max_records)
        # account key -> the clients that failed to log in to it
        self._sources = Bounded(max_records)

    def refusal(self, keys):
        """The first of `keys` locked out now, as (key, failures, seconds left), or None."""
        now = self.clock()
        for key in keys:
            record = self._failures.get(key)
            if record is None:
                continue
            count, last, until = record
            if now - last > self.forget_after and now >= until:
                self._forget(key)
                continue
            if now < until:
                return key, count, until - now
        return None

    def failed(self, keys, source):
        """Counts a failed login against each of `keys`, from client `source`. Returns
        the lockouts it starts, as [(key, failures, seconds)]."""
        now = self.clock()
        started = []
        for key in keys:
            count, _, until = self._failures.get(key, (0, 0.0, 0.0))
            count += 1
            free = self.free_failures
            several = True
            if key[0] == "account":
                free = self.account_free_failures
                sources = self._sources.get(key, set())
                if len(sources) < SOURCES_PER_ACCOUNT:
                    sources.add(source)
                self._sources.set(key, sources)
                several = len(sources) >= 2
            if count >= free and several:
                lockout = min(self.first_lockout * 2 ** (count - free), self.max_lockout)
                until = now + lockout
                started.append((key, count, lockout))
            self._failures.set(key, (count, now, until))
        return started

    def succeeded(self, keys):
        for key in keys:
            self._forget(key)

    def _forget(self, key):
        self._failures.pop(key)
        self._sources.pop(key)

    def records(self):
        """How many records are kept (bounded by max_records per table)."""
        return len(self._failures), len(self._sources)
