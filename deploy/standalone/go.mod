module switchboard.dev/deploy/standalone

go 1.26

require (
	github.com/coder/websocket v1.8.15
	github.com/golang-jwt/jwt/v5 v5.3.1
	github.com/pion/ice/v4 v4.4.2
	github.com/pion/rtp v1.10.5
	github.com/pion/webrtc/v4 v4.2.20
	go.etcd.io/bbolt v1.5.0
	google.golang.org/grpc v1.77.0
	switchboard.dev/api v0.0.0
	switchboard.dev/bridge v0.0.0
	switchboard.dev/edge v0.0.0
	switchboard.dev/platform v0.0.0
	switchboard.dev/services/auth v0.0.0
	switchboard.dev/services/chat v0.0.0
	switchboard.dev/services/presence v0.0.0
	switchboard.dev/services/signaling v0.0.0
)

require (
	github.com/beorn7/perks v1.0.1 // indirect
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	github.com/pion/datachannel v1.6.2 // indirect
	github.com/pion/dtls/v3 v3.1.8 // indirect
	github.com/pion/interceptor v0.1.48 // indirect
	github.com/pion/logging v0.2.4 // indirect
	github.com/pion/mdns/v2 v2.2.0 // indirect
	github.com/pion/randutil v0.1.0 // indirect
	github.com/pion/rtcp v1.2.17 // indirect
	github.com/pion/sctp v1.11.1 // indirect
	github.com/pion/sdp/v3 v3.0.19 // indirect
	github.com/pion/srtp/v3 v3.0.13 // indirect
	github.com/pion/stun/v4 v4.0.0 // indirect
	github.com/pion/transport/v4 v4.1.0 // indirect
	github.com/pion/turn/v5 v5.1.0 // indirect
	github.com/prometheus/client_golang v1.23.2 // indirect
	github.com/prometheus/client_model v0.6.2 // indirect
	github.com/prometheus/common v0.66.1 // indirect
	github.com/prometheus/procfs v0.16.1 // indirect
	github.com/wlynxg/anet v0.0.5 // indirect
	go.yaml.in/yaml/v2 v2.4.2 // indirect
	golang.org/x/crypto v0.48.0 // indirect
	golang.org/x/net v0.50.0 // indirect
	golang.org/x/sys v0.45.0 // indirect
	golang.org/x/text v0.34.0 // indirect
	golang.org/x/time v0.14.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20251022142026-3a174f9686a8 // indirect
	google.golang.org/protobuf v1.36.11 // indirect
)

replace (
	switchboard.dev/api => ../../api
	switchboard.dev/bridge => ../../bridge
	switchboard.dev/edge => ../../edge
	switchboard.dev/platform => ../../platform
	switchboard.dev/services/auth => ../../services/auth
	switchboard.dev/services/chat => ../../services/chat
	switchboard.dev/services/presence => ../../services/presence
	switchboard.dev/services/signaling => ../../services/signaling
)
