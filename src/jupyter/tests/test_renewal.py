import json
import os
import tempfile
import unittest

from rjup_lab.renewal import Watcher, message

VALID = {"names": ["10.231.0.1"], "not_after": 1800000000, "failures": 0}
FAILING = dict(
    VALID,
    last_error={"kind": "unreachable", "message": "the directory is down", "at": 1},
    failures=2,
    retry_at=1799990000,
)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class RenewalTest(unittest.TestCase):
    def test_a_failure_names_its_reason_and_what_the_lab_still_serves(self):
        line, failing = message(FAILING)
        self.assertTrue(failing)
        self.assertIn("failed (2 in a row; next try 2027-01-15", line)
        self.assertIn("the directory is down", line)
        self.assertIn("serves its certificate valid until 2027-01-15 08:00 UTC", line)
        self.assertIn("no certificate", message(dict(FAILING, not_after=None))[0])
        self.assertFalse(message(VALID)[1])
        self.assertIsNone(message({}))

    def test_each_failure_is_logged_once_then_hourly_and_the_recovery_once(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "status.json")
            warned, told, clock = [], [], Clock()
            w = Watcher(path, warned.append, told.append, repeat=3600, clock=clock)
            self.assertIsNone(w.check(), "no file yet")

            def write(status):
                with open(path + ".new", "w") as f:
                    json.dump(status, f)
                os.replace(path + ".new", path)

            write(VALID)
            w.check()
            self.assertEqual(len(told), 1, "the certificate it starts with")
            write(FAILING)
            w.check()
            w.check()
            self.assertEqual(len(warned), 1)
            clock.now += 3600
            w.check()
            self.assertEqual(len(warned), 2, "again after an hour")
            write(dict(FAILING, failures=3))
            w.check()
            self.assertEqual(len(warned), 3, "a new failure")
            write(dict(VALID, not_after=1800600000))
            w.check()
            self.assertEqual(len(told), 2, "renewed after failing")
            write(dict(VALID, not_after=1801200000))
            w.check()
            self.assertEqual(len(told), 2, "a plain renewal is no news")


if __name__ == "__main__":
    unittest.main()
