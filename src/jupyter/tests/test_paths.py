import os
import tempfile
import unittest

from rjup_lab.paths import inside


class Containment(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        top = os.path.realpath(self.tmp.name)
        self.root = os.path.join(top, "project")
        self.secret = os.path.join(top, "etc", "rjup", "cookie_secret")
        os.makedirs(os.path.dirname(self.secret))
        os.makedirs(os.path.join(self.root, "sub"))
        with open(self.secret, "w") as f:
            f.write("s3cret")
        with open(os.path.join(self.root, "notes.txt"), "w") as f:
            f.write("notes")
        os.symlink(os.path.join(top, "etc"), os.path.join(self.root, "etclink"))
        os.symlink("..", os.path.join(self.root, "parent"))
        os.symlink("notes.txt", os.path.join(self.root, "alias.txt"))
        os.symlink("../notes.txt", os.path.join(self.root, "sub", "up.txt"))
        os.symlink(self.secret + ".gone", os.path.join(self.root, "dangling"))

    def tearDown(self):
        self.tmp.cleanup()

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def test_the_project_and_links_inside_it_are_inside(self):
        for parts in ((), ("notes.txt",), ("sub",), ("alias.txt",), ("sub", "up.txt"), ("new.txt",), ("sub", "new")):
            self.assertTrue(inside(self.root, self.path(*parts)), parts)

    def test_links_out_of_the_project_are_outside(self):
        for parts in (
            ("etclink",),
            ("etclink", "rjup", "cookie_secret"),
            ("parent",),
            ("parent", "etc", "rjup", "cookie_secret"),
            ("parent", "project-other"),
            ("etclink", "new-file"),
            ("dangling",),
        ):
            self.assertFalse(inside(self.root, self.path(*parts)), parts)

    def test_a_sibling_with_the_same_prefix_is_outside(self):
        sibling = self.root + "-other"
        os.makedirs(sibling)
        self.assertFalse(inside(self.root, sibling))

    def test_dot_dot_in_the_path_is_resolved(self):
        self.assertFalse(inside(self.root, self.path("sub", "..", "..", "etc")))
        self.assertTrue(inside(self.root, self.path("sub", "..", "notes.txt")))

    def test_a_root_reached_through_a_link_still_counts(self):
        link = self.root + "-link"
        os.symlink(self.root, link)
        self.assertTrue(inside(link, os.path.join(link, "notes.txt")))
        self.assertFalse(inside(link, os.path.join(link, "etclink", "rjup")))

    def test_a_loop_is_outside_or_refused_not_an_error(self):
        os.symlink("loop", self.path("loop"))
        self.assertIn(inside(self.root, self.path("loop")), (True, False))

    def test_a_path_with_a_nul_is_outside(self):
        self.assertFalse(inside(self.root, self.path("a\0b")))


if __name__ == "__main__":
    unittest.main()
