module switchboard.dev/services/signaling

go 1.26

require (
	switchboard.dev/api v0.0.0
	switchboard.dev/platform v0.0.0
)

replace (
	switchboard.dev/api => ../../api
	switchboard.dev/platform => ../../platform
)
