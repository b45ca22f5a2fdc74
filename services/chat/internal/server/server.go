// Package server implements the chat service's gRPC API over the store and
// the broker. It validates requests and maps store and broker errors to
// gRPC statuses, in one place.
package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"regexp"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	chatv1 "switchboard.dev/api/gen/switchboard/chat/v1"
	"switchboard.dev/platform/eventstream"
	"switchboard.dev/services/chat/internal/ratelimit"
	"switchboard.dev/services/chat/internal/store"
)

// Domain is the google.rpc.ErrorInfo domain of the service's refusals.
const Domain = "chat.switchboard.dev"

// Defaults of Options.
const (
	DefaultMaxContentChars = 4000
	// MaxPage is the largest (and the default) ListMessages page.
	MaxPage = 100
	// DefaultRoomPage and MaxRoomPage are the default and largest
	// ListRooms page.
	DefaultRoomPage = 100
	MaxRoomPage     = 1000
	// MaxBatchItems bounds a SendMessageBatch.
	MaxBatchItems = 100
	// MaxStreamBatchItems bounds a batch of a SendMessages stream.
	MaxStreamBatchItems = 1000
	// maxStreamBatchesInFlight bounds the batches of one SendMessages
	// stream being stored at once; further ones wait to be read.
	maxStreamBatchesInFlight = 16
)

// Options configure a Server.
type Options struct {
	// MaxContentChars bounds a message's content in characters (runes);
	// 0 means DefaultMaxContentChars.
	MaxContentChars int
	// BannedPatterns refuse the content they match.
	BannedPatterns []*regexp.Regexp
	// RateLimit is how many messages per second a user may send through
	// ChatService, in bursts of RateBurst (0 means 1); 0 means no limit.
	RateLimit float64
	RateBurst int
	// Now is the rate limiter's clock; nil means time.Now.
	Now func() time.Time
	// Logger receives internal errors; nil discards them.
	Logger *slog.Logger
}

// Server implements ChatService and ChatAdminService.
type Server struct {
	chatv1.UnimplementedChatServiceServer
	chatv1.UnimplementedChatAdminServiceServer

	store      *store.Store
	broker     *eventstream.Broker[*chatv1.Event]
	maxContent int
	banned     []*regexp.Regexp
	limiter    *ratelimit.Limiter
	log        *slog.Logger
}

var (
	_ chatv1.ChatServiceServer      = (*Server)(nil)
	_ chatv1.ChatAdminServiceServer = (*Server)(nil)
)

