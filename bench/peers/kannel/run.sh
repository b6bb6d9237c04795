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
"$bin" bench get --name kannel-sendsms --url "$url" --warmup 0s --duration $((secs + 4))s --out "$work/kannel.json" >/dev/null 2>&1 &
load=$!
sleep 2
s1=$(sent); t1=$(date +%s.%N)
sleep "$secs"
s2=$(sent); t2=$(date +%s.%N)
wait $load || true
krate=$(echo "($s2 - $s1) / ($t2 - $t1)" | bc -l)
orate=$("$bin" bench api --mode create --duration ${secs}s --warmup 2s --ceiling=false --out "$work/otpgate.json" 2>/dev/null | awk '$1=="api" {print $5}')
printf 'receipts: %s\n' "$([[ $receipts == 1 ]] && echo on || echo off)"
printf 'kannel 1.4 (sendsms → bearerbox → SMPP): %8.0f submit_sm/s at the SMSC (HTTP 202 = queued in memory)\n' "$krate"
printf 'otpgate (API → durable store → SMPP):      %8.0f creates/s (HTTP 202 = fsynced), each one submit_sm\n' "$orate"
printf 'ratio otpgate / kannel: %.2f\n' "$(echo "$orate / $krate" | bc -l)"
if [[ "$receipts" == 1 ]]; then
	# Kannel's figure with receipts beside Otpgate's full verifications
	# (create, SMS and its receipt stored, check of the code): more work per
	# message than Kannel does, measured in the same run.
	erate=$("$bin" bench api --mode e2e --duration ${secs}s --warmup 2s --ceiling=false --out "$work/otpgate-e2e.json" 2>/dev/null | awk '$1=="api" {print $5}')
	printf 'otpgate full verifications (create, SMS, receipt stored, check): %8.0f/s\n' "$erate"
	printf 'ratio otpgate full verifications / kannel with receipts: %.2f\n' "$(echo "$erate / $krate" | bc -l)"
fi
