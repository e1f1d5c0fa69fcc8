/usr/local/bin/mariadb-start
