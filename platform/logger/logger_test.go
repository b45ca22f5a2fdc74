package logger

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestLevelsAndJSON(t *testing.T) {
	var buf bytes.Buffer
	log, err := New(&buf, "warn")
	if err != nil {
		t.Fatal(err)
	}
	log.Info("dropped")
	log.Warn("kept", "k", 1)
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("output %q is not one JSON record: %v", buf.String(), err)
	}
	if rec["msg"] != "kept" || rec["k"] != float64(1) {
		t.Errorf("record = %v, want msg kept with k=1", rec)
	}
	if _, err := New(&buf, "loud"); err == nil {
		t.Error(`New(w, "loud") = nil error, want one`)
	}
}
