import hashlib
import unittest

from rjup_lab.allow import Allowlist, RefusalLog, address_of, gateways, probe_key, probe_matches

ROUTES = """Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010011AC\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
"""
SECRET = b"890d650d31a5f5c04ab33b5ee289380de0000000000000000000000000000000"


class ProbeKey(unittest.TestCase):
    def test_the_key_is_sha256_of_the_context_and_the_secret_files_bytes(self):
        self.assertEqual(probe_key(SECRET), hashlib.sha256(b"rjup-probe\n" + SECRET).hexdigest())
        # The value rjup's own side computes for the same secret (server_config.rs tests it).
        self.assertEqual(probe_key(b"c00k1e"), "c804a22ece10c4a2cd4817e30ce17991e0e2633e0055b9d521d7d718a211cfc0")

    def test_only_the_exact_key_matches(self):
        key = probe_key(SECRET)
        self.assertTrue(probe_matches(key, key))
        self.assertTrue(probe_matches(f" {key} ", key))
        self.assertFalse(probe_matches(key.upper(), key))
        self.assertFalse(probe_matches("0" * 64, key))
        self.assertFalse(probe_matches(None, key))
        self.assertFalse(probe_matches("", key))
        self.assertFalse(probe_matches(key, None))
        self.assertFalse(probe_matches("\u00e9" * 64, key))


class Addresses(unittest.TestCase):
    def test_gateways_come_from_the_route_table(self):
        self.assertEqual([str(g) for g in gateways(ROUTES)], ["172.17.0.1"])
        self.assertEqual(gateways("Iface\n"), [])

    def test_zones_and_mapped_addresses(self):
        self.assertEqual(str(address_of("fe80::1%eth0")), "fe80::1")
        self.assertEqual(str(address_of("::ffff:10.0.0.2")), "10.0.0.2")
        self.assertIsNone(address_of("not an address"))
        self.assertIsNone(address_of(None))


class Admission(unittest.TestCase):
    def setUp(self):
        self.allow = Allowlist(["10.0.0.0/8", "fd00::/64"], gateways(ROUTES))

    def test_listed_networks_and_loopback_are_admitted(self):
        for ip in ("10.1.2.3", "fd00::5", "127.0.0.1", "::1", "::ffff:10.0.0.9"):
            self.assertTrue(self.allow.admits(ip, False), ip)

    def test_others_are_refused(self):
        for ip in ("192.168.1.2", "fd01::1", "", "garbage"):
            self.assertFalse(self.allow.admits(ip, False), ip)

    def test_the_gateway_is_admitted_only_with_rjups_probe_key(self):
        # docker-proxy forwards IPv6 clients, other containers and the host's loopback
        # from the gateway: the gateway alone is everybody.
        self.assertFalse(self.allow.admits("172.17.0.1", False))
        self.assertTrue(self.allow.admits("172.17.0.1", True))

    def test_the_key_admits_from_the_gateway_only(self):
        self.assertFalse(self.allow.admits("192.168.1.2", True))


class Refusals(unittest.TestCase):
    def test_one_line_per_address_a_minute_with_a_count(self):
        now = [0.0]
        lines = []
        log = RefusalLog(lambda fmt, *args: lines.append(fmt % args), clock=lambda: now[0])
        for _ in range(3):
            log.refused("10.0.0.2", "/login")
        now[0] = 61.0
        log.refused("10.0.0.2", "/api")
        self.assertEqual(len(lines), 2)
        self.assertIn("refused a request for /login from 10.0.0.2", lines[0])
        self.assertIn("(and 2 more requests since the last report)", lines[1])

    def test_the_table_is_bounded(self):
        log = RefusalLog(lambda *a: None, cap=10)
        for i in range(1000):
            log.refused(f"10.0.{i // 256}.{i % 256}", "/")
        self.assertLessEqual(len(log._seen), 10)


if __name__ == "__main__":
    unittest.main()
