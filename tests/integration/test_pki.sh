#!/usr/bin/env bash
# test_pki.sh - certs/make-dev-pki makes a PKI that verifies, carries the names the
# gateway and its principals need, keeps its keys private, and never replaces a PKI
# unless forced.
set -u

src=${VG_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
script="$src/certs/make-dev-pki"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vg-test-pki.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
pki="$tmp/pki"

passed=0
failed=0

# check WHAT CMD...: runs CMD and counts it as passed when it exits 0.
check() {
    local what=$1
    shift
    if "$@" >"$tmp/out" 2>&1; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL: $what" >&2
        sed 's/^/    /' "$tmp/out" >&2
    fi
}

# refute WHAT CMD...: runs CMD and counts it as passed when it exits non-zero.
refute() {
    local what=$1
    shift
    if "$@" >"$tmp/out" 2>&1; then
        failed=$((failed + 1))
        echo "FAIL: $what (it succeeded)" >&2
        sed 's/^/    /' "$tmp/out" >&2
    else
        passed=$((passed + 1))
    fi
}

# has_text FILE TEXT: FILE holds TEXT.
has_text() { grep -qF -- "$2" "$1"; }

# san_is CERT TEXT: the certificate's subjectAltName is exactly TEXT.
san_is() {
    local got
    got=$(openssl x509 -in "$1" -noout -ext subjectAltName | sed -n '2p' | sed 's/^ *//')
    [ "$got" = "$2" ] || {
        echo "subjectAltName of $1: '$got', want '$2'"
        return 1
    }
}

# subject_is CERT TEXT: the certificate's subject is exactly TEXT.
subject_is() {
    local got
    got=$(openssl x509 -in "$1" -noout -subject -nameopt RFC2253)
    [ "$got" = "subject=$2" ] || {
        echo "subject of $1: '$got', want 'subject=$2'"
        return 1
    }
}

# mode_is FILE MODE: the file's permission bits are MODE.
mode_is() {
    local got
    got=$(stat -c %a "$1")
    [ "$got" = "$2" ] || {
        echo "mode of $1: $got, want $2"
        return 1
    }
}

# key_matches NAME: NAME.key is an EC P-256 key and holds the public key of NAME.crt.
key_matches() {
    openssl pkey -in "$pki/$1.key" -noout -text | grep -q 'NIST CURVE: P-256' || {
        echo "$1.key is not a P-256 key"
        return 1
    }
    [ "$(openssl pkey -in "$pki/$1.key" -pubout)" = \
        "$(openssl x509 -in "$pki/$1.crt" -noout -pubkey)" ] || {
        echo "$1.key does not belong to $1.crt"
        return 1
    }
}

# verify_as CA CERT PURPOSE: CERT chains to CA and may be used for PURPOSE.
verify_as() { openssl verify -CAfile "$pki/$1" -purpose "$3" "$pki/$2"; }

# ---- a fresh PKI -------------------------------------------------------------
start=$(date +%s%N)
check "make-dev-pki makes a PKI in a new folder" "$script" "$pki"
cp "$tmp/out" "$tmp/made"
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
check "make-dev-pki takes under 5 s (took ${elapsed_ms} ms)" test "$elapsed_ms" -lt 5000
check "make-dev-pki prints what it made" has_text "$tmp/made" "stranger.crt, stranger.key"

clients=(cremation health household disability welfare auditor)
for n in ca server "${clients[@]}" other-ca stranger; do
    check "$n.crt exists" test -s "$pki/$n.crt"
    check "$n.key has mode 0600" mode_is "$pki/$n.key" 600
    check "$n.key belongs to $n.crt" key_matches "$n"
done
check "nothing else is left in the folder" test "$(find "$pki" -mindepth 1 | wc -l)" -eq 20

check "ca.crt is self-signed" verify_as ca.crt ca.crt any
check "ca.crt is a CA" has_text <(openssl x509 -in "$pki/ca.crt" -noout -text) "CA:TRUE"
check "ca.crt is valid for 10 years" \
    openssl x509 -in "$pki/ca.crt" -noout -checkend $((3649 * 86400))
check "server.crt verifies as a TLS server" verify_as ca.crt server.crt sslserver
check "server.crt is CN=localhost" subject_is "$pki/server.crt" "CN=localhost"
check "server.crt names localhost, 127.0.0.1 and ::1" san_is "$pki/server.crt" \
    "DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1"
refute "server.crt is not a client certificate" verify_as ca.crt server.crt sslclient
for c in "${clients[@]}"; do
    check "$c.crt verifies as a TLS client" verify_as ca.crt "$c.crt" sslclient
    check "$c.crt is CN=$c" subject_is "$pki/$c.crt" "CN=$c"
    check "$c.crt names DNS:$c" san_is "$pki/$c.crt" "DNS:$c"
    refute "$c.crt is not a server certificate" verify_as ca.crt "$c.crt" sslserver
done
refute "stranger.crt does not verify against ca.crt" verify_as ca.crt stranger.crt any
check "stranger.crt verifies against other-ca.crt" \
    verify_as other-ca.crt stranger.crt sslclient
check "stranger.crt is CN=stranger" subject_is "$pki/stranger.crt" "CN=stranger"
refute "ca.crt and other-ca.crt are different CAs" \
    cmp -s "$pki/ca.crt" "$pki/other-ca.crt"

# ---- refusing to overwrite ---------------------------------------------------
cp "$pki/ca.crt" "$tmp/ca.before"
refute "a second run without --force is refused" "$script" "$pki"
cp "$tmp/out" "$tmp/refused"
check "the refusal names the folder" has_text "$tmp/refused" "$pki"
check "the refusal leaves the CA alone" cmp "$pki/ca.crt" "$tmp/ca.before"

mkdir "$tmp/partial"
touch "$tmp/partial/welfare.key"
refute "a folder with any one PKI file is refused" "$script" "$tmp/partial"
check "the refused folder keeps only its file" \
    test "$(ls -A "$tmp/partial")" = welfare.key

# ---- --force ------------------------------------------------------------------
check "--force replaces the PKI" "$script" --force "$pki"
refute "--force made a new CA" cmp -s "$pki/ca.crt" "$tmp/ca.before"
check "after --force server.crt verifies" verify_as ca.crt server.crt sslserver
check "after --force welfare.crt verifies" verify_as ca.crt welfare.crt sslclient
check "after --force keys are still 0600" mode_is "$pki/ca.key" 600
check "after --force nothing else is left" test "$(find "$pki" -mindepth 1 | wc -l)" -eq 20

# ---- usage -------------------------------------------------------------------
refute "an unknown option is refused" "$script" --bogus "$tmp/other"
refute "two folders are refused" "$script" "$tmp/a" "$tmp/b"
check "a refused call made no folder" test ! -e "$tmp/other" -a ! -e "$tmp/a"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
