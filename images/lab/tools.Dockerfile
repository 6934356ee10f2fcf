# The tools image: what every lab image rjup builds on one base starts from.
#
# rjup fills in the BASE field, keeps the `ca` block when rjup.yaml names extra CA
# certificates, hashes the result with uv-requirements.txt and the certificates, and
# tags the image rjup/tools:<hash12>. It is built once per base and kept: a new project
# on the same base, or a build after `docker builder prune`, starts from it. Only
# `--pull` (the base may have changed) and `--no-cache` build it again.
#
# It holds uv and, for a project that may need them (postBuild, or Python requirements
# of its own), what repo2docker's image has for postBuild scripts and packages built
# from source: two images per base, the second starting with the first's layers.
# Installing those tools took longer than installing JupyterLab (about 11 s against 6
# here), so a project with nothing to compile or fetch never waits for them, and the
# others wait once per base, as for the base image itself.
FROM {{BASE}}
ARG RJUP_FRESH
USER root
ENV LANG=C.UTF-8 \
    DEBIAN_FRONTEND=noninteractive \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    UV_LINK_MODE=copy \
    UV_COMPILE_BYTECODE=1 \
    UV_PYTHON_DOWNLOADS=never
#{{#ca}}
# Extra CA certificates (build.ca_certificates): trusted by the build and by the lab.
COPY ca/ /usr/local/share/ca-certificates/rjup/
RUN update-ca-certificates >/dev/null
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
#{{/ca}}

# uv comes from the Python package index, the one source every build here can reach,
# into an environment of its own, so the base image's Python stays untouched.
COPY uv-requirements.txt /opt/rjup/
RUN python3 -m venv /opt/rjup/uv \
 && /opt/rjup/uv/bin/pip install --quiet --no-cache-dir -r /opt/rjup/uv-requirements.txt \
 && ln -s /opt/rjup/uv/bin/uv /usr/local/bin/uv
#{{#build_tools}}

# repo2docker's tools, for a project with postBuild or Python requirements of its own
# (which may build from source or clone with git). After uv, so that this image starts
# with the layers of the one without them. dpkg's fsync per file took 9 of 22 s here;
# a build that dies leaves no layer anyway.
RUN {{CACHE_APT}}apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends -o Dpkg::Options::=--force-unsafe-io \
      git wget curl unzip bzip2 gcc libc6-dev >/dev/null{{APT_CLEAN}}
#{{/build_tools}}
LABEL rjup.tools.base={{BASE}}
