package rpcerr

import (
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestDescribe(t *testing.T) {
	target := Target{Service: "chat", Addr: "127.0.0.1:9102", Timeout: 5 * time.Second}
	tests := []struct {
		err        error
		want       string
		connection bool
	}{
		{status.Error(codes.AlreadyExists, "x"), "room 7 already exists", false},
		{status.Error(codes.NotFound, ""), "room 7 not found", false},
		{status.Error(codes.NotFound, "no such room"), "room 7 not found (no such room)", false},
		{status.Error(codes.Unavailable, "connection refused"), "chat service unreachable at 127.0.0.1:9102", true},
		{status.Error(codes.DeadlineExceeded, ""), "chat service at 127.0.0.1:9102 did not answer within 5s", true},
		{status.Error(codes.Unimplemented, ""), "chat service at 127.0.0.1:9102 does not implement this call (wrong address or version?)", true},
		{status.Error(codes.InvalidArgument, "name is empty"), "invalid request: name is empty", false},
		{status.Error(codes.Internal, "boom"), "chat service error (Internal): boom", false},
		{errors.New("plain"), "plain", false},
	}
	for _, tt := range tests {
		err := Describe(tt.err, target, "room 7")
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("Describe(%v) = %T, want *Error", tt.err, err)
		}
		if e.Msg != tt.want || e.Connection() != tt.connection {
			t.Errorf("Describe(%v) = %q connection %v, want %q connection %v", tt.err, e.Msg, e.Connection(), tt.want, tt.connection)
		}
		if got, want := Code(err), status.Code(tt.err); got != want {
			t.Errorf("Code(Describe(%v)) = %v, want %v", tt.err, got, want)
		}
	}
	if Describe(nil, target, "x") != nil {
		t.Errorf("Describe(nil) != nil")
	}
}
