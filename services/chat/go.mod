module switchboard.dev/services/chat

go 1.26
