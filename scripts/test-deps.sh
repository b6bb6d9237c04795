#!/usr/bin/env bash
# test-deps.sh — installs what the tests need beyond Go, idempotently, in
# exact versions:
# - sipp (Debian's sip-tester) for the SIP interoperability test in
#   sip/sipp_integration_test.go;
# - jq (Debian's jq) for the README's runnable blocks
#   (cmd/otpgate/readme_integration_test.go);
# - node-smpp (the npm package "smpp", pinned in smpp/smsc/testdata/node/) for
#   the SMPP interoperability tests in smpp/smsc/interop_integration_test.go;
# - the vendors' official SDKs (pinned in api/compat/testdata/sdk/) that
#   cmd/otpgate/sdk_integration_test.go drives against the facades;
# - the OpenAPI linter @redocly/cli (pinned in api/testdata/lint/) that
#   cmd/otpgate/openapi_integration_test.go runs on every OpenAPI document.
#
#   scripts/test-deps.sh
#
# - A Debian package is installed with apt-get, at the version pinned below,
#   when it is missing or another version is installed and this runs as root;
#   otherwise it warns and goes on: the tests that need it then skip, saying
#   why. When Debian no longer has the pinned version (a point release
#   replaced it), the install fails naming the package and the version:
#   update the pin below to what `apt-cache policy PACKAGE` offers.
# - node and npm must be on PATH. When either is missing and this runs as root
#   with apt-get, it installs Debian's nodejs/npm packages (and says so);
#   otherwise it warns and exits 0: the interop tests then skip, saying why.
# - node_modules is (re)installed with `npm ci` (the lock file's exact
#   versions) only when it is missing or stale: when package.json,
#   package-lock.json or node's major version changed since the last install
#   (a stamp file in node_modules records them); nothing is fetched when up
#   to date.
# Exits non-zero only when an install it attempted failed.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"

# Debian packages and their pinned versions (Debian 12 "bookworm").
debs=(
	"sip-tester=1:3.6.1-1+b2"
	"jq=1.6-2.1+deb12u3"
)

say() { echo "test-deps: $*"; }

# apt-get update at most once per run.
apt_updated=
apt_update() {
	[[ -n $apt_updated ]] || apt-get update -qq
	apt_updated=1
}

# deb_installed PACKAGE prints the installed version, or nothing.
# (dpkg-query fails for a package it never heard of: under pipefail that
# must not end the script.)
deb_installed() { { dpkg-query -W -f='${Status} ${Version}\n' "$1" 2>/dev/null || true; } | awk '$3 == "installed" {print $4}'; }

for pin in "${debs[@]}"; do
	pkg=${pin%%=*}
	want=${pin#*=}
	have=$(deb_installed "$pkg")
	if [[ $have == "$want" ]]; then
		say "$pkg $have already installed"
		continue
	fi
	if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
		say "$pkg ${have:-missing}: installing $pkg=$want with apt-get (running as root)"
		export DEBIAN_FRONTEND=noninteractive
		apt_update
		if ! apt-get install -y -qq --no-install-recommends --allow-downgrades "$pkg=$want"; then
			say "ERROR: Debian has no $pkg $want any more; pin the version 'apt-cache policy $pkg' offers in scripts/test-deps.sh"
			exit 1
		fi
		say "$pkg $(deb_installed "$pkg") installed"
	elif [[ -n $have ]]; then
		say "WARNING: $pkg $have installed, not the pinned $want, and not root: testing with $have"
	else
		say "WARNING: $pkg not installed and not root (or no apt-get): the tests that need it will skip"
	fi
done

missing=()
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if ((${#missing[@]})); then
	if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
		say "node/npm missing: installing Debian packages ${missing[*]} with apt-get (running as root)"
		export DEBIAN_FRONTEND=noninteractive
		apt_update
		apt-get install -y -qq --no-install-recommends "${missing[@]}"
	else
		say "WARNING: ${missing[*]} not installed and not root (or no apt-get): cannot install them;"
		say "         the node-smpp interop tests and the SDK tests will skip. Install nodejs and npm to run them."
		exit 0
	fi
fi

# npm_install DIR WHAT CHECK: (re)installs DIR's pinned packages with npm ci
# when they are missing or stale: when package.json, package-lock.json or
# node's major version changed since the last install (a stamp file in
# node_modules records them). CHECK is a node expression that must load.
npm_install() {
	local dir=$1 what=$2 check=$3
	local stamp="$dir/node_modules/.otpgate-test-deps"
	local want
	want="$(cd "$dir" && cat package.json package-lock.json | sha256sum | cut -d' ' -f1) node$(node -p 'process.versions.node.split(".")[0]')"
	if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
		say "$what already installed in ${dir#"$root"/}/node_modules"
		return 0
	fi
	say "installing $what with npm ci in ${dir#"$root"/}"
	(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error && node -e "$check" >/dev/null)
	echo "$want" >"$stamp"
	say "$what installed"
}

npm_install "$root/smpp/smsc/testdata/node" "node-smpp 0.5.1" "require('smpp').createServer"

# The vendors' SDKs declare node >= 20 and load ESM-only packages, which
# needs node 20.19 or later (Debian 12's own nodejs is 18).
if node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a==20&&b>=19)?0:1)'; then
	npm_install "$root/api/compat/testdata/sdk" "the vendor SDKs (@vonage/server-sdk 3.27.0, @vonage/verify 1.20.0, @vonage/verify2 1.19.0, twilio 6.3.1)" \
		"require('@vonage/server-sdk'); require('twilio')"
	npm_install "$root/api/testdata/lint" "the OpenAPI linter (@redocly/cli 2.77.0)" \
		"require.resolve('@redocly/cli/bin/cli.js')"
else
	say "WARNING: node $(node -v) is older than 20.19, which the vendor SDKs and the OpenAPI linter need; their tests will skip"
fi
