#!/usr/bin/env bash
# bench/peers/kannel/run.sh — Kannel beside Otpgate, measured the same way.
#
#   bench/peers/kannel/run.sh [SECONDS]        (default 10)
#
# Installs Kannel (Debian package kannel) when missing (as root), starts the
# Otpgate SMSC simulator on loopback, binds Kannel's bearerbox to it, drives
# Kannel's sendsms interface with Otpgate's load generator (`otpgate bench
# get`), and reads Kannel's submit rate from its status page (its HTTP 202
# only means "queued in memory", so the rate that counts is what reached the
# SMSC). Then it runs Otpgate's own create benchmark for the same time and
# prints both rates and their ratio. Run it again with RECEIPTS=1 to ask
# both for delivery receipts; then Otpgate's full verifications (create,
# SMS, receipt, check) are measured beside Kannel too. Loopback only; everything stops at the end.
set -euo pipefail
root="$(cd "$(dirname "$0")/../../.." && pwd)"
secs="${1:-10}"
receipts="${RECEIPTS:-0}"
if ! command -v bearerbox >/dev/null 2>&1; then
	if [[ $(id -u) -eq 0 ]]; then
		echo "kannel: installing Debian's kannel"
		DEBIAN_FRONTEND=noninteractive apt-get install -y kannel >/dev/null
	else
		echo "kannel: bearerbox missing and not root: install Debian's kannel" >&2
		exit 1
	fi
fi
make -s -C "$root" build
bin="$root/bin/otpgate"
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

simport=27750
rdelay=-1ns
dlrmask=0
if [[ "$receipts" == 1 ]]; then rdelay=1ms; dlrmask=3; fi
"$bin" smsc-sim --listen 127.0.0.1:$simport --system-id bench --password bench --receipt-delay $rdelay 2>"$work/sim.log" &
pids+=($!)
cat >"$work/kannel.conf" <<CONF
group = core
admin-port = 13000
admin-password = bench
status-password = bench
smsbox-port = 13001
admin-allow-ip = "127.0.0.1"
box-allow-ip = "127.0.0.1"
log-level = 4
log-file = "$work/bearerbox.log"
sms-resend-retry = 0
dlr-storage = internal

group = smsc
smsc = smpp
smsc-id = sim
host = 127.0.0.1
port = $simport
transceiver-mode = true
smsc-username = bench
smsc-password = bench
system-type = ""
max-pending-submits = 100
msg-id-type = 0x01

group = smsbox
bearerbox-host = 127.0.0.1
sendsms-port = 13013
log-level = 4
log-file = "$work/smsbox.log"

group = sendsms-user
username = bench
password = bench
max-messages = 1
CONF
bearerbox "$work/kannel.conf" >/dev/null 2>&1 &
pids+=($!)
sleep 1
smsbox "$work/kannel.conf" >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 50); do
	curl -s "http://127.0.0.1:13013/" >/dev/null 2>&1 && break
	sleep 0.2
done
sent() { curl -s "http://127.0.0.1:13000/status.txt?password=bench" | sed -n 's/.*SMS: received [0-9]* ([0-9]* queued), sent \([0-9]*\).*/\1/p' | head -1; }
url="http://127.0.0.1:13013/cgi-bin/sendsms?username=bench&password=bench&from=Otpgate&to=39347{n}&text=Your+code+is+482913&dlr-mask=$dlrmask"
# both sides get the same warm-up (2 s) and measured time; for each, the
# rate that reached the SMSC and the p50/p99 of the HTTP answer
"$bin" bench get --name kannel-sendsms --url "$url" --warmup 2s --duration "${secs}s" --out "$work/kannel.json" >/dev/null 2>&1 &
load=$!
sleep 2
s1=$(sent); t1=$(date +%s.%N)
sleep "$secs"
s2=$(sent); t2=$(date +%s.%N)
wait $load || true
krate=$(echo "($s2 - $s1) / ($t2 - $t1)" | bc -l)
"$bin" bench api --mode create --duration "${secs}s" --warmup 2s --ceiling=false --out "$work/otpgate.json" >/dev/null 2>&1
field() { jq -r ".results[0].$2" "$1"; }
orate=$(field "$work/otpgate.json" rate_per_s)
ratio=$(echo "$orate / $krate" | bc -l)
printf 'receipts: %s\n' "$([[ $receipts == 1 ]] && echo on || echo off)"
printf 'kannel 1.4 (sendsms → bearerbox → SMPP): %8.0f submit_sm/s at the SMSC (HTTP 202 = queued in memory); answer p50 %s ms, p99 %s ms\n' \
	"$krate" "$(field "$work/kannel.json" p50_ms)" "$(field "$work/kannel.json" p99_ms)"
printf 'otpgate (API → durable store → SMPP):      %8.0f creates/s (HTTP 202 = fsynced), each one submit_sm; answer p50 %s ms, p99 %s ms\n' \
	"$orate" "$(field "$work/otpgate.json" p50_ms)" "$(field "$work/otpgate.json" p99_ms)"
printf 'ratio otpgate / kannel: %.2f\n' "$ratio"
erate=0
eratio=0
if [[ "$receipts" == 1 ]]; then
	# Kannel's figure with receipts beside Otpgate's full verifications
	# (create, SMS and its receipt stored, check of the code): more work per
	# message than Kannel does, measured in the same run.
	"$bin" bench api --mode e2e --duration "${secs}s" --warmup 2s --ceiling=false --out "$work/otpgate-e2e.json" >/dev/null 2>&1
	erate=$(field "$work/otpgate-e2e.json" rate_per_s)
	eratio=$(echo "$erate / $krate" | bc -l)
	printf 'otpgate full verifications (create, SMS, receipt stored, check): %8.0f/s\n' "$erate"
	printf 'ratio otpgate full verifications / kannel with receipts: %.2f\n' "$eratio"
fi
# the report bench readme reads
name=kannel
[[ "$receipts" == 1 ]] && name=kannel-receipts
mkdir -p "$root/bench-results"
jq -n --arg machine "$(jq -r .machine "$work/otpgate.json")" --argjson secs "$secs" \
	--argjson krate "$krate" --argjson kp50 "$(field "$work/kannel.json" p50_ms)" --argjson kp99 "$(field "$work/kannel.json" p99_ms)" \
	--argjson orate "$orate" --argjson op50 "$(field "$work/otpgate.json" p50_ms)" --argjson op99 "$(field "$work/otpgate.json" p99_ms)" \
	--argjson ratio "$ratio" --argjson erate "$erate" --argjson eratio "$eratio" \
	'{machine: $machine, seconds: $secs, kannel_rate: $krate, kannel_p50_ms: $kp50, kannel_p99_ms: $kp99,
	  otpgate_rate: $orate, otpgate_p50_ms: $op50, otpgate_p99_ms: $op99, ratio: $ratio,
	  otpgate_e2e_rate: $erate, e2e_ratio: $eratio}' >"$root/bench-results/$name.json"
echo "report: bench-results/$name.json"
