module switchboard.dev/deploy/standalone

go 1.26
