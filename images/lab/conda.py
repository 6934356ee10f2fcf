"""environment.yml's conda packages, with py-rattler (conda-requirements.txt), run by uv
in the image build and in `rjup lock`'s container; it never enters the image.

    conda.py create ENV PREFIX   solve ENV and install the result into PREFIX; or, when
                                 ENV holds locked packages, install exactly those
    conda.py lock ENV            solve ENV; print one `URL#sha256:HEX` line per package

ENV is the JSON rjup writes from environment.yml:
    {"channels": [URL or name, ...], "specs": [conda match spec, ...],
     "default_python": "3.13", "min_python": "3.9"}
or, from rjup.lock: {"packages": ["URL#sha256:HEX", ...]}.

When the specs name no Python, the default one is tried first, then the newest the
packages allow (never older than min_python, JupyterLab's floor).

A failure ends with one line `rjup: ...` (the channel and the network's own words, or
the solver's first reason) and exit 2, which rjup's build error quotes.
"""

import asyncio
import json
import os
import shutil
import sys
import tempfile

import rattler
from rattler import (
    BuildString,
    Channel,
    ChannelConfig,
    Gateway,
    GenericVirtualPackage,
    PackageName,
    PackageRecord,
    RepoDataRecord,
    Version,
)
from rattler.exceptions import GatewayError, InstallerError, SolverError

# The build's kept cache mount; without one (Docker's classic builder), a directory
# removed at the end, so that no download stays in the image.
KEPT = os.environ.get("RJUP_CONDA_CACHE")
CACHE = KEPT or tempfile.mkdtemp(prefix="rjup-conda-")
PLATFORMS = ["linux-64", "noarch"]


def leave(code):
    """Exit at once, output flushed: py-rattler's tokio threads race the interpreter's
    shutdown (pyo3-async-runtimes #40), and 2 to 7 runs in 40 ended in SIGSEGV or
    SIGABRT after the work was done."""
    if not KEPT:
        shutil.rmtree(CACHE, ignore_errors=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def fail(message):
    print(f"rjup: {message}", file=sys.stderr, flush=True)
    leave(2)


def one_line(error):
    return " ".join(str(error).split())


def virtual_packages():
    """This machine's, but a generic x86-64 CPU: a lock made here must install on an
    older CPU too, and the build solves as the lock did."""
    found = []
    for package in rattler.VirtualPackage.detect():
        generic = package.into_generic()
        if generic.name.normalized != "__archspec":
            found.append(generic)
    found.append(
        GenericVirtualPackage(PackageName("__archspec"), Version("1"), BuildString("x86_64"))
    )
    return found


def channel_url(channel):
    """`conda-forge` -> https://conda.anaconda.org/conda-forge/; a URL as it is."""
    return Channel(channel, ChannelConfig()).base_url


def unreachable(channels, error):
    """One line: which channel, and the network's own words (the innermost cause)."""
    text = one_line(error)
    url = next((u for u in map(channel_url, channels) if u.rstrip("/") in text), None)
    cause = text.rsplit("Caused by: ", 1)[-1]
    if url is None:
        return f"cannot fetch the conda package index: {text}"
    name = next(c for c in channels if channel_url(c) == url)
    url = url.rstrip("/")
    where = f"channel {name} ({url})" if name.rstrip("/") != url else f"channel {url}"
    return f"cannot reach the conda {where}: {cause}"


async def solve(env):
    channels = env["channels"]
    gateway = Gateway(cache_dir=os.path.join(CACHE, "repodata"))
    specs = env["specs"]
    names = [spec.split()[0].split("=")[0].split("<")[0].split(">")[0] for spec in specs]
    tries = [specs]
    if "python" not in names:
        tries = [
            specs + [f"python {env['default_python']}.*"],
            specs + [f"python >={env['min_python']}"],
        ]
    for n, attempt in enumerate(tries):
        try:
            return await rattler.solve(
                channels,
                attempt,
                gateway=gateway,
                platforms=PLATFORMS,
                virtual_packages=virtual_packages(),
            )
        except GatewayError as e:
            fail(unreachable(channels, e))
        except SolverError as e:
            if n + 1 < len(tries):
                continue
            print(str(e), file=sys.stderr)
            first = next((l.strip() for l in str(e).splitlines() if l.strip()), "")
            reason = one_line(e).split("because of: ", 1)[-1] if "because of:" in first else first
            fail(f"the conda packages of environment.yml cannot be installed together: {reason}")


def to_lock(record):
    """One package as rjup.lock keeps it: its URL and the sha256 of the archive there."""
    return f"{record.url}#sha256:{record.sha256.hex()}"


def from_lock(line):
    """A record rattler installs as is: name, version and build come from the file name,
    everything else (noarch, paths, entry points) from the archive's own info/. rattler
    checks the download against the sha256, cached or not."""
    url, _, digest = line.partition("#sha256:")
    channel, subdir, file_name = url.rsplit("/", 2)
    stem = file_name.removesuffix(".tar.bz2").removesuffix(".conda")
    name, version, build = stem.rsplit("-", 2)
    record = PackageRecord(
        name=name,
        version=version,
        build=BuildString(build),
        build_number=0,
        subdir=subdir,
        sha256=bytes.fromhex(digest),
    )
    return RepoDataRecord(record, file_name, url, channel + "/")


async def install(records, prefix):
    try:
        await rattler.install(
            records,
            target_prefix=prefix,
            cache_dir=os.path.join(CACHE, "pkgs"),
            show_progress=False,
        )
    except InstallerError as e:
        text = one_line(e)
        url = next((r.url for r in records if r.url in text), None)
        cause = text.rsplit("Caused by: ", 1)[-1]
        if url and "hash mismatch" in cause:
            got = cause.split(", got ", 1)[-1].split(",", 1)[0]
            fail(f"{url} is not the package rjup.lock names: its sha256 is {got}")
        fail(f"cannot download {url}: {cause}" if url else f"cannot install the conda packages: {text}")


async def main():
    command, *args = sys.argv[1:]
    env = json.load(open(args[0]))
    if command == "lock":
        records = await solve(env)
        for record in sorted(records, key=lambda r: r.name.normalized):
            print(to_lock(record))
    elif command == "create" and "packages" in env:
        records = [from_lock(line) for line in env["packages"]]
        await install(records, args[1])
        print(f"Installed {len(records)} locked conda packages", file=sys.stderr)
    elif command == "create":
        records = await solve(env)
        await install(records, args[1])
        print(f"Installed {len(records)} conda packages", file=sys.stderr)
    else:
        fail(f"conda.py: unknown command {command}")


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except Exception as e:  # anything else, still one line and no crash at exit
        fail(f"conda.py: {type(e).__name__}: {one_line(e)}")
    leave(0)
