module switchboard.dev/cli

go 1.26
