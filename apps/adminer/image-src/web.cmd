/usr/local/bin/adminer-start
