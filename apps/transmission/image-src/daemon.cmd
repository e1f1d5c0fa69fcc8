/usr/local/bin/atoll-transmission