// New returns a Server over st whose Subscribe streams come from b.
func New(st *store.Store, b *eventstream.Broker[*chatv1.Event], opts Options) *Server {
	s := &Server{
		store:      st,
		broker:     b,
		maxContent: opts.MaxContentChars,
		banned:     opts.BannedPatterns,
		limiter:    ratelimit.New(opts.RateLimit, opts.RateBurst, opts.Now),
		log:        opts.Logger,
	}
	if s.maxContent <= 0 {
		s.maxContent = DefaultMaxContentChars
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s
}

// JoinRoom implements ChatService.
func (s *Server) JoinRoom(ctx context.Context, req *chatv1.JoinRoomRequest) (*chatv1.JoinRoomResponse, error) {
	if err := cmp.Or(positive("room_id", req.GetRoomId()), positive("user_id", req.GetUserId())); err != nil {
		return nil, err
	}
	res, err := s.store.Join(ctx, req.GetRoomId(), req.GetUserId(), req.GetNickname(), req.GetOrigin())
	if err != nil {
		return nil, s.toStatus(ctx, "JoinRoom", err)
	}
	// The member list is a snapshot read after the commit: it includes the
	// joiner unless they left in the meantime.
	members, err := s.store.Members(ctx, req.GetRoomId())
	if err != nil {
		return nil, s.toStatus(ctx, "JoinRoom", err)
	}
	return &chatv1.JoinRoomResponse{Room: res.Room, Joined: res.Joined, Members: members}, nil
}

// LeaveRoom implements ChatService.
func (s *Server) LeaveRoom(ctx context.Context, req *chatv1.LeaveRoomRequest) (*chatv1.LeaveRoomResponse, error) {
	if err := cmp.Or(positive("room_id", req.GetRoomId()), positive("user_id", req.GetUserId())); err != nil {
		return nil, err
	}
	res, err := s.store.Leave(ctx, req.GetRoomId(), req.GetUserId(), req.GetOrigin())
	if err != nil {
		return nil, s.toStatus(ctx, "LeaveRoom", err)
	}
	return &chatv1.LeaveRoomResponse{Left: res.Left, MemberCount: res.MemberCount}, nil
}

// SendMessage implements ChatService.
func (s *Server) SendMessage(ctx context.Context, req *chatv1.SendMessageRequest) (*chatv1.SendMessageResponse, error) {
	if err := cmp.Or(positive("room_id", req.GetRoomId()), positive("user_id", req.GetUserId())); err != nil {
		return nil, err
	}
	if err := s.admit(req); err != nil {
		return nil, s.toStatus(ctx, "SendMessage", err)
	}
	res, err := s.store.SendBatch(ctx, []store.NewMessage{newMessage(req)})
	if err == nil {
		err = res[0].Err
	}
	if err != nil {
		return nil, s.toStatus(ctx, "SendMessage", err)
	}
	return &chatv1.SendMessageResponse{Message: res[0].Message, Duplicate: res[0].Duplicate}, nil
}

// SendMessageBatch implements ChatService. Items with a non-positive
// room_id or user_id make the whole request invalid, like an empty batch
// or one of more than MaxBatchItems: they are malformed requests, not
// refusals of one message.
func (s *Server) SendMessageBatch(ctx context.Context, req *chatv1.SendMessageBatchRequest) (*chatv1.SendMessageBatchResponse, error) {
	results, err := s.sendItems(ctx, "SendMessageBatch", req.GetItems(), MaxBatchItems)
	if err != nil {
		return nil, err
	}
	return &chatv1.SendMessageBatchResponse{Results: results}, nil
}

// SendMessages implements ChatService: it reads batches while earlier
// ones are being stored (at most maxStreamBatchesInFlight at once), and
// answers each once stored.
func (s *Server) SendMessages(stream chatv1.ChatService_SendMessagesServer) error {
	ctx := stream.Context()
	var (
		sendMu  sync.Mutex
		sendErr error
		wg      sync.WaitGroup
	)
	slots := make(chan struct{}, maxStreamBatchesInFlight)
	defer wg.Wait()
	for {
		req, err := stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		}
		wg.Go(func() {
			defer func() { <-slots }()
			resp := &chatv1.SendMessagesResponse{Id: req.GetId()}
			results, err := s.sendItems(ctx, "SendMessages", req.GetItems(), MaxStreamBatchItems)
			if err != nil {
				st := status.Convert(err)
				resp.Code, resp.Message = int32(st.Code()), st.Message()
			}
			resp.Results = results
			sendMu.Lock()
			defer sendMu.Unlock()
			if sendErr == nil {
				sendErr = stream.Send(resp)
			}
		})
	}
}

// sendItems checks and stores the items of a batch of at most max, each
// as SendMessage would, the accepted ones in one commit; each item gets
// its result. An error (a status) is for the whole batch.
func (s *Server) sendItems(ctx context.Context, rpc string, items []*chatv1.SendMessageRequest, max int) ([]*chatv1.SendMessageResult, error) {
	if len(items) == 0 || len(items) > max {
		return nil, status.Errorf(codes.InvalidArgument, "a batch holds 1 to %d items, not %d", max, len(items))
	}
	for i, it := range items {
		if err := cmp.Or(positive(fmt.Sprintf("items[%d].room_id", i), it.GetRoomId()), positive(fmt.Sprintf("items[%d].user_id", i), it.GetUserId())); err != nil {
			return nil, err
		}
	}
	results := make([]*chatv1.SendMessageResult, len(items))
	var (
		accepted []store.NewMessage
		at       []int // accepted[j] is items[at[j]]
	)
	for i, it := range items {
		if err := s.admit(it); err != nil {
			results[i] = s.itemRefusal(ctx, err)
			continue
		}
		accepted = append(accepted, newMessage(it))
		at = append(at, i)
	}
	if len(accepted) > 0 {
		// One op: the accepted items share one commit, ids in item order.
		stored, err := s.store.SendBatch(ctx, accepted)
		if err != nil {
			return nil, s.toStatus(ctx, rpc, err)
		}
		for j, r := range stored {
			if r.Err != nil {
				results[at[j]] = s.itemRefusal(ctx, r.Err)
			} else {
				results[at[j]] = &chatv1.SendMessageResult{Message: r.Message, Duplicate: r.Duplicate}
			}
		}
	}
	return results, nil
}

