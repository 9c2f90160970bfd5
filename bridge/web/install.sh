#!/usr/bin/env bash
# Installs the console and the widget into DEST (make install: the bridge's
# default --web-root, /usr/local/share/helpdesk-bridge/web): each app gets a
# copy of common/, index.html gets the content hash in its module and style
# URLs (/console/v-HASH/...: served immutable, see bridge/http_static.c),
# VERSION holds the hash, and every text file gets a NAME.gz beside it
# (gzip -9 -n) that the bridge sends to clients accepting gzip.
set -euo pipefail
src=$(cd "$(dirname "$0")" && pwd)
dest=${1:?usage: install.sh DEST}
hash=$(cd "$src" && find common console widget -type f | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-12)
tmp="$dest.tmp.$$"
rm -rf "$tmp"
mkdir -p "$tmp"
for app in console widget; do
	cp -R "$src/$app" "$tmp/$app"
	cp -R "$src/common" "$tmp/$app/common"
	sed -i "s/__V__/$hash/g" "$tmp/$app/index.html"
done
echo "$hash" >"$tmp/VERSION"
find "$tmp" -type f \( -name '*.html' -o -name '*.js' -o -name '*.css' -o -name '*.svg' -o -name '*.json' \) \
	-exec gzip -9 -n -k -f {} \;
chmod -R a+rX "$tmp"
rm -rf "$dest"
mv "$tmp" "$dest"
