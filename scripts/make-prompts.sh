#!/usr/bin/env bash
# make-prompts.sh — renders the voice prompts that package tts embeds, for every
# supported language, from Debian's speech packages:
#
#   scripts/make-prompts.sh            # all languages
#   scripts/make-prompts.sh it fr      # only these
#
# Needs: bash, flite (English, voice kal16), espeak-ng (it, fr, de, es) and sox
# (Debian packages flite, espeak-ng, sox: `apt-get install -y flite espeak-ng sox`).
# The committed prompts were made on Debian 12 with flite 2.2, espeak-ng 1.51
# and sox 14.4.2; other versions may give (slightly) different bytes.
#
# Output: tts/prompts/<lang>/<name>.s16, where <name> is
#   intro           "Your verification code is" (translated)
#   d0 .. d9        the digits
#   l_a .. l_z      the letters of the code alphabet (A–Z without I, L, O),
#                   spoken as the language's letter names
#   repeat          "I repeat"
#   bye             "Goodbye"
# Format: headerless raw PCM, signed 16-bit little-endian, 8000 Hz, mono. Each
# prompt is resampled to 8 kHz, has leading and trailing silence trimmed, a 5 ms
# fade at both ends (no clicks when prompts are joined), and is normalised to a
# -3 dBFS peak. Linear PCM rather than µ-law so that both µ-law and A-law output
# are encoded once from linear samples (no µ-law → A-law double quantisation);
# all languages together stay well under 2 MB.
#
# Re-runnable and idempotent: every prompt is rendered into a temporary file and
# only replaces the committed file when its bytes differ (no dither, so the same
# tools give the same bytes), and the script reports what changed. A change of
# any prompt changes the audio tts renders: regenerate the golden hash then with
# `go test ./tts/ -run Golden -update` and review the diff.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
out="$root/tts/prompts"

# espeak-ng speaking rate (words per minute; its default is 175): a little
# slower is clearer on a telephone line.
ESPEAK_RATE=${ESPEAK_RATE:-145}

missing=()
for tool in flite espeak-ng sox; do
	command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]})); then
	echo "make-prompts: missing ${missing[*]}; install with: apt-get install -y flite espeak-ng sox" >&2
	exit 1
fi
if ! flite -lv 2>/dev/null | grep -qw kal16; then
	echo "make-prompts: flite has no voice kal16" >&2
	exit 1
fi

letters=(A B C D E F G H J K M N P Q R S T U V W X Y Z)
all_langs=(en it fr de es)
langs=("${@:-${all_langs[@]}}")

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

changed=0
unchanged=0

# speak LANG TEXT WAV — synthesise TEXT into WAV with the language's engine.
speak() {
	local lang=$1 text=$2 wav=$3
	case $lang in
	en) flite -voice kal16 -t "$text" -o "$wav" ;;
	it | fr | de | es) espeak-ng -v "$lang" -s "$ESPEAK_RATE" -w "$wav" -- "$text" ;;
	*)
		echo "make-prompts: unknown language $lang" >&2
		return 1
		;;
	esac
}

# render LANG NAME TEXT — one prompt: synthesise, convert, store if changed.
render() {
	local lang=$1 name=$2 text=$3
	local wav="$tmp/$lang-$name.wav" raw="$tmp/$lang-$name.s16"
	local dst="$out/$lang/$name.s16"
	speak "$lang" "$text" "$wav"
	# silence: trim from the start, reverse, trim again (= the end), fade in
	# (= the end's fade out), reverse back, fade in; rate -v: high-quality resampling to 8 kHz (its low-pass keeps
	# the telephone band); -D: no dither, so output is reproducible.
	sox -D "$wav" -t raw -r 8000 -c 1 -e signed-integer -b 16 -L "$raw" \
		silence 1 0.005 -55d reverse silence 1 0.005 -55d fade t 0.005 \
		reverse fade t 0.005 norm -6 rate -v 8000 norm -3
	if [[ ! -s $raw ]]; then
		echo "make-prompts: $lang/$name: empty audio for \"$text\"" >&2
		return 1
	fi
	mkdir -p "$out/$lang"
	if [[ -f $dst ]] && cmp -s "$raw" "$dst"; then
		unchanged=$((unchanged + 1))
	else
		mv "$raw" "$dst"
		changed=$((changed + 1))
		echo "make-prompts: wrote $lang/$name.s16 ($(stat -c %s "$dst") bytes)"
	fi
}

# letter LANG L — the text that makes the engine say letter L's name. Both
# engines spell a lone capital letter by its name; overrides where the default
# name is ambiguous.
letter() {
	local lang=$1 l=$2
	case $lang/$l in
	es/Y) echo "i griega" ;; # espeak-ng says "i", which sounds like I
	*) echo "$l" ;;
	esac
}

for lang in "${langs[@]}"; do
	case $lang in
	en) intro="Your verification code is" repeat="I repeat" bye="Goodbye" ;;
	it) intro="Il tuo codice di verifica è" repeat="Ripeto" bye="Arrivederci" ;;
	fr) intro="Votre code de vérification est" repeat="Je répète" bye="Au revoir" ;;
	de) intro="Ihr Bestätigungscode lautet" repeat="Ich wiederhole" bye="Auf Wiederhören" ;;
	es) intro="Tu código de verificación es" repeat="Repito" bye="Adiós" ;;
	*)
		echo "make-prompts: unknown language $lang (known: ${all_langs[*]})" >&2
		exit 1
		;;
	esac
	render "$lang" intro "$intro"
	for d in 0 1 2 3 4 5 6 7 8 9; do
		render "$lang" "d$d" "$d"
	done
	for l in "${letters[@]}"; do
		render "$lang" "l_${l,,}" "$(letter "$lang" "$l")"
	done
	render "$lang" repeat "$repeat"
	render "$lang" bye "$bye"
done

total=$(du -cb "$out"/*/*.s16 | tail -1 | cut -f1)
echo "make-prompts: $changed written, $unchanged unchanged; $total bytes in tts/prompts"
