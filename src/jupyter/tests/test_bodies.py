import unittest

from rjup_lab.bodies import declared_length, may_have_body, too_large

LIMIT = 64 * 1024


class Bodies(unittest.TestCase):
    def test_a_declared_length_past_the_bound_is_too_large(self):
        self.assertTrue(too_large(str(450 * 1024 * 1024), LIMIT))
        self.assertTrue(too_large(str(LIMIT + 1), LIMIT))
        self.assertFalse(too_large(str(LIMIT), LIMIT))
        self.assertFalse(too_large("0", LIMIT))

    def test_repeated_lengths_count_when_equal(self):
        self.assertEqual(declared_length("10, 10"), 10)
        self.assertIsNone(declared_length("10, 11"))
        self.assertTrue(too_large("99999999, 99999999", LIMIT))

    def test_what_is_not_a_length_is_left_to_tornado(self):
        for value in (None, "", "-1", "1e9", "abc", "+5"):
            self.assertIsNone(declared_length(value), value)
            self.assertFalse(too_large(value, LIMIT))

    def test_only_a_length_or_a_transfer_encoding_can_bring_a_body(self):
        self.assertFalse(may_have_body(None, None))
        self.assertTrue(may_have_body("0", None))
        self.assertTrue(may_have_body(None, "chunked"))


if __name__ == "__main__":
    unittest.main()
