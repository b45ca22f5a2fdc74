package procs

import (
	"runtime"
	"testing"
)

func TestEnsure(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	noEnv := func(string) string { return "" }

	runtime.GOMAXPROCS(1)
	if got := Ensure(noEnv, 2); got != 2 || runtime.GOMAXPROCS(0) != 2 {
		t.Errorf("Ensure(2) from 1 = %d (GOMAXPROCS %d), want 2", got, runtime.GOMAXPROCS(0))
	}
	runtime.GOMAXPROCS(3)
	if got := Ensure(noEnv, 2); got != 3 {
		t.Errorf("Ensure(2) from 3 = %d, want 3 (never lowered)", got)
	}
	runtime.GOMAXPROCS(1)
	explicit := func(k string) string {
		if k == "GOMAXPROCS" {
			return "1"
		}
		return ""
	}
	if got := Ensure(explicit, 2); got != 1 {
		t.Errorf("Ensure(2) with GOMAXPROCS=1 in the environment = %d, want 1 (the operator's choice)", got)
	}
}
