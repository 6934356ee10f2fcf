import os
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
PURE = ("accounts", "allow", "bodies", "paths", "renewal", "roles", "throttle")


class Package(unittest.TestCase):
    def test_every_file_rjup_copies_into_the_lab_compiles(self):
        files = [os.path.join(TOP, "jupyter_server_config.py")]
        package = os.path.join(TOP, "rjup_lab")
        files += [os.path.join(package, name) for name in sorted(os.listdir(package)) if name.endswith(".py")]
        for path in files:
            with open(path, encoding="utf-8") as f:
                compile(f.read(), path, "exec")

    def test_the_rules_import_neither_jupyter_server_nor_tornado(self):
        # In a fresh interpreter whose import of either fails loudly.
        blocker = (
            "import sys\n"
            "class Block:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] in ('jupyter_server', 'tornado', 'traitlets', 'jupyterlab'):\n"
            "            raise ImportError('the pure rules must not import ' + name)\n"
            "sys.meta_path.insert(0, Block())\n"
            + "".join(f"import rjup_lab.{name}\n" for name in PURE)
        )
        out = subprocess.run([sys.executable, "-c", blocker], cwd=TOP, capture_output=True, text=True)
        self.assertEqual(out.returncode, 0, out.stderr)


if __name__ == "__main__":
    unittest.main()
