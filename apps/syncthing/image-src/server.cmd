/usr/local/bin/atoll-syncthing
