package requestid

import (
	"context"
	"log/slog"
	"testing"

	"google.golang.org/grpc/metadata"
)

func TestOutgoingToIncoming(t *testing.T) {
	tests := []struct {
		name, id, want string
	}{
		{"session and counter", "edge1-42:7", "edge1-42:7"},
		{"none", "", ""},
		{"too long", string(make([]byte, MaxLen+1)), string(make([]byte, MaxLen))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			if tt.id != "" {
				ctx = Outgoing(ctx, tt.id)
			}
			md, _ := metadata.FromOutgoingContext(ctx)
			in := metadata.NewIncomingContext(context.Background(), md)
			if got := FromIncoming(in); got != tt.want {
				t.Errorf("FromIncoming(Outgoing(%q)) = %q, want %q", tt.id, got, tt.want)
			}
		})
	}
}

func TestAttr(t *testing.T) {
	if a := Attr(context.Background()); !a.Equal(slog.Attr{}) {
		t.Errorf("Attr(no id) = %v, want the empty attribute", a)
	}
	ctx := With(context.Background(), "edge1-1:1")
	if got := FromContext(ctx); got != "edge1-1:1" {
		t.Errorf("FromContext(With(edge1-1:1)) = %q", got)
	}
	if a := Attr(ctx); !a.Equal(slog.String(LogKey, "edge1-1:1")) {
		t.Errorf("Attr() = %v, want request_id=edge1-1:1", a)
	}
}
