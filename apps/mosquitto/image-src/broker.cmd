/usr/local/bin/atoll-mosquitto
