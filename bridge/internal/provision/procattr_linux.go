package provision

import (
	"os/exec"
	"syscall"
)

// orphanGuard makes the kernel kill the node process when the bridge dies
// without stopping it (SIGKILL, a crash), so that no node outlives it.
func orphanGuard(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
