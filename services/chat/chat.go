// Package chat is the chat service: rooms, memberships, messages and the
// event stream that carries room traffic to the edges, served over gRPC
// (switchboard.chat.v1 ChatService and ChatAdminService) from one bbolt file.
package chat

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc"

	chatv1 "switchboard.dev/api/gen/switchboard/chat/v1"
	"switchboard.dev/platform/backup"
	"switchboard.dev/platform/eventstream"
	"switchboard.dev/platform/grpcserver"
	"switchboard.dev/services/chat/internal/server"
	"switchboard.dev/services/chat/internal/store"
)

// DefaultAddr is the address the service listens on without a Listener.
const DefaultAddr = "127.0.0.1:9102"

// MaxStreamBatch is the most messages in one batch of a SendMessages
// stream; the edges batch no more.
const MaxStreamBatch = server.MaxStreamBatchItems

// Defaults of the settings whose zero value in Config means "off": the
// flags of RegisterFlags default to these.
const (
	// DefaultRateLimit is the messages per second a user may send.
	DefaultRateLimit = 10.0
	// DefaultRetentionMessages is how many messages a room keeps.
	DefaultRetentionMessages = 100000
)

// Defaults of the settings whose zero value in Config means the default.
const (
	// DefaultRateBurst is the burst of the rate limit.
	DefaultRateBurst = 100
	// DefaultCompactInterval is the period of the message compaction.
	DefaultCompactInterval = time.Minute
)

// Config configures Run. Zero values mean the defaults, except for
// RateLimit and RetentionMessages, whose zero turns the limit off (the
// flags of RegisterFlags default to DefaultRateLimit and
// DefaultRetentionMessages).
type Config struct {
	// Listener, when set, is served instead of listening on Addr.
	Listener net.Listener
	// Addr is the gRPC listen address; default DefaultAddr.
	Addr string
	// DataDir holds the bbolt file chat.db; it is created (0o700) when
	// missing. Required.
	DataDir string
	// DefaultMaxMembers is the member limit of rooms created with
	// max_members 0; default 10000.
	DefaultMaxMembers int
	// MaxContentChars bounds a message's content, in characters (runes);
	// default 4000.
	MaxContentChars int
	// EventRetention is how many of the newest events the log keeps for
	// Subscribe resumes; default 100000.
	EventRetention int
	// SubscriberBuffer is how many live events a Subscribe stream may have
	// pending before it is cut as too slow; default 8192.
	SubscriberBuffer int
	// RateLimit is how many messages per second each user may send
	// (SendMessage, and each item of SendMessageBatch; system messages are
	// not limited), in bursts of RateBurst. 0 means no limit; negative is
	// an error.
	RateLimit float64
	// RateBurst is the most messages a user may send at once after a
	// pause; default DefaultRateBurst.
	RateBurst int
	// BannedPatterns are RE2 regular expressions (package regexp); content
	// that any of them matches is refused as ERROR_REASON_INVALID_MESSAGE.
	// A pattern that does not compile makes Run fail.
	BannedPatterns []string
	// BannedPatternsFile, when set, names a file of more banned patterns,
	// one per line (surrounding spaces are trimmed: write \s or [ ] for a
	// space at either end); blank lines and lines starting with # are
	// ignored. Run reads it once, at start.
	BannedPatternsFile string
	// RetentionMessages is how many of its newest messages a room created
	// with retention_messages 0 keeps; 0 keeps all.
	RetentionMessages int64
	// RetentionAge is how long the messages of a room created with
	// retention_seconds 0 are kept; 0 keeps them forever.
	RetentionAge time.Duration
	// CompactInterval is the period of the background compaction that
	// applies the retention; default DefaultCompactInterval.
	CompactInterval time.Duration
	// DedupWindow is how long a message's client_msg_id is remembered, so
	// that a retry of it is answered with the message stored first;
	// default store.DefaultDedupWindow.
	DedupWindow time.Duration
	// Now is the service's clock (message times, rate limit, retention
	// age); nil means time.Now. For tests.
	Now func() time.Time
	// Logger receives the service's records; nil discards them.
	Logger *slog.Logger
}

