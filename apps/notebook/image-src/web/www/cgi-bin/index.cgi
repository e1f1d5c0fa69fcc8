#!/bin/sh
# Notebook: every visit appends one line to /data/notes.txt (a named volume) and the page
# shows the count. The secret NOTEBOOK_KEY is never printed: only its length and a hash prefix.
notes=/data/notes.txt

html() { # escape &, <, > and quotes for HTML
  printf '%s' "$1" | sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g' -e 's/"/\&quot;/g'
}

title=${NOTEBOOK_TITLE:-Notebook}
status="200 OK"
if mkdir -p /data && echo "visit at $(date -u +%Y-%m-%dT%H:%M:%SZ)" >>"$notes"; then
  count=$(wc -l <"$notes" | tr -d ' ')
  saved="Saved visit number $count."
else
  status="500 Internal Server Error"
  count=0
  saved="Could not write $notes."
fi

if [ -n "$NOTEBOOK_KEY" ]; then
  key_len=${#NOTEBOOK_KEY}
  key_hash=$(printf '%s' "$NOTEBOOK_KEY" | sha256sum | cut -c1-12)
  key="key set: $key_len characters, sha256 $key_hash…"
else
  key="no key set"
fi

printf 'Status: %s\r\n' "$status"
printf 'Content-Type: text/html; charset=utf-8\r\n'
printf 'Cache-Control: no-store\r\n\r\n'
cat <<HTML
<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>$(html "$title")</title></head>
<body style="font-family: sans-serif; max-width: 36rem; margin: 4rem auto">
<h1>$(html "$title")</h1>
<p id="saved">$(html "$saved")</p>
<p>notes: <span id="count">$count</span></p>
<p id="key">$(html "$key")</p>
</body>
</html>
HTML
