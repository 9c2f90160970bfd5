#!/usr/bin/env bash
# docs/security.md's function grant matrix is the catalog's: a fresh database's
# ACLs printed by scripts/security_matrix must equal the table between the
# doc's matrix markers (regenerate it with the script after changing
# extension/access.sql).
source "$(dirname "$0")/common.sh"
root=$(cd "$(dirname "$0")/../.." && pwd)
db=hd_security_matrix
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fresh_db $db
bash "$root/scripts/security_matrix" $db >"$tmp/catalog.md"
sed -n '/<!-- matrix:begin -->/,/<!-- matrix:end -->/p' "$root/docs/security.md" | sed '1d;$d' >"$tmp/doc.md"
[ -s "$tmp/doc.md" ] || fail "docs/security.md has no matrix between its markers"
grep -q 'no decision' "$tmp/catalog.md" && fail "functions without a grant decision: $(grep 'no decision' "$tmp/catalog.md" | cut -d'|' -f2 | tr -d '\n')"
diff -u "$tmp/doc.md" "$tmp/catalog.md" >"$tmp/diff" ||
	{ head -30 "$tmp/diff"; fail "docs/security.md's matrix differs from the catalog (scripts/security_matrix $db)"; }
note "docs/security.md's matrix = the catalog's ACLs ($(($(wc -l <"$tmp/catalog.md") - 2)) functions)"
