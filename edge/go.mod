module switchboard.dev/edge

go 1.26
