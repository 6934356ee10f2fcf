import json
import os
import tempfile
import unittest

from rjup_lab.accounts import Accounts, fingerprint


class AccountsFile(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.tmp.name, "accounts.json")

    def tearDown(self):
        self.tmp.cleanup()

    def write(self, accounts):
        tmp = self.path + ".new"
        with open(tmp, "w") as f:
            json.dump({"accounts": accounts}, f)
        os.replace(tmp, self.path)

    def test_a_new_copy_is_read_at_the_next_request(self):
        accounts = Accounts(self.path)
        self.assertEqual(accounts.current(), {})
        self.write({"ada": {"hash": "h", "role": "collaborator"}})
        self.assertEqual(list(accounts.current()), ["ada"])
        self.write({})
        self.assertEqual(accounts.current(), {})

    def test_one_miss_while_the_engine_replaces_the_file_keeps_the_accounts(self):
        accounts = Accounts(self.path)
        self.write({"ada": {"hash": "h"}})
        accounts.current()
        os.remove(self.path)
        self.assertEqual(list(accounts.current()), ["ada"])
        self.assertEqual(accounts.current(), {})

    def test_a_half_written_file_keeps_what_was_known(self):
        accounts = Accounts(self.path)
        self.write({"ada": {"hash": "h"}})
        accounts.current()
        with open(self.path, "w") as f:
            f.write('{"accounts": {"ad')
        self.assertEqual(list(accounts.current()), ["ada"])

    def test_the_fingerprint_changes_with_the_hash(self):
        self.assertEqual(len(fingerprint("argon2:a")), 16)
        self.assertNotEqual(fingerprint("argon2:a"), fingerprint("argon2:b"))


if __name__ == "__main__":
    unittest.main()
