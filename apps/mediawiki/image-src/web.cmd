/usr/local/bin/mediawiki-start
