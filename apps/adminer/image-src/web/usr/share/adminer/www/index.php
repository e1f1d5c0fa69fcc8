<?php
// Adminer as atoll's adminer app serves it: the login form's server field starts as
// mariadb-server (the mariadb app's server on the network this app shares with it), and
// Adminer never phones home for a version check.
function adminer_object() {
    include_once "/usr/share/adminer/plugins/plugin.php";
    include_once "/usr/share/adminer/plugins/version-noverify.php";

    class AtollAdminer extends AdminerPlugin {
        function loginFormField($name, $heading, $value) {
            if ($name == "server") {
                $value = str_replace('value=""', 'value="mariadb-server"', $value);
            }
            return parent::loginFormField($name, $heading, $value);
        }
    }

    return new AtollAdminer(array(new AdminerVersionNoverify()));
}

include "/usr/share/adminer/adminer.php";
