package chat

import (
	"switchboard.dev/platform/envflag"
	"switchboard.dev/services/chat/internal/broker"
	"switchboard.dev/services/chat/internal/server"
	"switchboard.dev/services/chat/internal/store"
)

// RegisterFlags defines the service's flags on s, each defaulting from its
// environment variable, to fill c when s is parsed. DataDir is left to the
// binary: the standalone shares one data folder between services.
func (c *Config) RegisterFlags(s *envflag.Set) {
	s.String(&c.Addr, "chat-addr", "CHAT_ADDR", DefaultAddr, "gRPC address of the chat service")
	s.Int(&c.DefaultMaxMembers, "chat-default-max-members", "CHAT_DEFAULT_MAX_MEMBERS", store.DefaultMaxMembers, "member limit of rooms created with max_members 0")
	s.Int(&c.MaxContentChars, "chat-max-content-chars", "CHAT_MAX_CONTENT_CHARS", server.DefaultMaxContentChars, "longest message content, in characters")
	s.Int(&c.EventRetention, "chat-event-retention", "CHAT_EVENT_RETENTION", store.DefaultEventRetention, "newest events kept for Subscribe resumes")
	s.Int(&c.SubscriberBuffer, "chat-subscriber-buffer", "CHAT_SUBSCRIBER_BUFFER", broker.DefaultBuffer, "live events a Subscribe stream may have pending before it is cut as too slow")
}
