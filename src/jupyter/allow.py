
# rjup: `allow:` in rjup.yaml. Every request (pages, static files, the API, WebSocket
# upgrades) passes tornado's Application.find_handler before any handler runs, login
# included; a client address outside the list gets a 403 from a handler of its own,
# marked so that rjup can tell it from other 403s. The engine's own host is always
# admitted: loopback, and the container's default gateway, which is where connections
# the engine forwards from its host's loopback (docker-proxy) arrive from.
import ipaddress
import logging
import time

import tornado.web


class RjupAllowlist:
    ALLOWED = [ipaddress.ip_network(n) for n in RJUP_ALLOW]
    LOG_EVERY = 60.0
    _logged = {}

    @staticmethod
    def gateways():
        found = []
        try:
            with open("/proc/net/route") as routes:
                for line in routes.readlines()[1:]:
                    fields = line.split()
                    if len(fields) > 2 and fields[1] == "00000000":
                        found.append(ipaddress.ip_address(bytes.fromhex(fields[2])[::-1]))
        except (OSError, ValueError):
            pass
        return found

    @classmethod
    def admits(cls, remote_ip):
        try:
            address = ipaddress.ip_address((remote_ip or "").split("%")[0])
        except ValueError:
            return False
        if getattr(address, "ipv4_mapped", None):
            address = address.ipv4_mapped
        return (
            address.is_loopback
            or address in cls.HOST
            or any(address in network for network in cls.ALLOWED)
        )

    @classmethod
    def note_refusal(cls, remote_ip, path):
        # One line per address a minute: a scanner must not flood the log.
        now = time.monotonic()
        last, count = cls._logged.get(remote_ip, (-cls.LOG_EVERY, 0))
        if now - last < cls.LOG_EVERY:
            cls._logged[remote_ip] = (last, count + 1)
            return
        if len(cls._logged) > 10000:
            cls._logged.clear()
        more = f" (and {count} more requests since the last report)" if count else ""
        logging.getLogger("ServerApp").warning(
            "rjup: refused a request for %s from %s, an address `allow:` in rjup.yaml does not list%s",
            path, remote_ip, more,
        )
        cls._logged[remote_ip] = (now, 0)


RjupAllowlist.HOST = RjupAllowlist.gateways()


class RjupEveryMethod:
    def __contains__(self, method):
        return True


class RjupRefusedHandler(tornado.web.RequestHandler):
    SUPPORTED_METHODS = RjupEveryMethod()

    def check_xsrf_cookie(self):
        pass

    def prepare(self):
        remote_ip = self.request.remote_ip
        RjupAllowlist.note_refusal(remote_ip, self.request.path)
        self.set_status(403)
        self.set_header("RJUP_REFUSED_HEADER", "address")
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(f"403 Forbidden: this lab does not admit requests from {remote_ip}\n")


def _rjup_admit_or_refuse(find_handler):
    def wrapper(self, request, **kwargs):
        if RjupAllowlist.admits(request.remote_ip):
            return find_handler(self, request, **kwargs)
        return self.get_handler_delegate(request, RjupRefusedHandler)

    return wrapper


tornado.web.Application.find_handler = _rjup_admit_or_refuse(tornado.web.Application.find_handler)
