#!/bin/bash
# Checks what `cmake --install` and `cpack -G DEB` produce from a build
# folder: the install tree in a DESTDIR, the .deb's metadata and contents,
# and the systemd unit (systemd-analyze verify and security, if present).
#   scripts/check-install.sh BUILD_DIR
set -euo pipefail
build=$(cd "${1:?usage: check-install.sh BUILD_DIR}" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "check-install: $*" >&2; exit 1; }

# 1. The install tree, prefix /usr, into a DESTDIR.
DESTDIR="$work/root" cmake --install "$build" --prefix /usr >/dev/null
root="$work/root"
for f in usr/bin/switchboardd usr/bin/switchboard \
         usr/libexec/switchboard/agent-server \
         etc/switchboard/switchboard.ini \
         usr/lib/systemd/system/switchboardd.service \
         usr/lib/sysusers.d/switchboard.conf \
         usr/share/doc/switchboard/README.md \
         usr/share/bash-completion/completions/switchboard \
         usr/share/bash-completion/completions/switchboardd \
         usr/share/doc/switchboard/examples/report_429.py; do
  [[ -e "$root/$f" ]] || fail "missing /$f in the install tree"
done
# Every page of docs/ is installed beside the README, whose links reach them.
src=$(cd "$(dirname "$0")/.." && pwd)
for page in "$src"/docs/*.md; do
  f=usr/share/doc/switchboard/docs/${page##*/}
  [[ -e "$root/$f" ]] || fail "missing /$f in the install tree"
done
[[ -x "$root/usr/bin/switchboardd" ]] || fail "switchboardd is not executable"
unit="$root/usr/lib/systemd/system/switchboardd.service"
grep -q '^ExecStart=/usr/bin/switchboardd --config-file=/etc/switchboard/switchboard.ini$' \
  "$unit" || fail "the unit does not start /usr/bin/switchboardd with /etc's config"
ini="$root/etc/switchboard/switchboard.ini"
for key in db-path admin-token-file report-token-file; do
  grep -q "^$key=\"/var/lib/switchboard/" "$ini" \
    || fail "the installed config's $key is not under /var/lib/switchboard"
done
grep -q '^StateDirectoryMode=0750$' "$unit" \
  || fail "the unit's state folder is not 0750 (the group reads auth/)"
grep -q '^u switchboard ' "$root/usr/lib/sysusers.d/switchboard.conf" \
  || fail "no switchboard user in sysusers.d"
"$root/usr/bin/switchboardd" --version | grep -q '^switchboardd ' \
  || fail "the installed switchboardd does not run"
echo "check-install: install tree ok ($(find "$root" -type f | wc -l) files)"

# 2. The unit, as systemd sees it.
if command -v systemd-analyze >/dev/null; then
  # verify wants the binary at its installed path: check a copy whose
  # ExecStart points into the DESTDIR.
  sed "s|^ExecStart=/usr/bin/|ExecStart=$root/usr/bin/|" "$unit" \
    > "$work/switchboardd.service"
  if ! out=$(systemd-analyze verify "$work/switchboardd.service" 2>&1); then
    echo "$out" >&2
    fail "systemd-analyze verify failed"
  fi
  [[ -z "$out" ]] || { echo "$out" >&2; fail "systemd-analyze verify warned"; }
  echo "check-install: systemd-analyze verify clean"
  # The exposure score of the unit's hardening: at most 3.0 ("OK").
  if score=$(systemd-analyze security --offline=yes \
               "$work/switchboardd.service" 2>/dev/null \
             | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p'); then
    [[ -n "$score" ]] || fail "systemd-analyze security printed no score"
    awk -v s="$score" 'BEGIN { exit !(s <= 3.0) }' \
      || fail "the unit's exposure level is $score, above 3.0"
    echo "check-install: systemd-analyze security: exposure $score"
  fi
fi

# 3. The .deb.
(cd "$build" && cpack -G DEB -B "$work/deb" >/dev/null)
deb=$(ls "$work"/deb/switchboard_*.deb)
info=$(dpkg-deb -I "$deb")
grep -q '^ Package: switchboard$' <<<"$info" || fail "no Package field"
grep -q '^ Depends: .*libcaf' <<<"$info" || fail "Depends lacks libcaf"
grep -q '^ Depends: .*libsqlite' <<<"$info" || fail "Depends lacks sqlite"
contents=$(dpkg-deb -c "$deb")
for f in ./usr/bin/switchboardd ./etc/switchboard/switchboard.ini \
         ./usr/lib/systemd/system/switchboardd.service \
         ./usr/lib/sysusers.d/switchboard.conf; do
  grep -q " $f\$" <<<"$contents" || fail "$f not in the .deb"
done
grep -qE ' conffiles +$' <<<"$info" || fail "no conffiles in the .deb"
echo "check-install: $(basename "$deb") ok"
grep '^ Depends:' <<<"$info"