// admit applies the checks a message passes before the store: its content
// (errInvalid), then the sender's rate limit (errRateLimited), so that an
// invalid message costs no token.
func (s *Server) admit(req *chatv1.SendMessageRequest) error {
	if err := ValidateContent(req.GetContent(), req.GetMessageType(), s.maxContent); err != nil {
		return invalidError{err.Error()}
	}
	if n := len(req.GetClientMsgId()); n > store.MaxClientMsgIDBytes {
		return invalidError{fmt.Sprintf("client_msg_id is %d bytes, more than %d", n, store.MaxClientMsgIDBytes)}
	}
	if err := s.checkBanned(req.GetContent()); err != nil {
		return err
	}
	if !s.limiter.Allow(req.GetUserId()) {
		return errRateLimited
	}
	return nil
}

// checkBanned refuses content that a banned pattern matches.
func (s *Server) checkBanned(content string) error {
	for _, re := range s.banned {
		if re.MatchString(content) {
			return invalidError{"content is not allowed"}
		}
	}
	return nil
}

func newMessage(req *chatv1.SendMessageRequest) store.NewMessage {
	return store.NewMessage{
		RoomID:      req.GetRoomId(),
		UserID:      req.GetUserId(),
		Nickname:    req.GetNickname(),
		Content:     req.GetContent(),
		Type:        req.GetMessageType(),
		Origin:      req.GetOrigin(),
		ClientMsgID: req.GetClientMsgId(),
	}
}

// itemRefusal is the result of a refused batch item. An error that is no
// refusal (an internal one) is logged and reported without its text.
func (s *Server) itemRefusal(ctx context.Context, err error) *chatv1.SendMessageResult {
	_, reason, msg, ok := refusalOf("SendMessageBatch", err)
	if !ok {
		s.log.ErrorContext(ctx, "internal error", "rpc", "SendMessageBatch", "err", err)
		return &chatv1.SendMessageResult{ErrorMessage: "internal error"}
	}
	return &chatv1.SendMessageResult{ErrorReason: reason, ErrorMessage: msg}
}

// ListMessages implements ChatService.
func (s *Server) ListMessages(ctx context.Context, req *chatv1.ListMessagesRequest) (*chatv1.ListMessagesResponse, error) {
	if err := cmp.Or(positive("room_id", req.GetRoomId()), positive("user_id", req.GetUserId())); err != nil {
		return nil, err
	}
	q, err := messageQuery(req.GetRoomId(), req.GetUserId(), req.AfterId, req.GetBeforeId(), req.GetLimit())
	if err != nil {
		return nil, err
	}
	msgs, more, err := s.store.ListMessages(ctx, q)
	if err != nil {
		return nil, s.toStatus(ctx, "ListMessages", err)
	}
	return &chatv1.ListMessagesResponse{Messages: msgs, HasMore: more}, nil
}

// messageQuery validates a history page request of user (0: the backend).
// A set after (0 included) reads forward from it.
func messageQuery(room, user int64, after *int64, before int64, limit int32) (store.MessageQuery, error) {
	if (after != nil && *after < 0) || before < 0 || limit < 0 {
		return store.MessageQuery{}, status.Error(codes.InvalidArgument, "after_id, before_id and limit must not be negative")
	}
	if limit == 0 || limit > MaxPage {
		limit = MaxPage
	}
	q := store.MessageQuery{RoomID: room, UserID: user, BeforeID: before, Limit: int(limit)}
	if after != nil {
		q.AfterID, q.Forward = *after, true
	}
	return q, nil
}

