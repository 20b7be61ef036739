#!/usr/bin/env bash
# Checks the package as users get it: packs it, runs publint and arethetypeswrong on the tarball, then installs the
# tarball into a strict consumer project (test/consumer: module nodenext, skipLibCheck off, ESM and CJS files that
# import all three entry points) and type-checks it. Needs dist/ (npm run build) and the npm registry.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
npm pack --silent --ignore-scripts --pack-destination "$tmp" >/dev/null
tarball=$(ls "$tmp"/clavata-connect-*.tgz)
npx publint "$tarball"
# node10 cannot resolve subpath exports at all; the package needs Node.js 22, so node16 and bundler are what count.
npx attw --profile node16 "$tarball"
cp test/consumer/package.json test/consumer/tsconfig.json test/consumer/*.mts test/consumer/*.cts "$tmp/"
typescript=$(node -p 'require("./package.json").devDependencies.typescript')
(cd "$tmp" && npm install --no-audit --no-fund --silent "$tarball" "typescript@$typescript" "@types/node@22" &&
  npx tsc -p . && echo "the consumer project type-checks (ESM and CJS, skipLibCheck off)")
