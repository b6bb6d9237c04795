#!/usr/bin/env bash
# fakespeak.sh COUNTFILE OUT TEXT — a stand-in speech synthesiser for the tts
# tests. It appends TEXT to COUNTFILE (one line a run, so a test can count the
# runs) and writes a tiny WAV to OUT, or to standard output when OUT is "-":
# 800 samples (50 ms) of 16-bit mono PCM at 16000 Hz, every sample 1000. To
# standard output the RIFF and data sizes are 0xFFFFFFFF, as a synthesiser
# streaming to a pipe writes them. TEXT starting with "fail" exits 3.
set -eu
count=$1 out=$2 text=$3
printf '%s\n' "$text" >>"$count"
case $text in fail*)
	echo "fakespeak: asked to fail" >&2
	exit 3
	;;
esac
wav() {
	if [ "$1" = stream ]; then
		riff='\xff\xff\xff\xff' data='\xff\xff\xff\xff'
	else
		riff='\x64\x06\x00\x00' data='\x40\x06\x00\x00' # 36+1600, 1600
	fi
	printf "RIFF${riff}WAVEfmt "
	printf '\x10\x00\x00\x00\x01\x00\x01\x00'  # fmt size 16, PCM, 1 channel
	printf '\x80\x3e\x00\x00\x00\x7d\x00\x00'  # 16000 Hz, 32000 bytes/s
	printf '\x02\x00\x10\x00'                  # block align 2, 16 bits
	printf "data${data}"
	for _ in $(seq 800); do printf '\xe8\x03'; done # 1000
}
if [ "$out" = - ]; then
	wav stream
else
	wav file >"$out"
fi
