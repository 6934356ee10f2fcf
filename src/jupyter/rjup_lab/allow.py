"""`allow:` in rjup.yaml, and rjup's probe key.

Admitted: loopback (inside the container), the listed networks, and requests from the
container's gateway that carry rjup's probe key. The gateway alone is not admitted:
docker-proxy forwards IPv6 clients, other containers' connections to the published port
and the engine's host's own loopback connections all from it, so admitting the gateway
would admit them all.

The probe key is the lowercase hex SHA-256 of b"rjup-probe\\n" followed by the exact
bytes of the lab's cookie secret file: rjup holds that secret, and so does anyone who
could forge a login cookie anyway.
"""

import collections
import hashlib
import hmac
import ipaddress
import time

PROBE_CONTEXT = b"rjup-probe\n"

REFUSED = "rjup: refused a request for %s from %s, an address `allow:` in rjup.yaml does not list%s"


def probe_key(secret):
    return hashlib.sha256(PROBE_CONTEXT + secret).hexdigest()


def probe_matches(value, key):
    """Whether a request's probe header `value` (None when absent) is `key`."""
    if not isinstance(value, str) or not key:
        return False
    return hmac.compare_digest(value.strip().encode("latin-1", "replace"), key.encode("ascii"))


def address_of(remote_ip):
    """The client's address, without an IPv6 zone and with IPv4-mapped IPv6 unmapped;
    None when it is not an address."""
    try:
        address = ipaddress.ip_address((remote_ip or "").split("%")[0])
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def gateways(route_table):
    """The default gateways in the text of /proc/net/route."""
    found = []
    for line in route_table.splitlines()[1:]:
        fields = line.split()
        if len(fields) > 2 and fields[1] == "00000000":
            try:
                found.append(ipaddress.ip_address(bytes.fromhex(fields[2])[::-1]))
            except ValueError:
                continue
    return found


class Allowlist:
    def __init__(self, networks, gateways):
        self.networks = [ipaddress.ip_network(n) for n in networks]
        self.gateways = list(gateways)

    def admits(self, remote_ip, probe):
        address = address_of(remote_ip)
        if address is None:
            return False
        if address.is_loopback or any(address in network for network in self.networks):
            return True
        return probe and address in self.gateways


class RefusalLog:
    """One log line per refused address a minute, with a count of the rest: a scanner
    must not flood the log. Remembers at most `cap` addresses. `message` takes the
    path and the address, then the count's note."""

    def __init__(self, emit, message=REFUSED, every=60.0, cap=10000, clock=time.monotonic):
        self.emit = emit
        self.message = message
        self.every = every
        self.cap = cap
        self.clock = clock
        self._seen = collections.OrderedDict()

    def refused(self, remote_ip, path):
        now = self.clock()
        last, count = self._seen.get(remote_ip, (None, 0))
        if last is not None and now - last < self.every:
            self._seen[remote_ip] = (last, count + 1)
            return
        more = f" (and {count} more requests since the last report)" if count else ""
        self.emit(self.message, path, remote_ip, more)
        self._seen[remote_ip] = (now, 0)
        self._seen.move_to_end(remote_ip)
        while len(self._seen) > self.cap:
            self._seen.popitem(last=False)
