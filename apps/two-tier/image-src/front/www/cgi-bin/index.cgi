#!/bin/sh
# The front: fetches the API by its container name on the app network and renders the answer.
url=${API_URL:-http://api:8080/cgi-bin/status}

html() { # escape &, <, > and quotes for HTML
  printf '%s' "$1" | sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g' -e 's/"/\&quot;/g'
}
field() { # crude read of a flat JSON string field: field NAME JSON
  printf '%s' "$2" | sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"
}

# `timeout`, not wget -T: Debian 12 busybox-static 1.35 wget segfaults with -T.
if body=$(timeout 3 wget -q -O - "$url" 2>/dev/null) && [ -n "$body" ]; then
  status="200 OK"
  result="<p>The API says: <strong id=\"message\">$(html "$(field message "$body")")</strong>
(from host <code id=\"api-host\">$(html "$(field hostname "$body")")</code>)</p>
<pre id=\"raw\">$(html "$body")</pre>"
else
  status="502 Bad Gateway"
  result="<p id=\"error\">The API at $(html "$url") did not answer.</p>"
fi

printf 'Status: %s\r\nContent-Type: text/html; charset=utf-8\r\nCache-Control: no-store\r\n\r\n' "$status"
cat <<HTML
<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Two Tier</title></head>
<body style="font-family: sans-serif; max-width: 36rem; margin: 4rem auto">
<h1>Two Tier</h1>
$result
</body>
</html>
HTML
