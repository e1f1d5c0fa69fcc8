<?php
// Is the wiki's database installed? Exit 0: yes (table `page` exists), 1: the database is
// empty, 2: it cannot be reached (after waiting up to a minute for the db container).
$pass = trim((string)@file_get_contents('/etc/mediawiki/atoll-db-password'));
mysqli_report(MYSQLI_REPORT_OFF);
$db = false;
for ($i = 0; $i < 60 && !$db; $i++) {
    $db = @mysqli_connect('db', 'wiki', $pass, 'wiki');
    if (!$db) {
        sleep(1);
    }
}
if (!$db) {
    fwrite(STDERR, "wiki-state: cannot reach database wiki on db:3306 as wiki: " . mysqli_connect_error() . "\n");
    exit(2);
}
$r = mysqli_query($db, "SHOW TABLES LIKE 'page'");
exit($r && mysqli_num_rows($r) > 0 ? 0 : 1);
