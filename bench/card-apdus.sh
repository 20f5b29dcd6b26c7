#!/usr/bin/env bash
# Card round trips: how many APDUs (and bytes) three clients send to the same emulated My Number
# card for two flows, "read the auth certificate + sign with the auth key" and "read the signing
# certificate + sign with the signing key". Clients: honnin's own driver (`honnin card --reader`),
# OpenSC (pkcs15-tool, pkcs11-tool) and jpki-cli, all through pcscd and vpcd's "Virtual PCD 00 00".
#
# Usage: bench/card-apdus.sh [--work-dir DIR] [--no-setup] [--no-build]   (see bench/README.md)
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: bench/card-apdus.sh [OPTIONS]

Counts the APDUs and bytes the emulated card receives from honnin, OpenSC and jpki-cli for two
flows (auth certificate + auth signature, signing certificate + signature) and prints them side by
side. Results on stdout, progress on stderr.

Options:
  --work-dir DIR  work in DIR and keep it (card, per-step APDU logs, outputs); default: a
                  temporary directory, removed at the end
  --no-setup      do not run scripts/setup (pcscd, vpcd, OpenSC and jpki-cli must be there)
  --no-build      do not run cargo build (target/release/honnin must exist)
  -h, --help      this text
EOF
}

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work=""
keep=0
setup=1
build=1
while (($#)); do
    case "$1" in
        --work-dir) work="${2:?--work-dir needs a directory}"; keep=1; shift 2 ;;
        --no-setup) setup=0; shift ;;
        --no-build) build=0; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "card-apdus.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
    esac
done

READER="Virtual PCD 00 00"
PKCS11=/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so
AUTH_PIN=1234
SIGN_PASSWORD=ABC123
note() { echo "... $*" >&2; }
die() { echo "card-apdus.sh: $*" >&2; exit 1; }

cd "$root"
if ((setup)); then
    note "scripts/setup"
    bash scripts/setup
fi
if ((build)); then
    note "cargo build --release -p honnin"
    cargo build --release -p honnin
fi
honnin="${CARGO_TARGET_DIR:-$root/target}/release/honnin"
[ -x "$honnin" ] || die "$honnin not found: build it with cargo build --release -p honnin"
"$honnin" card vpcd --help 2>/dev/null | grep -q -- --apdu-log \
    || die "$honnin has no 'card vpcd --apdu-log'; rebuild it from a tree that has it"
for tool in opensc-tool pkcs15-tool pkcs11-tool jpki-cli script timeout openssl flock; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found (scripts/setup installs it)"
done
[ -f "$PKCS11" ] || die "$PKCS11 not found (opensc-pkcs11)"

# One virtual reader: two runs of this script at once would count each other's APDUs.
exec 9>"${TMPDIR:-/tmp}/honnin-card-apdus.lock"
flock -w 600 9 || die "another card-apdus.sh holds the reader"

if [ -z "$work" ]; then
    work="$(mktemp -d "${TMPDIR:-/tmp}/honnin-card-apdus-XXXXXX")"
else
    # The run clears its own files in DIR: refuse a directory that holds anything else.
    if [ -d "$work" ] && [ -n "$(ls -A "$work")" ] && [ ! -e "$work/.card-apdus" ]; then
        die "--work-dir $work is not empty and not from an earlier run; give a new or empty directory"
    fi
    mkdir -p "$work"
    work="$(cd "$work" && pwd)"
fi
touch "$work/.card-apdus"

