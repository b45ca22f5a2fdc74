package server

import (
	"strings"
	"testing"

	chatv1 "switchboard.dev/api/gen/switchboard/chat/v1"
)

// TestValidateContent covers what a Go gRPC client cannot send (invalid
// UTF-8 fails to marshal) along with the other content rules.
func TestValidateContent(t *testing.T) {
	text := chatv1.MessageType_MESSAGE_TYPE_TEXT
	tests := []struct {
		content string
		typ     chatv1.MessageType
		max     int
		ok      bool
	}{
		{"hello", text, 5, true},
		{"hello!", text, 5, false},
		{"héllo", text, 5, true}, // runes, not bytes
		{"", text, 5, false},
		{"a\xffb", text, 5, false},
		{"a\x00b", text, 5, false},
		{"a\r\nb", text, 5, false},
		{"a\n\tb", text, 5, true},
		{"hi", chatv1.MessageType_MESSAGE_TYPE_UNSPECIFIED, 5, false},
		{"hi", chatv1.MessageType_MESSAGE_TYPE_SYSTEM, 5, false},
		{"hi", chatv1.MessageType(9), 5, false},
		{"https://cdn.example/a.png", chatv1.MessageType_MESSAGE_TYPE_IMAGE, 100, true},
		{"http://cdn.example/a.png", chatv1.MessageType_MESSAGE_TYPE_IMAGE, 100, false},
		{"https:///no-host", chatv1.MessageType_MESSAGE_TYPE_FILE, 100, false},
		{"not a url", chatv1.MessageType_MESSAGE_TYPE_FILE, 100, false},
		{"🙂", chatv1.MessageType_MESSAGE_TYPE_EMOJI, 1, true},
		{strings.Repeat("x", 4000), text, DefaultMaxContentChars, true},
	}
	for _, tt := range tests {
		err := ValidateContent(tt.content, tt.typ, tt.max)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateContent(%q, %v, %d) = %v, want ok %v", tt.content, tt.typ, tt.max, err, tt.ok)
		}
	}
}
