module switchboard.dev/services/auth

go 1.26
