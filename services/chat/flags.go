package chat

import (
	"switchboard.dev/platform/envflag"
	"switchboard.dev/platform/eventstream"
	"switchboard.dev/services/chat/internal/server"
	"switchboard.dev/services/chat/internal/store"
)

// RegisterFlags defines the service's flags on s, each defaulting from its
// environment variable, to fill c when s is parsed. DataDir is left to the
// binary: the standalone shares one data folder between services.
//
// The banned patterns file is a path (CHAT_BANNED_PATTERNS_FILE) that Run
// reads, so that every binary registering these flags gets it alike.
func (c *Config) RegisterFlags(s *envflag.Set) {
	s.String(&c.Addr, "chat-addr", "CHAT_ADDR", DefaultAddr, "gRPC address of the chat service")
	s.Int(&c.DefaultMaxMembers, "chat-default-max-members", "CHAT_DEFAULT_MAX_MEMBERS", store.DefaultMaxMembers, "member limit of rooms created with max_members 0")
	s.Int(&c.MaxContentChars, "chat-max-content-chars", "CHAT_MAX_CONTENT_CHARS", server.DefaultMaxContentChars, "longest message content, in characters")
	s.Int(&c.EventRetention, "chat-event-retention", "CHAT_EVENT_RETENTION", store.DefaultEventRetention, "newest events kept for Subscribe resumes")
	s.Int(&c.SubscriberBuffer, "chat-subscriber-buffer", "CHAT_SUBSCRIBER_BUFFER", eventstream.DefaultBuffer, "live events a Subscribe stream may have pending before it is cut as too slow")
	s.Float64(&c.RateLimit, "chat-rate-limit", "CHAT_RATE_LIMIT", DefaultRateLimit, "messages per second each user may send; 0 turns the limit off")
	s.Int(&c.RateBurst, "chat-rate-burst", "CHAT_RATE_BURST", DefaultRateBurst, "messages a user may send at once after a pause")
	s.String(&c.BannedPatternsFile, "chat-banned-patterns-file", "CHAT_BANNED_PATTERNS_FILE", "", "file of RE2 patterns refused in message content, one per line (# comments)")
	s.Int64(&c.RetentionMessages, "chat-retention-messages", "CHAT_RETENTION_MESSAGES", DefaultRetentionMessages, "newest messages each room keeps unless it sets its own; 0 keeps all")
	s.Duration(&c.RetentionAge, "chat-retention-age", "CHAT_RETENTION_AGE", 0, "age beyond which messages are deleted unless the room sets its own; 0 keeps them forever")
	s.Duration(&c.CompactInterval, "chat-compact-interval", "CHAT_COMPACT_INTERVAL", DefaultCompactInterval, "period of the compaction that applies message retention")
	s.Duration(&c.DedupWindow, "chat-dedup-window", "CHAT_DEDUP_WINDOW", store.DefaultDedupWindow, "how long a message's client_msg_id is remembered, so that a retry is not stored twice")
}