// ListUserRooms implements ChatService.
func (s *Server) ListUserRooms(ctx context.Context, req *chatv1.ListUserRoomsRequest) (*chatv1.ListUserRoomsResponse, error) {
	if err := positive("user_id", req.GetUserId()); err != nil {
		return nil, err
	}
	ids, err := s.store.UserRooms(ctx, req.GetUserId())
	if err != nil {
		return nil, s.toStatus(ctx, "ListUserRooms", err)
	}
	return &chatv1.ListUserRoomsResponse{RoomIds: ids}, nil
}

// ListBlocks implements ChatService.
func (s *Server) ListBlocks(ctx context.Context, req *chatv1.ListBlocksRequest) (*chatv1.ListBlocksResponse, error) {
	if err := positive("user_id", req.GetUserId()); err != nil {
		return nil, err
	}
	ids, err := s.store.Blocks(ctx, req.GetUserId())
	if err != nil {
		return nil, s.toStatus(ctx, "ListBlocks", err)
	}
	return &chatv1.ListBlocksResponse{BlockedUserIds: ids}, nil
}

// ListRoomPeers implements ChatService.
func (s *Server) ListRoomPeers(ctx context.Context, req *chatv1.ListRoomPeersRequest) (*chatv1.ListRoomPeersResponse, error) {
	if err := positive("user_id", req.GetUserId()); err != nil {
		return nil, err
	}
	ids, err := s.store.RoomPeers(ctx, req.GetUserId())
	if err != nil {
		return nil, s.toStatus(ctx, "ListRoomPeers", err)
	}
	return &chatv1.ListRoomPeersResponse{UserIds: ids}, nil
}

// Subscribe implements ChatService.
func (s *Server) Subscribe(req *chatv1.SubscribeRequest, stream chatv1.ChatService_SubscribeServer) error {
	ctx := stream.Context()
	s.log.Info("subscribe", "edge_id", req.GetEdgeId(), "after_seq", req.GetAfterSeq())
	err := s.broker.Stream(ctx, s.store, req.AfterSeq, func(b eventstream.Batch[*chatv1.Event]) error {
		return stream.Send(&chatv1.SubscribeResponse{Events: b.Events, HeadSeq: b.Head, Truncated: b.Truncated})
	})
	s.log.Info("subscribe ended", "edge_id", req.GetEdgeId(), "reason", err)
	return eventstream.StreamError(ctx, err, func(err error) error { return s.toStatus(ctx, "Subscribe", err) })
}

// CreateRoom implements ChatAdminService.
func (s *Server) CreateRoom(ctx context.Context, req *chatv1.CreateRoomRequest) (*chatv1.CreateRoomResponse, error) {
	if err := positive("id", req.GetId()); err != nil {
		return nil, err
	}
	if req.GetMaxMembers() < 0 || req.GetRetentionMessages() < 0 || req.GetRetentionSeconds() < 0 {
		return nil, status.Error(codes.InvalidArgument, "max_members, retention_messages and retention_seconds must not be negative")
	}
	room, err := s.store.CreateRoom(ctx, store.NewRoom{
		ID:                req.GetId(),
		Name:              req.GetName(),
		MaxMembers:        req.GetMaxMembers(),
		InviteOnly:        req.GetInviteOnly(),
		RetentionMessages: req.GetRetentionMessages(),
		RetentionSeconds:  req.GetRetentionSeconds(),
	})
	if err != nil {
		return nil, s.toStatus(ctx, "CreateRoom", err)
	}
	return &chatv1.CreateRoomResponse{Room: room}, nil
}

// GetRoom implements ChatAdminService.
func (s *Server) GetRoom(ctx context.Context, req *chatv1.GetRoomRequest) (*chatv1.GetRoomResponse, error) {
	if err := positive("id", req.GetId()); err != nil {
		return nil, err
	}
	room, err := s.store.GetRoom(ctx, req.GetId())
	if err != nil {
		return nil, s.toStatus(ctx, "GetRoom", err)
	}
	return &chatv1.GetRoomResponse{Room: room}, nil
}

