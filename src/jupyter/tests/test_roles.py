import unittest

from rjup_lab.roles import READ_ONLY, authorized, read_only_may_send, reads


class Authorizer(unittest.TestCase):
    def test_owner_and_collaborators_may_do_anything(self):
        for role in ("owner", "collaborator"):
            for action in ("read", "write", "execute"):
                self.assertTrue(authorized(role, action, "kernels", "MainKernelHandler"))

    def test_read_only_accounts_only_read(self):
        self.assertTrue(authorized(READ_ONLY, "read", "contents", "ContentsHandler"))
        for resource, action in (("contents", "write"), ("kernels", "write"), ("kernels", "execute"), ("terminals", "execute"), ("sessions", "write")):
            self.assertFalse(authorized(READ_ONLY, action, resource, "Handler"), (resource, action))

    def test_read_only_accounts_see_events_and_open_collaboration_rooms(self):
        self.assertTrue(authorized(READ_ONLY, "execute", "events", "SubscribeWebsocket"))
        self.assertTrue(authorized(READ_ONLY, "write", "contents", "DocSessionHandler"))

    def test_unknown_accounts_may_do_nothing(self):
        self.assertFalse(authorized(None, "read", "contents", "ContentsHandler"))


class ReadOnlyWrites(unittest.TestCase):
    def test_reads_pass(self):
        for method in ("GET", "HEAD", "OPTIONS"):
            self.assertTrue(read_only_may_send(method, "/lab/api/extensions"))

    def test_writes_to_unauthorized_handlers_are_refused(self):
        for method, path in (
            ("POST", "/lab/api/extensions"),
            ("PUT", "/lab/api/settings/@jupyterlab/apputils-extension:themes"),
            ("PUT", "/lab/api/workspaces/default"),
            ("DELETE", "/api/contents/notes.txt"),
            ("POST", "/login-but-not"),
            ("PUT", "/api/collaboration/session"),
        ):
            self.assertFalse(read_only_may_send(method, path), (method, path))

    def test_login_logout_and_collaboration_sessions_pass(self):
        for method, path in (("POST", "/login"), ("POST", "/logout"), ("PUT", "/api/collaboration/session/notes.ipynb")):
            self.assertTrue(read_only_may_send(method, path), (method, path))


class Documents(unittest.TestCase):
    def test_sync_requests_and_awareness_read(self):
        self.assertTrue(reads(bytes([0, 0, 1])))
        self.assertTrue(reads(bytes([1, 5])))

    def test_updates_and_everything_else_write(self):
        for message in (bytes([0, 1, 1]), bytes([0, 2, 1]), bytes([2, 0]), bytes([0]), b"", "text", None):
            self.assertFalse(reads(message), message)


if __name__ == "__main__":
    unittest.main()
