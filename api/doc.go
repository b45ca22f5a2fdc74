// Package api holds Switchboard's protobuf contracts. The generated Go lives
// under gen/, one package per service and version (for example
// switchboard.dev/api/gen/switchboard/chat/v1, imported as chatv1).
package api
