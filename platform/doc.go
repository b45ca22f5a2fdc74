// Package platform is the plumbing every Switchboard binary shares: serving
// gRPC with health, reflection, request ids and graceful shutdown
// (grpcserver, requestid), flags that default from the environment
// (envflag), the JSON logger (logger), resumable event streams
// (eventstream) over durable bbolt event logs (eventlog), the
// group-commit writer (groupcommit), streamed store
// backups (backup), the binaries' healthcheck subcommand (healthcheck) and
// the profiles served on request (profiling).
// It holds no service logic.
package platform
