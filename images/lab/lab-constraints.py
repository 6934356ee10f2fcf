"""The lab's own packages as constraints on every later install (issue 20).

Run by the lab environment's Python (`packaging` is one of JupyterLab's own
dependencies) right after JupyterLab is installed:

    python lab-constraints.py write OUT

writes OUT, a constraints file (pip's and uv's format) with JupyterLab pinned to the
installed version and, for every package JupyterLab needs, directly or not, the versions
those packages declare they work with: a later `pip install` or `uv pip install` may move
`tornado` within `>=6.2.0`, never to 5.1.1. Each line's comment says which lab package
asked for it, so that a conflict can name it. Each of the project's installs then runs as

    python lab-constraints.py run SOURCE COMMAND...

(SOURCE names the file for the user); if it fails on the constraints, or succeeds but
leaves a lab package without what it needs (`uv sync` and `--no-deps` installs do not
resolve), the build's error ends with one line naming the requirement and the lab
package: `rjup: SOURCE conflicts with ...`.
"""

import importlib
import os
import re
import subprocess
import sys
from importlib import metadata

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

# What the lab is; ipywidgets and the rest of the defaults are the user's to change.
ROOTS = ["jupyterlab"]


def installed():
    importlib.invalidate_caches()
    dists = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            dists.setdefault(canonicalize_name(name), dist)
    return dists


def requirements(dist, extras):
    env = default_environment()
    for line in dist.requires or []:
        req = Requirement(line)
        if req.marker is None:
            yield req
            continue
        for extra in [""] + sorted(extras):
            if req.marker.evaluate({**env, "extra": extra}):
                yield req
                break


def write(out):
    dists = installed()
    lines = ["# The lab's own packages: every later install keeps within these (rjup)."]
    queue = []
    for root in ROOTS:
        name = canonicalize_name(root)
        if name not in dists:
            sys.exit(f"rjup: {root} is not installed in {sys.prefix}")
        lines.append(f"{name}=={dists[name].version}  # the lab")
        queue.append((name, frozenset()))
    # One line per package and lab package that asks for it, so that a conflict can
    # name who asked; pip and uv combine the lines of one package.
    seen = set()
    while queue:
        name, extras = queue.pop()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        dist = dists[name]
        who = f"{name} {dist.version}"
        for req in requirements(dist, extras):
            dep = canonicalize_name(req.name)
            if dep not in dists:
                continue
            if str(req.specifier):
                line = f"{dep}{req.specifier}  # {who}"
                if line not in lines:
                    lines.append(line)
            queue.append((dep, frozenset(req.extras)))
    with open(out, "w") as f:
        f.write("\n".join(lines) + "\n")


def read(constraints):
    """The constraints as (name, specifier set, who asked)."""
    asked = []
    for line in open(constraints):
        if line.startswith("#") or "#" not in line:
            continue
        spec, who = (part.strip() for part in line.split("#", 1))
        req = Requirement(spec)
        asked.append((canonicalize_name(req.name), req.specifier, who))
    return asked


def explain(constraints, source, output):
    """One line: the lab package the installer's reason runs into, and that reason."""
    asked = read(constraints)
    text = " ".join(output.split())
    # uv: "Because X depends on Y and you require Z, we can conclude ..."; pip: "The
    # conflict is caused by: ..."
    m = re.search(r"Because (.*?)(?:, we can conclude|\. And because|$)", text) or re.search(
        r"The conflict is caused by: (.*?)(?: To fix this| Additionally|$)", text
    )
    if not m:
        return None
    reason = m.group(1).rstrip(".")
    words = " ".join(reason.split()).replace(" ", "")
    named = {canonicalize_name(w) for w in re.findall(r"[A-Za-z0-9][A-Za-z0-9._-]*", reason)}
    # The lab's requirements the reason quotes, else every one on a package it names.
    hits = [(n, s, w) for n, s, w in asked if n in named and str(s) and f"{n}{s}" in words]
    hits = hits or [(n, s, w) for n, s, w in asked if n in named]
    if not hits:
        return None
    needs = []
    for name, spec, who in hits:
        said = f"the lab runs {name}{spec}" if who == "the lab" else f"{who} needs {name}{spec}"
        if said not in needs:
            needs.append(said)
    return f"rjup: {source} conflicts with the lab's own packages: {'; '.join(needs)} ({reason})"


def broken(constraints):
    """The lab's requirements the installed packages no longer meet, as sentences."""
    dists = installed()
    found = []
    for name, spec, who in read(constraints):
        dist = dists.get(name)
        if dist is None or spec.contains(dist.version, prereleases=True):
            continue
        need = f"the lab runs {name}{spec}" if who == "the lab" else f"{who} needs {name}{spec}"
        found.append(f"{need}, and {name} {dist.version} is installed")
    return found


def run(source, command):
    constraints = os.environ.get("UV_CONSTRAINT") or os.environ["PIP_CONSTRAINT"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = []
    for raw in process.stdout:
        line = raw.decode(errors="replace")
        output.append(line)
        sys.stdout.write(line)
        sys.stdout.flush()
    status = process.wait()
    if status != 0:
        line = explain(constraints, source, "".join(output))
        if line:
            print(line, flush=True)
        sys.exit(status)
    found = broken(constraints)
    if found:
        print(f"rjup: {source} conflicts with the lab's own packages: {'; '.join(found)}")
        sys.exit(1)


def main():
    args = sys.argv[1:]
    if args[:1] == ["write"] and len(args) == 2:
        write(args[1])
        found = broken(args[1])
        if found:
            sys.exit(f"rjup: the lab's packages do not fit together: {'; '.join(found)}")
    elif args[:1] == ["run"] and len(args) >= 3:
        run(args[1], args[2:])
    else:
        sys.exit("usage: lab-constraints.py write OUT | run SOURCE COMMAND...")


if __name__ == "__main__":
    main()