// Run serves the chat service until ctx is done, then shuts down
// gracefully (Subscribe streams end with UNAVAILABLE so that edges resume)
// and closes the store. It returns nil after a shutdown caused by ctx.
func Run(ctx context.Context, cfg Config) (err error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.DataDir == "" {
		return fmt.Errorf("chat: DataDir is required")
	}
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.RateLimit < 0 || math.IsNaN(cfg.RateLimit) || math.IsInf(cfg.RateLimit, 0) {
		return fmt.Errorf("chat: RateLimit %v is not a rate (0 turns the limit off)", cfg.RateLimit)
	}
	if cfg.RateBurst < 0 || cfg.RetentionMessages < 0 || cfg.RetentionAge < 0 || cfg.DedupWindow < 0 {
		return fmt.Errorf("chat: RateBurst, RetentionMessages, RetentionAge and DedupWindow must not be negative")
	}
	if cfg.RateBurst == 0 {
		cfg.RateBurst = DefaultRateBurst
	}
	if cfg.CompactInterval <= 0 {
		cfg.CompactInterval = DefaultCompactInterval
	}
	banned, err := bannedPatterns(cfg.BannedPatterns, cfg.BannedPatternsFile)
	if err != nil {
		return fmt.Errorf("chat: %w", err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("chat: data dir: %w", err)
	}
	b := eventstream.New[*chatv1.Event](cfg.SubscriberBuffer)
	defer b.Close()
	st, err := store.Open(filepath.Join(cfg.DataDir, "chat.db"), store.Options{
		DefaultMaxMembers: cfg.DefaultMaxMembers,
		EventRetention:    cfg.EventRetention,
		Publish:           b.Publish,
		Logger:            log,
		Now:               cfg.Now,
		RetentionMessages: cfg.RetentionMessages,
		RetentionAge:      cfg.RetentionAge,
		CompactInterval:   cfg.CompactInterval,
		DedupWindow:       cfg.DedupWindow,
	})
	if err != nil {
		return fmt.Errorf("chat: %w", err)
	}
	defer func() {
		if cerr := st.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("chat: %w", cerr)
		}
	}()
	lis, err := grpcserver.Listen(cfg.Listener, cfg.Addr)
	if err != nil {
		return fmt.Errorf("chat: %w", err)
	}
	srv := server.New(st, b, server.Options{
		MaxContentChars: cfg.MaxContentChars,
		BannedPatterns:  banned,
		RateLimit:       cfg.RateLimit,
		RateBurst:       cfg.RateBurst,
		Now:             cfg.Now,
		Logger:          log,
	})
	err = grpcserver.Serve(ctx, lis, grpcserver.Options{Logger: log, BeforeStop: b.Close}, func(g *grpc.Server) {
		chatv1.RegisterChatServiceServer(g, srv)
		chatv1.RegisterChatAdminServiceServer(g, srv)
		backup.Register(g, st.WriteTo, backup.Options{FileName: "chat.db", SpoolDir: cfg.DataDir, Logger: log})
	})
	if err != nil {
		return fmt.Errorf("chat: %w", err)
	}
	return nil
}

// bannedPatterns compiles patterns and those of the file at path (when
// set): one per line without its surrounding spaces, blank lines and
// #-comments ignored.
func bannedPatterns(patterns []string, path string) ([]*regexp.Regexp, error) {
	all := patterns
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("banned patterns: %w", err)
		}
		all = slices.Clip(all) // appending must not write into the caller's slice
		for line := range strings.Lines(string(data)) {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			all = append(all, line)
		}
	}
	out := make([]*regexp.Regexp, 0, len(all))
	for _, p := range all {
		re, err := regexp.Compile(p)
		if err != nil {
			return nil, fmt.Errorf("banned pattern %q: %w", p, err)
		}
		out = append(out, re)
	}
	return out, nil
}
