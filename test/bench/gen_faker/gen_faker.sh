#!/usr/bin/env bash
# test/bench/gen_faker/gen_faker.sh: run gen_faker.mjs, installing its locked dependency
# (@faker-js/faker, package-lock.json) with `npm ci` into node_modules here on first use.
#   gen_faker.sh --persons N [--seed S] --out FILE.csv [--truth-col NAME] [--quiet]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
command -v node >/dev/null || { echo "gen_faker: node (Node.js >= 18) is needed" >&2; exit 1; }
if [ ! -f "$here/node_modules/@faker-js/faker/package.json" ]; then
	(cd "$here" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi
exec node "$here/gen_faker.mjs" "$@"