// InviteMember implements ChatAdminService.
func (s *Server) InviteMember(ctx context.Context, req *chatv1.InviteMemberRequest) (*chatv1.InviteMemberResponse, error) {
	if err := cmp.Or(positive("room_id", req.GetRoomId()), positive("user_id", req.GetUserId())); err != nil {
		return nil, err
	}
	if err := s.store.Invite(ctx, req.GetRoomId(), req.GetUserId()); err != nil {
		return nil, s.toStatus(ctx, "InviteMember", err)
	}
	return &chatv1.InviteMemberResponse{}, nil
}

// ListRooms implements ChatAdminService.
func (s *Server) ListRooms(ctx context.Context, req *chatv1.ListRoomsRequest) (*chatv1.ListRoomsResponse, error) {
	if req.GetAfterId() < 0 || req.GetLimit() < 0 {
		return nil, status.Error(codes.InvalidArgument, "after_id and limit must not be negative")
	}
	limit := int(req.GetLimit())
	if limit == 0 {
		limit = DefaultRoomPage
	}
	limit = min(limit, MaxRoomPage)
	rooms, more, err := s.store.ListRooms(ctx, req.GetAfterId(), limit)
	if err != nil {
		return nil, s.toStatus(ctx, "ListRooms", err)
	}
	return &chatv1.ListRoomsResponse{Rooms: rooms, HasMore: more}, nil
}

// DeleteRoom implements ChatAdminService.
func (s *Server) DeleteRoom(ctx context.Context, req *chatv1.DeleteRoomRequest) (*chatv1.DeleteRoomResponse, error) {
	if err := positive("id", req.GetId()); err != nil {
		return nil, err
	}
	if err := s.store.DeleteRoom(ctx, req.GetId()); err != nil {
		return nil, s.toStatus(ctx, "DeleteRoom", err)
	}
	return &chatv1.DeleteRoomResponse{}, nil
}

// BanMember implements ChatAdminService.
func (s *Server) BanMember(ctx context.Context, req *chatv1.BanMemberRequest) (*chatv1.BanMemberResponse, error) {
	if err := cmp.Or(positive("room_id", req.GetRoomId()), positive("user_id", req.GetUserId())); err != nil {
		return nil, err
	}
	if err := s.store.Ban(ctx, req.GetRoomId(), req.GetUserId()); err != nil {
		return nil, s.toStatus(ctx, "BanMember", err)
	}
	return &chatv1.BanMemberResponse{}, nil
}

// UnbanMember implements ChatAdminService.
func (s *Server) UnbanMember(ctx context.Context, req *chatv1.UnbanMemberRequest) (*chatv1.UnbanMemberResponse, error) {
	if err := cmp.Or(positive("room_id", req.GetRoomId()), positive("user_id", req.GetUserId())); err != nil {
		return nil, err
	}
	if err := s.store.Unban(ctx, req.GetRoomId(), req.GetUserId()); err != nil {
		return nil, s.toStatus(ctx, "UnbanMember", err)
	}
	return &chatv1.UnbanMemberResponse{}, nil
}

// KickMember implements ChatAdminService.
func (s *Server) KickMember(ctx context.Context, req *chatv1.KickMemberRequest) (*chatv1.KickMemberResponse, error) {
	if err := cmp.Or(positive("room_id", req.GetRoomId()), positive("user_id", req.GetUserId())); err != nil {
		return nil, err
	}
	if err := s.store.Kick(ctx, req.GetRoomId(), req.GetUserId()); err != nil {
		return nil, s.toStatus(ctx, "KickMember", err)
	}
	return &chatv1.KickMemberResponse{}, nil
}

// BlockUser implements ChatAdminService. Blocking an already blocked user
// is not an error and publishes nothing.
func (s *Server) BlockUser(ctx context.Context, req *chatv1.BlockUserRequest) (*chatv1.BlockUserResponse, error) {
	if err := blockPair(req.GetUserId(), req.GetBlockedUserId()); err != nil {
		return nil, err
	}
	if _, err := s.store.Block(ctx, req.GetUserId(), req.GetBlockedUserId()); err != nil {
		return nil, s.toStatus(ctx, "BlockUser", err)
	}
	return &chatv1.BlockUserResponse{}, nil
}

