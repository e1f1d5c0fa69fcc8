/usr/bin/radicale
--config
/etc/radicale/config
