module switchboard.dev/cli

go 1.26

require (
	github.com/golang-jwt/jwt/v5 v5.3.1
	go.etcd.io/bbolt v1.5.0
	golang.org/x/sys v0.45.0
	google.golang.org/genproto/googleapis/rpc v0.0.0-20251022142026-3a174f9686a8
	google.golang.org/grpc v1.77.0
	google.golang.org/protobuf v1.36.11
	switchboard.dev/api v0.0.0
	switchboard.dev/edge v0.0.0
	switchboard.dev/platform v0.0.0
	switchboard.dev/services/auth v0.0.0
	switchboard.dev/services/chat v0.0.0
)

require (
	golang.org/x/net v0.46.1-0.20251013234738-63d1a5100f82 // indirect
	golang.org/x/text v0.30.0 // indirect
)

replace (
	switchboard.dev/api => ../api
	switchboard.dev/edge => ../edge
	switchboard.dev/platform => ../platform
	switchboard.dev/services/auth => ../services/auth
	switchboard.dev/services/chat => ../services/chat
)
