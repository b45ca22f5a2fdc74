// Command sbctl is the Switchboard admin CLI: the operators' chat
// administration (rooms, invitations, bans, kicks, blocks, history and
// system messages), the auth service's users, revocations and API keys,
// presence and announcements, the signaling service's open video rooms,
// store backups, and development tokens minted as the Laravel backend
// would. Run `sbctl help` for the commands.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"switchboard.dev/cli/internal/sbctl"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := sbctl.Run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
