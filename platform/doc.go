// Package platform is the plumbing every Switchboard binary shares: serving
// gRPC with health, reflection and graceful shutdown (grpcserver), and flags
// that default from the environment (envflag). It holds no service logic.
package platform
