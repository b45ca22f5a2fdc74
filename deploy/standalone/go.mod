module switchboard.dev/deploy/standalone

go 1.26

require (
	github.com/golang-jwt/jwt/v5 v5.3.1
	google.golang.org/grpc v1.77.0
	switchboard.dev/api v0.0.0
	switchboard.dev/edge v0.0.0
	switchboard.dev/platform v0.0.0
	switchboard.dev/services/auth v0.0.0
	switchboard.dev/services/chat v0.0.0
	switchboard.dev/services/presence v0.0.0
)

require (
	github.com/coder/websocket v1.8.15 // indirect
	go.etcd.io/bbolt v1.5.0 // indirect
	golang.org/x/net v0.46.1-0.20251013234738-63d1a5100f82 // indirect
	golang.org/x/sys v0.45.0 // indirect
	golang.org/x/text v0.30.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20251022142026-3a174f9686a8 // indirect
	google.golang.org/protobuf v1.36.11 // indirect
)

replace (
	switchboard.dev/api => ../../api
	switchboard.dev/edge => ../../edge
	switchboard.dev/platform => ../../platform
	switchboard.dev/services/auth => ../../services/auth
	switchboard.dev/services/chat => ../../services/chat
	switchboard.dev/services/presence => ../../services/presence
)
