#!/usr/bin/env bash
# check-tracked.sh — fails when git tracks a compiled binary or bulk: a file
# that starts with ELF, PE (MZ) or Mach-O magic anywhere, or one over 1 MiB
# outside **/testdata/, the embedded voice prompts (tts/prompts/) and the
# documentation images (docs/**/*.png|jpg|svg). `make test` runs it, so a
# binary built at the root and added by `git add .` is caught before review.
#
#   scripts/check-tracked.sh            # exits 1 and names each offender
#
# Outside a git checkout (an unpacked archive) it says so and passes.
# CHECK_TRACKED_DIR names another checkout to check (its test uses it).
set -euo pipefail
cd "${CHECK_TRACKED_DIR:-$(dirname "$0")/..}"

if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	echo "check-tracked: not a git checkout; nothing to check"
	exit 0
fi

limit=$((1 << 20))
bad=0
while IFS= read -r -d '' f; do
	[[ -f $f ]] || continue # deleted in the work tree, not yet committed
	magic=$(head -c 4 -- "$f" | od -An -tx1 | tr -d ' \n')
	case $magic in
	7f454c46) kind="an ELF binary" ;;
	4d5a*) kind="a PE (Windows) binary" ;;
	feedface | feedfacf | cefaedfe | cffaedfe | cafebabe) kind="a Mach-O binary" ;;
	*) kind="" ;;
	esac
	if [[ -n $kind ]]; then
		echo "check-tracked: $f is $kind; build outputs go to bin/ (ignored), never into git" >&2
		bad=1
		continue
	fi
	size=$(stat -c %s -- "$f")
	if ((size > limit)); then
		case $f in
		*/testdata/* | testdata/* | tts/prompts/* | docs/*.png | docs/*.jpg | docs/*.svg | docs/*/*.png | docs/*/*.jpg | docs/*/*.svg) ;;
		*)
			echo "check-tracked: $f is $((size / 1024)) KiB, over the 1 MiB allowed outside testdata/, tts/prompts/ and docs images" >&2
			bad=1
			;;
		esac
	fi
done < <(git ls-files -z)

if ((bad)); then
	echo "check-tracked: remove these with 'git rm --cached FILE' (and ignore them in .gitignore)" >&2
	exit 1
fi
echo "check-tracked: no binaries or bulk among $(git ls-files | wc -l) tracked files"