vpcd_pid=""
unplug() {
    [ -n "$vpcd_pid" ] || return 0
    kill "$vpcd_pid" 2>/dev/null || true
    wait "$vpcd_pid" 2>/dev/null || true
    vpcd_pid=""
    # pcscd queues a next card until it has seen this one leave.
    reader_state No 15 || note "the reader still shows a card 15 s after unplugging"
}
cleanup() {
    local rc=$?
    unplug
    if ((keep)); then
        note "work dir kept: $work"
    else
        rm -rf "$work"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# "Yes" or "No" in opensc-tool's card column for READER.
reader_has_card() {
    opensc-tool --list-readers 2>/dev/null | awk -v r="$READER" '
        $1 ~ /^[0-9]+$/ && substr($0, length($0) - length(r) + 1) == r { print $2; found = 1; exit }
        END { if (!found) print "missing" }'
}
# Waits until the reader shows a card (Yes) or none (No); fails after SECONDS.
reader_state() {
    local want=$1 seconds=$2 i
    for ((i = 0; i < seconds * 10; i++)); do
        [ "$(reader_has_card)" = "$want" ] && return 0
        sleep 0.1
    done
    return 1
}

# The fixture: one authority, one resident, one card. Every flow starts from a copy of this card
# file as issued (fresh PIN counters, nothing selected, nothing verified), plugged in anew.
note "work dir: $work"
cd "$work"
rm -rf data card.json card.issued.json logs out
mkdir -p logs out
fixture_failed() { tail -20 logs/fixture.log >&2; die "making the card failed: $*"; }
"$honnin" authority init --data data >>logs/fixture.log 2>&1 || fixture_failed "authority init"
resident=$("$honnin" authority resident add --data data --name "山田　花子" \
    --address "東京都清瀬市中里五丁目８４２番地" --birth-date 1990-01-02 --sex female \
    --prefecture Tokyo-to --municipality Kiyose-shi 2>>logs/fixture.log) || fixture_failed "resident add"
"$honnin" authority card issue --data data --resident "$resident" --out card.issued.json \
    --auth-pin "$AUTH_PIN" --sign-password "$SIGN_PASSWORD" >>logs/fixture.log 2>&1 \
    || fixture_failed "card issue"
# The certificates as the authority issued them: every client's must equal these byte for byte.
for which in auth sign; do
    "$honnin" authority cert export --data data --resident "$resident" --which "$which" \
        --out "ref-$which.der" >>logs/fixture.log 2>&1 || fixture_failed "cert export $which"
    openssl x509 -inform DER -in "ref-$which.der" -pubkey -noout -out "ref-$which.pub"
done
printf '申請書 — card round-trip benchmark\n' >doc.txt

[ "$(reader_has_card)" != missing ] || die "pcscd does not list \"$READER\": run scripts/setup"
# jpki-cli always takes the first reader.
opensc-tool --list-readers 2>/dev/null | awk -v r="$READER" '
        $1 == "0" { first = substr($0, length($0) - length(r) + 1) == r; exit } END { exit !first }' \
    || die "jpki-cli uses the first reader, and \"$READER\" is not the first: $(opensc-tool --list-readers 2>&1)"

# Plugs a fresh copy of the card in, logging APDUs to logs/current.log.
plug() {
    reader_state No 30 || die "\"$READER\" already has a card (is something else using it?)"
    cp card.issued.json card.json
    : >logs/current.log
    "$honnin" card --card card.json vpcd --apdu-log logs/current.log >>logs/vpcd.err 2>&1 &
    vpcd_pid=$!
    reader_state Yes 15 || die "the card did not show up in \"$READER\" (see $work/logs/vpcd.err)"
    [ ! -s logs/current.log ] || die "APDUs reached the card before any client ran"
}

# step NAME COMMAND...: runs one client command; its APDUs go to logs/<flow>.<client>.<NAME>.log.
step() {
    local name=$1 rc=0
    shift
    "$@" >"out/$prefix.$name.out" 2>&1 || rc=$?
    cp logs/current.log "logs/$prefix.$name.log"
    : >logs/current.log
    steps+=("$name")
    return $rc
}

# jpki-cli reads the PIN only from a terminal (without one it prompts forever): script(1) gives it
# one, and the PIN is typed a second later.
jpki_tty() {
    local secret=$1 command=$2
    (sleep 1; printf '%s\r' "$secret") | timeout 20 script -qec "$command" /dev/null
}

der_of_pem() { openssl x509 -in "$1" -outform DER 2>/dev/null; }
same_cert() { cmp -s "$1" "ref-$2.der"; }
verifies() { # verifies DIGEST SIG WHICH
    [ -s "$2" ] && openssl dgst "-$1" -verify "ref-$3.pub" -signature "$2" doc.txt 2>&1 | grep -q "Verified OK"
}

# The flows. Each runs its steps and then checks the outputs (exit status is not enough: jpki-cli
# exits 0 on card errors). A flow's function returns non-zero when anything did not work.
flow_honnin() {
    local which=$1 secret
    local o="out/$prefix"
    if [ "$which" = auth ]; then secret=(--pin "$AUTH_PIN"); else secret=(--password "$SIGN_PASSWORD"); fi
    # --cms reads the certificate and signs in one session.
    step sign-cms env -u HONNIN_PIN -u HONNIN_SIGN_PASSWORD "$honnin" card --reader "$READER" \
        sign --which "$which" --cms --in doc.txt --out "$o.cms" "${secret[@]}" || return 1
    openssl cms -verify -binary -inform DER -in "$o.cms" -content doc.txt -noverify \
        -signer "$o.signer.pem" -out /dev/null >/dev/null 2>&1 || return 1
    der_of_pem "$o.signer.pem" >"$o.signer.der" && same_cert "$o.signer.der" "$which"
}

# OpenSC with the system's opensc.conf (OPENSC_CONF from the caller's environment is dropped).
flow_opensc() {
    opensc_flow "$1" env -u OPENSC_CONF
}

# A variant: OpenSC told which card driver to use (card_drivers = jpki), so it does not probe the
# card for the other drivers first.
flow_openscjpki() {
    printf 'app default {\n\tcard_drivers = jpki;\n\tframework pkcs15 {\n\t}\n}\n' >opensc-jpki.conf
    opensc_flow "$1" env OPENSC_CONF="$work/opensc-jpki.conf"
}

# opensc_flow FLOW ENV...: pkcs15-tool reads the certificate, pkcs11-tool signs, each run by ENV.
opensc_flow() {
    local which=$1 id slot secret
    shift
    local o="out/$prefix"
    if [ "$which" = auth ]; then
        id=01 slot=0 secret=$AUTH_PIN
        step read-cert "$@" pkcs15-tool --read-certificate "$id" -o "$o.pem" || return 1
    else
        id=02 slot=1 secret=$SIGN_PASSWORD
        step read-cert "$@" pkcs15-tool --read-certificate "$id" --verify-pin --auth-id 02 \
            --pin "$secret" -o "$o.pem" || return 1
    fi
    step sign "$@" pkcs11-tool --module "$PKCS11" --slot "$slot" --login --pin "$secret" --sign \
        --mechanism SHA256-RSA-PKCS --id "$id" -i doc.txt -o "$o.sig" || return 1
    der_of_pem "$o.pem" >"$o.der" && same_cert "$o.der" "$which" && verifies sha256 "$o.sig" "$which"
}

# A variant: pkcs11-tool alone (it cannot read and sign in one run: both use -o).
flow_pkcs11() {
    local which=$1 id slot secret login=()
    local o="out/$prefix"
    if [ "$which" = auth ]; then
        id=01 slot=0 secret=$AUTH_PIN
    else
        id=02 slot=1 secret=$SIGN_PASSWORD login=(--login --pin "$secret")
    fi
    step read-cert env -u OPENSC_CONF pkcs11-tool --module "$PKCS11" --slot "$slot" "${login[@]}" \
        --read-object --type cert --id "$id" -o "$o.der" || return 1
    step sign env -u OPENSC_CONF pkcs11-tool --module "$PKCS11" --slot "$slot" --login \
        --pin "$secret" --sign --mechanism SHA256-RSA-PKCS --id "$id" -i doc.txt -o "$o.sig" || return 1
    same_cert "$o.der" "$which" && verifies sha256 "$o.sig" "$which"
}

# A variant: honnin as two commands, like the others (read-cert, then a raw signature).
flow_honnin2() {
    local which=$1 secret
    local o="out/$prefix"
    if [ "$which" = auth ]; then secret=(--pin "$AUTH_PIN"); else secret=(--password "$SIGN_PASSWORD"); fi
    local read_secret=()
    [ "$which" = auth ] || read_secret=("${secret[@]}")
    step read-cert env -u HONNIN_PIN -u HONNIN_SIGN_PASSWORD "$honnin" card --reader "$READER" \
        read-cert --which "$which" --out "$o.der" "${read_secret[@]}" || return 1
    step sign env -u HONNIN_PIN -u HONNIN_SIGN_PASSWORD "$honnin" card --reader "$READER" \
        sign --which "$which" --in doc.txt --out "$o.sig" "${secret[@]}" || return 1
    same_cert "$o.der" "$which" && verifies sha256 "$o.sig" "$which"
}

flow_jpki() {
    local which=$1 flag=() secret
    local o="out/$prefix"
    if [ "$which" = auth ]; then
        flag=(-a) secret=$AUTH_PIN
        # shellcheck disable=SC2016 # $1 is expanded by the inner bash
        step read-cert bash -c 'timeout 20 jpki-cli crypto -a read-certificate >"$1"' _ "$o.der" || return 1
    else
        secret=$SIGN_PASSWORD
        step read-cert jpki_tty "$secret" "jpki-cli crypto read-certificate > $(printf %q "$o.der")" || return 1
    fi
    step sign jpki_tty "$secret" \
        "jpki-cli crypto ${flag[*]} sign $(printf %q "$o.sig") < doc.txt" || return 1
    # jpki-cli signs a SHA-1 DigestInfo.
    same_cert "$o.der" "$which" && verifies sha1 "$o.sig" "$which"
}

# measure FLOW CLIENT: plugs a fresh card, runs the client's flow, unplugs, and records the counts
# (or FAILED). A flow that fails is tried once more on a fresh card; only a success is counted.
declare -A apdus sent received detail status
measure() {
    local which=$1 client=$2 attempt ok=0
    for attempt in 1 2; do
        prefix="$which.$client"
        steps=()
        rm -f "logs/$prefix".*.log "out/$prefix".*
        plug
        note "$which / $client (attempt $attempt)"
        if "flow_$client" "$which"; then ok=1; fi
        unplug
        ((ok)) && break
        note "$which / $client FAILED on attempt $attempt; outputs in $work/out/$prefix.*"
        if ((!keep)); then
            for f in "out/$prefix".*.out; do [ -f "$f" ] && { echo "--- $f" >&2; tail -5 "$f" >&2; }; done
        fi
    done
    local key="$which/$client" s counts n=0 tx=0 rx=0 parts=""
    if ((!ok)); then
        status[$key]="FAILED twice (outputs: out/$prefix.*)"
        return 0
    fi
    for s in "${steps[@]}"; do
        # "> 00A4… (N bytes) | < M bytes SW": N is the command's length, M the response's with SW.
        counts=$(sed -nE 's/^> .* \(([0-9]+) bytes\) \| < ([0-9]+) bytes .*/\1 \2/p' "logs/$prefix.$s.log" |
                     awk '{ n++; tx += $1; rx += $2 } END { printf "%d %d %d", n, tx, rx }')
        # Every line must have parsed: a format change must not go unnoticed.
        [ "$(grep -c . "logs/$prefix.$s.log")" = "${counts%% *}" ] \
            || die "cannot parse logs/$prefix.$s.log (has the --apdu-log format changed?)"
        read -r sn stx srx <<<"$counts"
        n=$((n + sn)) tx=$((tx + stx)) rx=$((rx + srx))
        parts+="${parts:+ + }$s $sn"
        ((sn > 0)) || { status[$key]="FAILED (no APDU reached the card in step $s)"; return 0; }
    done
    status[$key]=ok
    if ((attempt > 1)); then status[$key]="ok (2nd attempt)"; fi
    apdus[$key]=$n sent[$key]=$tx received[$key]=$rx detail[$key]=$parts
}

main_clients=(honnin opensc jpki)
variant_clients=(honnin2 openscjpki pkcs11)
declare -A label=(
    [honnin]="honnin card --reader"
    [opensc]="OpenSC pkcs15-tool+pkcs11-tool"
    [jpki]="jpki-cli 0.4.3"
    [honnin2]="honnin read-cert + sign"
    [openscjpki]="OpenSC, card_drivers = jpki"
    [pkcs11]="pkcs11-tool only (read-object)"
)
for which in auth sign; do
    for client in "${main_clients[@]}" "${variant_clients[@]}"; do
        measure "$which" "$client"
    done
done

# The report.
opensc_version=$(dpkg-query -W -f '${Version}' opensc 2>/dev/null || echo unknown)
jpki_version=$(jpki-cli --version 2>/dev/null || echo unknown)
echo "honnin card round trips: APDUs the emulated card received, per flow and client"
echo "  date:    $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "  reader:  $READER (pcscd + vsmartcard-vpcd), one fresh copy of the same card per flow"
echo "  honnin:  $honnin"
echo "  opensc:  $opensc_version, module $PKCS11, config /etc/opensc/opensc.conf"
echo "  jpki:    $jpki_version"
echo
echo "  auth flow: read the user-authentication certificate, sign doc.txt with the auth key (PIN)"
echo "  sign flow: read the digital-signature certificate, sign doc.txt with the signing key (password)"
echo
row() { printf '%-4s | %-31s | %5s | %10s | %14s | %8s | %s\n' "$@"; }
row flow client APDUs "bytes sent" "bytes received" "vs honnin" "steps (APDUs)"
printf -- '-%.0s' {1..120}; echo
print_rows() {
    local which client key base ratio
    for which in auth sign; do
        base=${apdus[$which/honnin]:-}
        for client in "$@"; do
            key="$which/$client"
            if [ "${status[$key]}" = ok ] || [[ "${status[$key]}" == "ok "* ]]; then
                if [ -n "$base" ] && ((base > 0)); then
                    ratio=$(awk -v a="${apdus[$key]}" -v b="$base" 'BEGIN { printf "%.2fx", a / b }')
                else
                    ratio="-"
                fi
                row "$which" "${label[$client]}" "${apdus[$key]}" "${sent[$key]}" "${received[$key]}" \
                    "$ratio" "${detail[$key]}${status[$key]#ok}"
            else
                row "$which" "${label[$client]}" "-" "-" "-" "-" "${status[$key]}"
            fi
        done
    done
}
print_rows "${main_clients[@]}"
echo
echo "variants (not in the verdict): honnin as two commands; OpenSC with only its jpki driver enabled;"
echo "OpenSC through pkcs11-tool alone (--read-object, then --sign)"
print_rows "${variant_clients[@]}"
echo
# jpki-cli 0.4.3 sends every command twice in a row; the card answers both, so both count above.
# For reference, what it would take without the repeats.
once=""
for which in auth sign; do
    [[ "${status[$which/jpki]:-}" == ok* ]] || continue
    n=$(cat "logs/$which.jpki."*.log | awk '$0 != prev { n++ } { prev = $0 } END { print n + 0 }')
    once+="${once:+, }$which $n"
done
if [ -n "$once" ]; then
    echo "notes: jpki-cli sends each command twice in a row (counted: the card receives both);" \
        "without the repeats it would be $once APDUs."
    echo "       jpki-cli signs a SHA-1 DigestInfo (41-byte command), the others SHA-256 (57 bytes)."
    echo
fi

failed=0
for key in "${!status[@]}"; do
    [[ "${status[$key]}" == ok* ]] || failed=1
done
main_failed=0
for which in auth sign; do
    for client in "${main_clients[@]}"; do
        [[ "${status[$which/$client]:-}" == ok* ]] || main_failed=1
    done
done
fewest=1
for which in auth sign; do
    h=${apdus[$which/honnin]:-}
    if [ -z "$h" ]; then fewest=0; continue; fi
    for client in opensc jpki; do
        o=${apdus[$which/$client]:-}
        # A client that failed cannot be compared.
        if [ -z "$o" ] || ((o <= h)); then fewest=0; fi
    done
done
if ((fewest)); then
    echo "verdict: honnin had the fewest APDUs in both flows (auth: ${apdus[auth/honnin]} vs" \
        "OpenSC ${apdus[auth/opensc]}, jpki-cli ${apdus[auth/jpki]}; sign: ${apdus[sign/honnin]} vs" \
        "OpenSC ${apdus[sign/opensc]}, jpki-cli ${apdus[sign/jpki]})"
elif ((main_failed)); then
    echo "verdict: cannot tell whether honnin had the fewest APDUs in both flows: a flow failed (see above)"
else
    echo "verdict: honnin did NOT have the fewest APDUs in both flows (see above)"
fi
((failed == 0)) || die "some flows failed (see the table); rerun with --work-dir DIR to keep their outputs"