// UnblockUser implements ChatAdminService. Unblocking a user who is not
// blocked is not an error and publishes nothing.
func (s *Server) UnblockUser(ctx context.Context, req *chatv1.UnblockUserRequest) (*chatv1.UnblockUserResponse, error) {
	if err := blockPair(req.GetUserId(), req.GetBlockedUserId()); err != nil {
		return nil, err
	}
	if _, err := s.store.Unblock(ctx, req.GetUserId(), req.GetBlockedUserId()); err != nil {
		return nil, s.toStatus(ctx, "UnblockUser", err)
	}
	return &chatv1.UnblockUserResponse{}, nil
}

// blockPair refuses ids that are not positive and a user blocking themself.
func blockPair(user, blocked int64) error {
	if err := cmp.Or(positive("user_id", user), positive("blocked_user_id", blocked)); err != nil {
		return err
	}
	if user == blocked {
		return status.Error(codes.InvalidArgument, "a user cannot block themself")
	}
	return nil
}

// ListRoomMessages implements ChatAdminService.
func (s *Server) ListRoomMessages(ctx context.Context, req *chatv1.ListRoomMessagesRequest) (*chatv1.ListRoomMessagesResponse, error) {
	if err := positive("room_id", req.GetRoomId()); err != nil {
		return nil, err
	}
	q, err := messageQuery(req.GetRoomId(), 0, req.AfterId, req.GetBeforeId(), req.GetLimit())
	if err != nil {
		return nil, err
	}
	msgs, more, err := s.store.ListMessages(ctx, q)
	if err != nil {
		return nil, s.toStatus(ctx, "ListRoomMessages", err)
	}
	return &chatv1.ListRoomMessagesResponse{Messages: msgs, HasMore: more}, nil
}

// PostSystemMessage implements ChatAdminService. System messages are not
// rate-limited; their content follows the rules of any text.
func (s *Server) PostSystemMessage(ctx context.Context, req *chatv1.PostSystemMessageRequest) (*chatv1.PostSystemMessageResponse, error) {
	if err := positive("room_id", req.GetRoomId()); err != nil {
		return nil, err
	}
	if err := validateText(req.GetContent(), s.maxContent); err != nil {
		return nil, s.toStatus(ctx, "PostSystemMessage", invalidError{err.Error()})
	}
	if err := s.checkBanned(req.GetContent()); err != nil {
		return nil, s.toStatus(ctx, "PostSystemMessage", err)
	}
	msg, err := s.store.Send(ctx, store.NewMessage{
		RoomID:  req.GetRoomId(),
		Content: req.GetContent(),
		Type:    chatv1.MessageType_MESSAGE_TYPE_SYSTEM,
	})
	if err != nil {
		return nil, s.toStatus(ctx, "PostSystemMessage", err)
	}
	return &chatv1.PostSystemMessageResponse{Message: msg}, nil
}

// ValidateContent reports why content of type t is not acceptable through
// ChatService, or nil: it must be non-empty valid UTF-8 of at most max
// runes without control characters other than newline and tab, of a type
// other than UNSPECIFIED and SYSTEM; images and files are https URLs.
func ValidateContent(content string, t chatv1.MessageType, max int) error {
	switch t {
	case chatv1.MessageType_MESSAGE_TYPE_TEXT, chatv1.MessageType_MESSAGE_TYPE_EMOJI,
		chatv1.MessageType_MESSAGE_TYPE_IMAGE, chatv1.MessageType_MESSAGE_TYPE_FILE:
	default:
		return fmt.Errorf("message_type %v is not accepted", t)
	}
	if err := validateText(content, max); err != nil {
		return err
	}
	if t == chatv1.MessageType_MESSAGE_TYPE_IMAGE || t == chatv1.MessageType_MESSAGE_TYPE_FILE {
		u, err := url.Parse(content)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return errors.New("content is not an https URL")
		}
	}
	return nil
}

