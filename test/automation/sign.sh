# Signs requests of the task API the way issue 16's scheme says, with the
# openssl command line (an implementation independent of our C):
#   X-HD-Signature = hex HMAC-SHA256(secret, METHOD\nPATH?QUERY\nTIMESTAMP\nNONCE\nhex SHA-256(body))
# shellcheck shell=bash

# sig_headers METHOD PATH_WITH_QUERY BODY: prints curl -H arguments, one per line
sig_headers() {
	local method=$1 pathq=$2 body=$3 ts nonce hash sig
	ts=$(date +%s)
	nonce=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
	hash=$(printf '%s' "$body" | openssl dgst -sha256 -r | cut -d' ' -f1)
	sig=$(printf '%s\n%s\n%s\n%s\n%s' "$method" "$pathq" "$ts" "$nonce" "$hash" |
		openssl dgst -sha256 -hmac "$APP_SECRET" -r | cut -d' ' -f1)
	printf '%s\n' "-H" "X-HD-App: $APP_ID" "-H" "X-HD-Timestamp: $ts" "-H" "X-HD-Nonce: $nonce" "-H" "X-HD-Signature: $sig"
}

# signed curl: scurl METHOD URL [BODY] -> the answer body, then a line "HTTP <status>"
scurl() {
	local method=$1 url=$2 body=${3:-} pathq args=()
	pathq=/${url#http://*/}
	mapfile -t args < <(sig_headers "$method" "$pathq" "$body")
	if [ -n "$body" ]; then
		curl -sS -X "$method" "$url" -H "Content-Type: application/json" "${args[@]}" -d "$body" -w '\nHTTP %{http_code}\n'
	else
		curl -sS -X "$method" "$url" "${args[@]}" -w '\nHTTP %{http_code}\n'
	fi
}
