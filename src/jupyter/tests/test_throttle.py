import unittest

from rjup_lab.throttle import Bounded, Throttle, account_key, client_key


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def make(clock, max_records=10000):
    return Throttle(
        free_failures=5,
        account_free_failures=10,
        first_lockout=30,
        max_lockout=3600,
        forget_after=3600,
        max_records=max_records,
        clock=clock,
    )


def fail(throttle, address, name, times=1, probe=False):
    """Fails `times` logins as the lab does: refused ones are not counted. Returns the
    statuses a client would see (401 or 429)."""
    statuses = []
    client = client_key(address, probe)
    account = account_key(name)
    for _ in range(times):
        if throttle.refusal([client] if probe else [client, account]):
            statuses.append(429)
            continue
        throttle.failed([client, account], client[1])
        statuses.append(401)
    return statuses


class LoginLockout(unittest.TestCase):
    def test_five_failures_from_one_address_lock_it_for_30_seconds_doubling(self):
        clock = Clock()
        t = make(clock)
        self.assertEqual(fail(t, "10.0.0.2", "owner", 6), [401] * 5 + [429])
        key, count, left = t.refusal([client_key("10.0.0.2", False)])
        self.assertEqual((key, count, left), (("address", "10.0.0.2"), 5, 30.0))
        clock.now += 31
        self.assertEqual(fail(t, "10.0.0.2", "owner"), [401])
        self.assertEqual(t.refusal([client_key("10.0.0.2", False)])[2], 60.0)
        # Other addresses are not affected.
        self.assertIsNone(t.refusal([client_key("10.0.0.3", False)]))

    def test_the_lockout_stops_at_an_hour(self):
        clock = Clock()
        t = make(clock)
        fail(t, "10.0.0.2", "x", 5)
        seen = []
        for _ in range(8):
            left = t.refusal([client_key("10.0.0.2", False)])[2]
            seen.append(left)
            clock.now += left + 1
            self.assertEqual(fail(t, "10.0.0.2", "x"), [401])
        self.assertEqual(seen, [30.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 3600.0])
        # The last wait was over an hour without failures: the record was forgotten.
        self.assertIsNone(t.refusal([client_key("10.0.0.2", False)]))

    def test_one_address_alone_never_locks_an_account(self):
        clock = Clock()
        t = make(clock)
        for _ in range(5):
            fail(t, "10.0.0.2", "owner", 5)
            clock.now += 3599
        self.assertIsNone(t.refusal([account_key("owner")]))

    def test_ten_failures_from_two_addresses_lock_the_account_for_everyone(self):
        t = make(Clock())
        fail(t, "10.0.0.2", "ada", 5)
        fail(t, "10.0.0.3", "ada", 5)
        self.assertEqual(fail(t, "10.0.0.4", "ada"), [429])
        self.assertEqual(fail(t, "10.0.0.4", "owner"), [401])

    def test_a_success_clears_its_records_only(self):
        t = make(Clock())
        fail(t, "10.0.0.2", "owner", 4)
        fail(t, "10.0.0.3", "owner", 4)
        t.succeeded([client_key("10.0.0.2", False), account_key("owner")])
        self.assertIsNone(t.refusal([client_key("10.0.0.2", False), account_key("owner")]))
        self.assertEqual(fail(t, "10.0.0.3", "x"), [401])
        self.assertIsNotNone(t.refusal([client_key("10.0.0.3", False)]))

    def test_records_are_forgotten_an_hour_after_the_last_failure(self):
        clock = Clock()
        t = make(clock)
        fail(t, "10.0.0.2", "owner", 4)
        clock.now += 3601
        self.assertEqual(fail(t, "10.0.0.2", "owner", 5), [401] * 5)
        self.assertIsNotNone(t.refusal([client_key("10.0.0.2", False)]))


class Probe(unittest.TestCase):
    def test_rjups_probe_has_a_bucket_of_its_own(self):
        t = make(Clock())
        # IPv6 guessers arrive from the gateway, as the engine's host's probe does.
        self.assertEqual(fail(t, "172.17.0.1", "owner", 6), [401] * 5 + [429])
        self.assertEqual(fail(t, "172.17.0.1", "owner", 1, probe=True), [401])
        self.assertIsNone(t.refusal([client_key("172.17.0.1", True)]))

    def test_the_probe_is_not_refused_by_a_locked_account(self):
        t = make(Clock())
        fail(t, "10.0.0.2", "owner", 5)
        fail(t, "10.0.0.3", "owner", 5)
        self.assertEqual(fail(t, "10.0.0.4", "owner"), [429])
        self.assertEqual(fail(t, "172.17.0.1", "owner", probe=True), [401])

    def test_the_probe_is_throttled_too(self):
        t = make(Clock())
        self.assertEqual(fail(t, "172.17.0.1", "owner", 6, probe=True), [401] * 5 + [429])
        self.assertEqual(fail(t, "172.17.0.1", "owner", 1), [401])


class SameAnswer(unittest.TestCase):
    def test_an_unknown_name_is_locked_out_as_an_existing_one_is(self):
        t = make(Clock())
        for name, addresses in (("ada", ("a", "b")), ("zed", ("c", "d"))):
            for address in addresses:
                fail(t, address, name, 5)
        self.assertEqual(fail(t, "e", "ada"), fail(t, "e", "zed"))
        self.assertEqual(fail(t, "e", "zed"), [429])
        existing = t.refusal([client_key("e", False), account_key("ada")])
        unknown = t.refusal([client_key("e", False), account_key("zed")])
        self.assertEqual(existing[1:], unknown[1:])

    def test_long_names_are_kept_as_a_hash(self):
        key = account_key("x" * 60000)
        self.assertLess(len(key[1]), 80)
        self.assertNotEqual(key, account_key("x" * 59999))
        self.assertEqual(account_key("ada"), ("account", "ada"))


class Bounds(unittest.TestCase):
    def test_guessed_names_and_addresses_cannot_grow_the_tables(self):
        t = make(Clock(), max_records=100)
        for i in range(5000):
            fail(t, f"10.{i // 65536}.{i // 256 % 256}.{i % 256}", f"name-{i}")
        failures, sources = t.records()
        self.assertLessEqual(failures, 100)
        self.assertLessEqual(sources, 100)

    def test_the_oldest_record_goes_first(self):
        clock = Clock()
        t = make(clock, max_records=4)
        fail(t, "old", "x", 5)
        self.assertIsNotNone(t.refusal([client_key("old", False)]))
        fail(t, "new", "y", 5)
        self.assertIsNotNone(t.refusal([client_key("old", False)]), "4 records fit")
        fail(t, "newer", "z")
        self.assertIsNone(t.refusal([client_key("old", False)]), "the oldest was dropped")
        self.assertIsNotNone(t.refusal([client_key("new", False)]))

    def test_sources_per_account_are_bounded(self):
        t = make(Clock())
        for i in range(1000):
            fail(t, f"a{i}", "ada")
        self.assertLessEqual(len(t._sources.get(account_key("ada"))), 64)

    def test_bounded_keeps_the_latest(self):
        b = Bounded(2)
        b.set("a", 1)
        b.set("b", 2)
        b.set("a", 3)
        b.set("c", 4)
        self.assertEqual((b.get("a"), "b" in b, b.get("c"), len(b)), (3, False, 4, 2))


if __name__ == "__main__":
    unittest.main()