// validateText reports why content is not acceptable text: it must be
// non-empty valid UTF-8 of at most max runes without control characters
// other than newline and tab.
func validateText(content string, max int) error {
	if content == "" {
		return errors.New("content is empty")
	}
	if !utf8.ValidString(content) {
		return errors.New("content is not valid UTF-8")
	}
	if n := utf8.RuneCountInString(content); n > max {
		return fmt.Errorf("content has %d characters, more than %d", n, max)
	}
	for _, r := range content {
		if unicode.IsControl(r) && r != '\n' && r != '\t' {
			return errors.New("content has control characters")
		}
	}
	return nil
}

// positive refuses an id that is not positive.
func positive(name string, id int64) error {
	if id <= 0 {
		return status.Errorf(codes.InvalidArgument, "%s must be positive", name)
	}
	return nil
}

// Refusals decided by the server itself, mapped by refusalOf like the
// store's.
var errRateLimited = errors.New("rate limited")

// invalidError refuses a message's content or type; its text is for people.
type invalidError struct{ msg string }

func (e invalidError) Error() string { return e.msg }

// toStatus maps an error to the RPC's status. Refusals carry an ErrorInfo;
// anything else is logged and answered as Internal without its text.
func (s *Server) toStatus(ctx context.Context, rpc string, err error) error {
	if code, reason, msg, ok := refusalOf(rpc, err); ok {
		return refusal(code, reason, msg)
	}
	switch {
	case errors.Is(err, store.ErrClosed):
		return status.Error(codes.Unavailable, "service shutting down")
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "canceled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	}
	s.log.ErrorContext(ctx, "internal error", "rpc", rpc, "err", err)
	return status.Error(codes.Internal, "internal error")
}

// refusalOf maps a refusal to its status code, ErrorReason and message for
// people; ok is false for errors that are not refusals. It is the one
// mapping of refusals, for statuses and for batch results alike.
func refusalOf(rpc string, err error) (code codes.Code, reason chatv1.ErrorReason, msg string, ok bool) {
	var invalid invalidError
	switch {
	case errors.As(err, &invalid):
		return codes.InvalidArgument, chatv1.ErrorReason_ERROR_REASON_INVALID_MESSAGE, invalid.msg, true
	case errors.Is(err, errRateLimited):
		return codes.ResourceExhausted, chatv1.ErrorReason_ERROR_REASON_RATE_LIMITED, "sending too fast; slow down", true
	case errors.Is(err, store.ErrRoomNotFound):
		return codes.NotFound, chatv1.ErrorReason_ERROR_REASON_ROOM_NOT_FOUND, "room not found", true
	case errors.Is(err, store.ErrNotMember):
		// A user acting on a room they are not in is denied; an operator
		// kicking a non-member asks for a state that does not hold.
		if rpc == "KickMember" {
			return codes.FailedPrecondition, chatv1.ErrorReason_ERROR_REASON_NOT_MEMBER, "the user is not a member of the room", true
		}
		return codes.PermissionDenied, chatv1.ErrorReason_ERROR_REASON_NOT_MEMBER, "not a member of the room", true
	case errors.Is(err, store.ErrNotInvited):
		return codes.PermissionDenied, chatv1.ErrorReason_ERROR_REASON_NOT_INVITED, "the room is invite-only", true
	case errors.Is(err, store.ErrBanned):
		return codes.PermissionDenied, chatv1.ErrorReason_ERROR_REASON_USER_BANNED, "banned from the room", true
	case errors.Is(err, store.ErrRoomFull):
		return codes.ResourceExhausted, chatv1.ErrorReason_ERROR_REASON_ROOM_FULL, "the room is full", true
	case errors.Is(err, store.ErrRoomExists):
		return codes.AlreadyExists, chatv1.ErrorReason_ERROR_REASON_ROOM_EXISTS, "a room with that id exists", true
	}
	return codes.Unknown, chatv1.ErrorReason_ERROR_REASON_UNSPECIFIED, "", false
}

// refusal is a status with an ErrorInfo whose reason is the ErrorReason name.
func refusal(code codes.Code, reason chatv1.ErrorReason, msg string) error {
	st, err := status.New(code, msg).WithDetails(&errdetails.ErrorInfo{Reason: reason.String(), Domain: Domain})
	if err != nil {
		return status.Error(code, msg)
	}
	return st.Err()
}
