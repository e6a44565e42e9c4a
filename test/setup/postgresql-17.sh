#!/usr/bin/env bash
# Installs PostgreSQL 17 (server, client tools, pg_basebackup, pg_rewind,
# pg_upgrade, ...) on Debian 12 (bookworm, amd64) from Debian 13 (trixie)
# packages, into one self-contained tree that carries its own glibc and
# libraries. The host's system libraries are not touched.
#
#   sudo test/setup/postgresql-17.sh              # install (idempotent)
#   test/setup/postgresql-17.sh --print-pins      # show trixie's current
#                                                  # versions of the pinned packages
#
# Result: /opt/postgresql-17/bin/{postgres,initdb,pg_ctl,psql,pg_upgrade,...}
# (a symlink to /opt/postgresql-17/usr/lib/postgresql/17/bin). See
# docs/postgresql-17-on-bookworm.md for how it works and its limits.
#
# Every .deb is pinned by name, version, pool path and SHA256 (taken from
# trixie's Packages.xz); a download whose SHA256 differs is refused. The
# InRelease file is checked with gpgv against Debian's archive keyring and
# Packages.xz against InRelease, so that a pin that trixie has superseded is
# reported as such.
set -euo pipefail

PREFIX=${PG17_PREFIX:-/opt/postgresql-17}
MIRROR=${PG17_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=trixie
LIBDIR=$PREFIX/usr/lib/x86_64-linux-gnu
LDSO=$LIBDIR/ld-linux-x86-64.so.2
BINDIR=$PREFIX/usr/lib/postgresql/17/bin
STAMP=$PREFIX/.pg17-setup-stamp

# name version pool-path sha256 (from trixie main binary-amd64 Packages.xz).
# The closure of postgresql-17, postgresql-client-17, libpq5, libc6 and zlib1g
# over library dependencies (everything their ELF files need, checked below).
PINS='
postgresql-17 17.12-0+deb13u1 pool/main/p/postgresql-17/postgresql-17_17.12-0+deb13u1_amd64.deb 72443dcedfa0bdfa79dafdf414c18498b89929eeee1555e987c87154f3082fea
postgresql-client-17 17.12-0+deb13u1 pool/main/p/postgresql-17/postgresql-client-17_17.12-0+deb13u1_amd64.deb 53466b127f3f6e95c7a30352db7fcdd7b83d2143a03efbdcd005032b5047aa83
libpq5 17.12-0+deb13u1 pool/main/p/postgresql-17/libpq5_17.12-0+deb13u1_amd64.deb b93ae6e06672919c28eb018e7e13af34f1a94fc357f21e28488d339faf53ec98
libc6 2.41-12+deb13u5 pool/main/g/glibc/libc6_2.41-12+deb13u5_amd64.deb b59b0625cd1a791375d40dab23a4d5d3d0641e3d0a773501becdc3725b7f99cf
zlib1g 1:1.3.dfsg+really1.3.1-1+deb13u1 pool/main/z/zlib/zlib1g_1.3.dfsg+really1.3.1-1+deb13u1_amd64.deb 8c27c342230503b73dfde629642c3b352e87b554e06d60cf58772f236a305ceb
libgcc-s1 14.2.0-19 pool/main/g/gcc-14/libgcc-s1_14.2.0-19_amd64.deb 3c71917b490d1a17aed43196a2787a256ecf060526cdb20216a74bedc061b150
libgssapi-krb5-2 1.21.3-5+deb13u1 pool/main/k/krb5/libgssapi-krb5-2_1.21.3-5+deb13u1_amd64.deb 30847c1fde4240567d7ed3aeab4f655dd591203758b857e85e824045aae70299
libicu76 76.1-4 pool/main/i/icu/libicu76_76.1-4_amd64.deb c1bf762996de9ecba9b9d871e4928a8090f023a3e9e7fa3240b3d90f892a01dc
libldap2 2.6.10+dfsg-1 pool/main/o/openldap/libldap2_2.6.10+dfsg-1_amd64.deb 60069e4a550ca890113fa89d3001417781b18e146ec5d637d31e368dec9909bd
libllvm19 1:19.1.7-3+b1 pool/main/l/llvm-toolchain-19/libllvm19_19.1.7-3+b1_amd64.deb db0d614d61345ca710fb73e75105f1ec6e38898fa7b3aa99fa7eb7d8b0a11d57
liblz4-1 1.10.0-4 pool/main/l/lz4/liblz4-1_1.10.0-4_amd64.deb c31ec4c7c82755a38b2f3fe066fc0c5518cc91a601a268fbcd19bdacb1f22e1e
libpam0g 1.7.0-5 pool/main/p/pam/libpam0g_1.7.0-5_amd64.deb 4f5bde27d8df2de6ea8990319b42d9974f56a3ba9907ce7296fd0f8964fc9fb1
libselinux1 3.8.1-1 pool/main/libs/libselinux/libselinux1_3.8.1-1_amd64.deb 68bb8d32bd8d6d7d2f5952a169db03d1484b46ae1e52abccdec42a19dccea5d5
libssl3t64 3.5.9-1~deb13u1 pool/main/o/openssl/libssl3t64_3.5.9-1~deb13u1_amd64.deb ffefb9af363e0e4592251b2533eb06453c8e470f7772e40263c4b2129251a6d5
libstdc++6 14.2.0-19 pool/main/g/gcc-14/libstdc++6_14.2.0-19_amd64.deb ab1fa05837aa7a92aae748fd07a18a35f7d18bb4a71c4724fe2bbf0e32089de0
libsystemd0 257.13-1~deb13u1 pool/main/s/systemd/libsystemd0_257.13-1~deb13u1_amd64.deb ab0d4127b5e46e6f8c015a1db15a62ba9ae274cdefa150083adf90ada0600ea1
libuuid1 2.41.5-0+deb13u1 pool/main/u/util-linux/libuuid1_2.41.5-0+deb13u1_amd64.deb c1bf4c4c3ff48c57fabf93307dfb56996b60cfa33927afc4158b5db36fb2721e
libxml2 2.12.7+dfsg+really2.9.14-2.1+deb13u3 pool/main/libx/libxml2/libxml2_2.12.7+dfsg+really2.9.14-2.1+deb13u3_amd64.deb e0c6b63ce4602a036a526f60fe5e6c1586710688058d98fc1001b9b3147b7efd
libxslt1.1 1.1.35-1.2+deb13u3 pool/main/libx/libxslt/libxslt1.1_1.1.35-1.2+deb13u3_amd64.deb c8e5a745ca3afaa079b01e0c00d80a241101d1ab840407fcd4bb423de3326160
libzstd1 1.5.7+dfsg-1 pool/main/libz/libzstd/libzstd1_1.5.7+dfsg-1_amd64.deb 2f6a2aeacfc925eba8b00ac9139bc4bfccf8cacb09eb93de067074b26948eef9
libreadline8t64 8.2-6 pool/main/r/readline/libreadline8t64_8.2-6_amd64.deb eeadf2b5e755c9f183883feea2d9b5b28560284275d5f54d3e55d0923b1d0967
gcc-14-base 14.2.0-19 pool/main/g/gcc-14/gcc-14-base_14.2.0-19_amd64.deb 5b6825de4263824b78c4c51f6476414f3b4e89c2ab63e81dc8b9b5501e867cf6
libkrb5-3 1.21.3-5+deb13u1 pool/main/k/krb5/libkrb5-3_1.21.3-5+deb13u1_amd64.deb 47d71d6a7f2e59b9bae5f89602397594805113b95889ad18fa703cd53abafc97
libcom-err2 1.47.2-3+b12 pool/main/e/e2fsprogs/libcom-err2_1.47.2-3+b12_amd64.deb bd43e020b8fed399db3eebf098111f10fba4c436fff99ccad72cc7e27c9764ec
libk5crypto3 1.21.3-5+deb13u1 pool/main/k/krb5/libk5crypto3_1.21.3-5+deb13u1_amd64.deb 7da07ee674b47f1f0be7cc89317c25310086a1f1761217d0f72e6ae2c5a69b84
libkrb5support0 1.21.3-5+deb13u1 pool/main/k/krb5/libkrb5support0_1.21.3-5+deb13u1_amd64.deb 3a0acd8b37955c0e102c756b52c97df2a31f67b96453c35dab70df218d309117
libsasl2-2 2.1.28+dfsg1-9 pool/main/c/cyrus-sasl2/libsasl2-2_2.1.28+dfsg1-9_amd64.deb 66e49d7ae026811b49a0050f18b0325960a2625ffd1ff60d91b7844a815fa9d2
libedit2 3.1-20250104-1 pool/main/libe/libedit/libedit2_3.1-20250104-1_amd64.deb b002ea172b9c1e34a67bc497c523c67bb74c3f0a4e98113cb083990a1f1d3bfe
libffi8 3.4.8-2 pool/main/libf/libffi/libffi8_3.4.8-2_amd64.deb 0ebdc340de33333639c3c63874cd4b15ac2e83dfa1ef3053b7eefaf4919f4f68
libz3-4 4.13.3-1 pool/main/z/z3/libz3-4_4.13.3-1_amd64.deb 71383373523ef62d47eccf660cf6535c3febcbb3f88e54cb7a43124014b57359
libxxhash0 0.8.3-2 pool/main/x/xxhash/libxxhash0_0.8.3-2_amd64.deb 81da7064d56fc044f5db4bb3c1e80ff50a4986dcbbf80d958eeca565b44c157f
libaudit1 1:4.0.2-2+deb13u1 pool/main/a/audit/libaudit1_4.0.2-2+deb13u1_amd64.deb 3d1dd3f031a56f01b747e2acc0e14575212580e6fa63d800c44cb0a31f1edfd7
libpcre2-8-0 10.46-1~deb13u3 pool/main/p/pcre2/libpcre2-8-0_10.46-1~deb13u3_amd64.deb e226f661d918f04daf38cdbc4806b7ed7d6ef95c7eb0ade692fc350e31970040
openssl-provider-legacy 3.5.9-1~deb13u1 pool/main/o/openssl/openssl-provider-legacy_3.5.9-1~deb13u1_amd64.deb 67c70904c8d494b4631e136a6bdb692cbb44515757d63c55e7bd1d2016f9f09f
libcap2 1:2.75-10+deb13u1+b3 pool/main/libc/libcap2/libcap2_2.75-10+deb13u1+b3_amd64.deb 89fc4d34fc7a28ad6f0fcd0c561ab253b9dedf6f77f5a000b47c276c8295bf67
liblzma5 5.8.1-1+deb13u2 pool/main/x/xz-utils/liblzma5_5.8.1-1+deb13u2_amd64.deb b38acab30f295bf1066a6632e31cbd0a1980f2924b38040cda131d5dea5384ec
libgcrypt20 1.11.0-7+deb13u1 pool/main/libg/libgcrypt20/libgcrypt20_1.11.0-7+deb13u1_amd64.deb f0eb41f8cb40896e0822e9ab65611e8383c12b721c76c54764f744abb4a8c247
libtinfo6 6.5+20250216-2 pool/main/n/ncurses/libtinfo6_6.5+20250216-2_amd64.deb 8b9f6a7983e9418564e48a627518de4c03917b56efe68d7f3e93bd8fffa1cc10
libkeyutils1 1.6.3-6 pool/main/k/keyutils/libkeyutils1_1.6.3-6_amd64.deb 0b11ad17be0300b63ad4eeb4c6450fed24d34b7b740f23e5363dcb29ee6d5eba
libsasl2-modules-db 2.1.28+dfsg1-9 pool/main/c/cyrus-sasl2/libsasl2-modules-db_2.1.28+dfsg1-9_amd64.deb a5c38659fbd62c33c6d9bfa2be43e75a572d1818531aad32dd74d0a58cc4bd19
libbsd0 0.12.2-2 pool/main/libb/libbsd/libbsd0_0.12.2-2_amd64.deb e5a85986fa6bec3307ab1bc860736b478b331882bc45e17675a7bdf88eecb43a
libcap-ng0 0.8.5-4+b1 pool/main/libc/libcap-ng/libcap-ng0_0.8.5-4+b1_amd64.deb 20a9e4b0619a3eb2566338223bed135dde5a601eaa2f8fdd5f20b94506addcac
libgpg-error0 1.51-4 pool/main/libg/libgpg-error/libgpg-error0_1.51-4_amd64.deb 22b95570fd41c113ef6f5651563b4d748292844baab1278a46eb940c1dec2322
libdb5.3t64 5.3.28+dfsg2-9 pool/main/d/db5.3/libdb5.3t64_5.3.28+dfsg2-9_amd64.deb 18d02510ee78b67e4504ba050176797a200ff24214a7cd318082ab60ad7bf3fc
libmd0 1.1.0-2+b1 pool/main/libm/libmd/libmd0_1.1.0-2+b1_amd64.deb 7244ec3839b61fac0c1884fe08aaa040f26e8f1f35f1f5d3482eacefd30d1b44
'

die() { echo "postgresql-17.sh: ERROR: $*" >&2; exit 1; }
log() { echo "postgresql-17.sh: $*" >&2; }

pins() { printf '%s\n' "$PINS" | sed '/^$/d'; }
pins_digest() { pins | sha256sum | cut -d' ' -f1; }

fetch() { # url dest
  curl -fsS --retry 3 --connect-timeout 20 -o "$2" "$1"
}

# Downloads InRelease and Packages.xz of trixie main/amd64, checks the
# signature and the hash chain, and leaves the plain Packages file at $1.
signed_packages() {
  local dest=$1 work; work=$(dirname "$dest")
  fetch "$MIRROR/dists/$SUITE/InRelease" "$work/InRelease" \
    || die "cannot download $MIRROR/dists/$SUITE/InRelease"
  local keyrings=() k
  for k in /usr/share/keyrings/debian-archive-$SUITE-stable.gpg \
           /usr/share/keyrings/debian-archive-$SUITE-automatic.gpg \
           /usr/share/keyrings/debian-archive-bookworm-automatic.gpg \
           /usr/share/keyrings/debian-archive-bookworm-stable.gpg; do
    [ -f "$k" ] && keyrings+=(--keyring "$k")
  done
  [ ${#keyrings[@]} -gt 0 ] || die "no Debian archive keyring for $SUITE under /usr/share/keyrings (apt-get install debian-archive-keyring)"
  gpgv "${keyrings[@]}" --output "$work/Release" "$work/InRelease" 2>"$work/gpgv.log" \
    || { cat "$work/gpgv.log" >&2; die "the signature of $SUITE's InRelease does not verify"; }
  local want
  want=$(awk '/^SHA256:/{s=1;next} /^[^ ]/{s=0} s && $3=="main/binary-amd64/Packages.xz"{print $1}' "$work/Release")
  [ -n "$want" ] || die "InRelease lists no SHA256 for main/binary-amd64/Packages.xz"
  fetch "$MIRROR/dists/$SUITE/main/binary-amd64/Packages.xz" "$work/Packages.xz" \
    || die "cannot download $SUITE's Packages.xz"
  echo "$want  $work/Packages.xz" | sha256sum -c --quiet - >/dev/null 2>&1 \
    || die "Packages.xz does not match the SHA256 in the signed InRelease"
  xz -dc "$work/Packages.xz" >"$dest"
}

# Prints "name version filename sha256" for name from a Packages file.
lookup() { # packages-file name
  awk -v p="$2" 'BEGIN{RS="";FS="\n"}
    { n=v=f=s="";
      for(i=1;i<=NF;i++){
        if($i ~ /^Package: /) n=substr($i,10);
        else if($i ~ /^Version: /) v=substr($i,10);
        else if($i ~ /^Filename: /) f=substr($i,11);
        else if($i ~ /^SHA256: /) s=substr($i,9) }
      if(n==p){print n, v, f, s; exit} }' "$1"
}

need_tools() {
  local missing=()
  command -v curl >/dev/null || missing+=(curl)
  command -v xz >/dev/null || missing+=(xz-utils)
  command -v gpgv >/dev/null || missing+=(gpgv)
  command -v patchelf >/dev/null || missing+=(patchelf)
  [ -f /usr/share/keyrings/debian-archive-trixie-stable.gpg ] || missing+=(debian-archive-keyring)
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing host tools: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null \
      || { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null; } \
      || die "cannot install ${missing[*]} with apt-get"
  fi
}

print_pins() {
  need_tools
  work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
  signed_packages "$work/Packages"
  local n v f s cur
  while read -r n v f s; do
    cur=$(lookup "$work/Packages" "$n")
    [ -n "$cur" ] || { echo "# $n: no longer in $SUITE"; continue; }
    [ "$cur" = "$n $v $f $s" ] && echo "$cur" || echo "$cur   # was $v"
  done < <(pins)
}

# Fails unless every patched executable resolves all its libraries inside the
# tree (nothing from the host's /lib, /usr/lib).
check_closure() {
  local f out bad=0
  for f in "$BINDIR"/* "$PREFIX"/usr/lib/postgresql/17/lib/*.so; do
    out=$("$LDSO" --list "$f" 2>&1) || { echo "$f: $out" >&2; bad=1; continue; }
    out=$(echo "$out" | grep -v -e 'linux-vdso' -e 'statically linked' -e "=> $PREFIX/" -e "^[[:space:]]*$PREFIX/" || true)
    if [ -n "$out" ]; then
      echo "$f resolves outside $PREFIX:" >&2
      echo "$out" >&2
      bad=1
    fi
  done
  return $bad
}

install_tree() {
  [ "$(id -u)" = 0 ] || die "run as root (it writes $PREFIX and may apt-get install patchelf)"
  [ "$(dpkg --print-architecture)" = amd64 ] || die "only amd64 is pinned"
  local digest; digest=$(pins_digest)
  if [ -e "$PREFIX" ] || [ -L "$PREFIX" ]; then
    if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$digest" ]; then
      "$BINDIR/postgres" --version >/dev/null 2>&1 \
        || die "$PREFIX is installed but $BINDIR/postgres does not run; remove $PREFIX and run again"
      log "already installed: $("$BINDIR/postgres" --version) in $PREFIX"
      return 0
    fi
    die "$PREFIX exists but was not made by this script with these pins (no or other $STAMP); remove it and run again"
  fi
  need_tools
  work=$(mktemp -d /tmp/pg17-setup.XXXXXX)
  stage="$PREFIX.partial.$$"
  trap 'rm -rf "$work" "$stage"' EXIT
  rm -rf "$stage"; mkdir -p "$work/debs" "$stage"

  signed_packages "$work/Packages"
  local n v f s cur stale=()
  while read -r n v f s; do
    cur=$(lookup "$work/Packages" "$n")
    case "$cur" in
      "$n $v $f $s") ;;
      "$n $v "*) die "pin of $n $v differs from $SUITE's signed Packages.xz ($cur); fix the pin" ;;
      *) stale+=("$n $v (trixie now: ${cur:-none})") ;;
    esac
  done < <(pins)
  [ ${#stale[@]} -eq 0 ] || log "WARNING: $SUITE has superseded these pins, whose .debs may be gone from the pool (re-pin with $0 --print-pins): ${stale[*]}"

  log "downloading $(pins | wc -l) packages from $MIRROR ($SUITE)"
  while read -r n v f s; do
    local deb="$work/debs/${f##*/}"
    if ! fetch "$MIRROR/$f" "$deb"; then
      # Gone from the pool (trixie superseded it): its successor, as trixie's signed Packages.xz names it, so that a
      # point release of trixie does not stop the tests on a fresh machine. Re-pin to make the tree exact again.
      cur=$(lookup "$work/Packages" "$n")
      if [ -z "$cur" ] || [ "$cur" = "$n $v $f $s" ]; then
        die "cannot download $n $v ($MIRROR/$f); if $SUITE superseded it, re-pin with: $0 --print-pins"
      fi
      read -r n v f s <<< "$cur"
      log "WARNING: the pinned .deb is gone from the pool; using $SUITE's current $n $v (SHA256 from its signed Packages.xz); re-pin with $0 --print-pins"
      deb="$work/debs/${f##*/}"
      fetch "$MIRROR/$f" "$deb" || die "cannot download $n $v ($MIRROR/$f)"
    fi
    echo "$s  $deb" | sha256sum -c --quiet - >/dev/null 2>&1 \
      || die "SHA256 of $n $v is $(sha256sum "$deb" | cut -d' ' -f1), expected $s"
    dpkg-deb -x "$deb" "$stage"
  done < <(pins)

  # Point every PostgreSQL executable at the tree's own dynamic loader (glibc
  # 2.41) and library directory. DT_RPATH (not RUNPATH) also applies to the
  # libraries' own dependencies and to modules postgres dlopen()s.
  local e
  for e in "$stage"/usr/lib/postgresql/17/bin/*; do
    patchelf --set-interpreter "$LDSO" --force-rpath --set-rpath "$LIBDIR" "$e"
  done
  # The same DT_RPATH on the server's loadable modules (plpgsql, llvmjit,
  # libpqwalreceiver, contrib, ...), so that they resolve inside the tree
  # whoever loads them; and on libLLVM, whose own RUNPATH ($ORIGIN/../lib)
  # would otherwise hide DT_RPATH and let libz3, libffi, libedit, ... come
  # from the host.
  for e in "$stage"/usr/lib/postgresql/17/lib/*.so "$stage"/usr/lib/x86_64-linux-gnu/libLLVM.so.*; do
    [ -L "$e" ] || patchelf --force-rpath --set-rpath "$LIBDIR" "$e"
  done
  ln -s usr/lib/postgresql/17/bin "$stage/bin"
  chown -R root:root "$stage"; chmod -R go-w,a+rX "$stage"

  mv "$stage" "$PREFIX"
  if ! check_closure || ! "$BINDIR/postgres" --version >/dev/null; then
    mv "$PREFIX" "$PREFIX.failed.$$"
    die "the installed tree does not run; left in $PREFIX.failed.$$"
  fi
  echo "$digest" >"$STAMP"
  log "installed $("$BINDIR/postgres" --version) in $PREFIX (binaries: $PREFIX/bin)"
}

case "${1:-}" in
  --print-pins) print_pins ;;
  "") # Installed already, by these pins: nothing to do, as any user (npm test runs this first).
      if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(pins_digest)" ] && "$BINDIR/postgres" --version >/dev/null 2>&1; then exit 0; fi
      [ "$(id -u)" = 0 ] || die "PostgreSQL 17 for the upgrade tests is not installed in $PREFIX; install it with: sudo bash $0"
      exec 9>/var/lock/postgresql-17-setup.lock; flock 9; install_tree ;;
  *) die "usage: $0 [--print-pins]" ;;
esac
