"""rfc3987_syntax, imported when it is first used rather than when jsonschema loads.

jsonschema (4.25 and later, through jupyter_events, which every Jupyter Server imports)
imports `rfc3987_syntax.is_valid_syntax` at start, and that package builds some 35
Lark parsers as it is imported: about 0.7 s of a lab's 1.3 s start here, for the
`iri` formats that no Jupyter schema uses (jupyter-server/jupyter_server#1559,
python-jsonschema/jsonschema#1428). Until jsonschema imports it lazily itself, the
lab's environment imports this module at every interpreter start (rjup-lazy-iri.pth):
`rfc3987_syntax` is then a module whose `is_valid_syntax` loads the real package on its
first call, as does any other name asked of it. Nothing else changes: every check
still runs the real parser.
"""

import importlib.machinery
import sys

NAME = "rfc3987_syntax"


# Plain classes: the import system only calls these methods, and importlib.abc would
# cost every interpreter start an import of its own.
class _Lazy:
    def __init__(self, real):
        self.real = real

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        real = self.real
        loaded = []

        def load():
            if not loaded:
                loaded.append(True)
                if vars(module).get("__getattr__") is __getattr__:
                    del vars(module)["__getattr__"]
                # The real package's code, in this same module: its names replace the
                # stand-ins, and its submodules import as usual.
                real.loader.exec_module(module)
            return module

        def is_valid_syntax(*args, **kwargs):
            return load().is_valid_syntax(*args, **kwargs)

        def __getattr__(name):
            if name.startswith("__"):
                raise AttributeError(name)
            return getattr(load(), name)

        module.__path__ = real.submodule_search_locations
        module.is_valid_syntax = is_valid_syntax
        module.__getattr__ = __getattr__


class _Finder:
    def find_spec(self, name, path, target=None):
        if name != NAME:
            return None
        real = importlib.machinery.PathFinder.find_spec(name, path)
        if real is None or real.loader is None or real.submodule_search_locations is None:
            return None
        spec = importlib.machinery.ModuleSpec(
            name, _Lazy(real), origin=real.origin, is_package=True
        )
        spec.submodule_search_locations = real.submodule_search_locations
        spec.has_location = real.has_location
        return spec

    def invalidate_caches(self):
        pass


def install():
    if NAME not in sys.modules and not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())


install()
