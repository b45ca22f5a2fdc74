package protocol

import (
	"bytes"
	"strconv"
	"time"
	"unicode/utf8"

	chatv1 "switchboard.dev/api/gen/switchboard/chat/v1"
)

// TimeLayout is the envelope time format: ISO-8601 UTC with milliseconds.
const TimeLayout = "2006-01-02T15:04:05.000Z"

// Header is what every server envelope carries besides its data: the time
// it was stamped and its seq_id, either a reply's echoed SeqID or a
// server-originated SeqPrefix followed by SeqNum.
type Header struct {
	// Time stamps the envelope.
	Time time.Time
	// SeqID is the echoed client seq_id of a reply.
	SeqID string
	// SeqPrefix, when set, makes the seq_id SeqPrefix+SeqNum (server-originated).
	SeqPrefix string
	// SeqNum is the server counter of a server-originated envelope.
	SeqNum uint64
}

// Participant is an entry of JOIN_ROOM_SUCCESS's online_participants.
type Participant struct {
	// UserID is the participant's user id.
	UserID int64
	// Nickname is the participant's nickname.
	Nickname string
}

// Connected is the data of CONNECT_SUCCESS.
type Connected struct {
	// UserID is the authenticated user.
	UserID int64
	// SessionID names the session.
	SessionID string
	// Nickname is the user's nickname.
	Nickname string
	// ExpiresAt is when the token expires; zero omits it.
	ExpiresAt time.Time
	// HeartbeatInterval is sent in whole seconds.
	HeartbeatInterval time.Duration
	// Compression, when set, confirms the compression the session gets (added).
	Compression string
}

func begin(b []byte, action string) []byte {
	b = append(b, `{"action":"`...)
	b = append(b, action...) // actions are constants without escapes
	return append(b, `","data":{`...)
}

// tailKey starts the part of every server envelope after its data.
const tailKey = `,"timestamp":`

// DataBounds returns where the data object of line, a server envelope made
// by this package, starts and ends. ok is false for any other input. The
// search is safe because the data comes after the constant action, and the
// only unescaped `,"timestamp":` of an envelope is the one after its data
// (no data object has a timestamp key).
func DataBounds(line []byte) (start, stop int, ok bool) {
	const head = `{"action":"`
	if !bytes.HasPrefix(line, []byte(head)) {
		return 0, 0, false
	}
	i := bytes.Index(line[len(head):], []byte(`","data":`))
	if i < 0 {
		return 0, 0, false
	}
	start = len(head) + i + len(`","data":`)
	stop = bytes.LastIndex(line, []byte(tailKey))
	if stop <= start {
		return 0, 0, false
	}
	return start, stop, true
}

// Data returns the data object of a server envelope made by this package (a
// sub-slice of line, sharing its bytes), or nil.
func Data(line []byte) []byte {
	start, stop, ok := DataBounds(line)
	if !ok {
		return nil
	}
	return line[start:stop]
}

func end(b []byte, h Header) []byte {
	b = append(b, '}')
	b = append(b, tailKey...)
	b = AppendTime(b, h.Time)
	b = append(b, `,"seq_id":`...)
	if h.SeqPrefix != "" {
		b = append(b, '"')
		b = appendEscaped(b, h.SeqPrefix)
		b = strconv.AppendUint(b, h.SeqNum, 10)
		b = append(b, '"')
	} else {
		b = AppendString(b, h.SeqID)
	}
	return append(b, "}\n"...)
}

// AppendTime appends t as a quoted TimeLayout string.
func AppendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, TimeLayout)
	return append(b, '"')
}

// AppendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD,
// as with encoding/json.
func AppendString(b []byte, s string) []byte {
	b = append(b, '"')
	b = appendEscaped(b, s)
	return append(b, '"')
}

const hexDigits = "0123456789abcdef"

func appendEscaped(b []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' { // JavaScript line terminators
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(b, s[start:]...)
}

func key(b []byte, k string) []byte {
	b = append(b, '"')
	b = append(b, k...)
	return append(b, '"', ':')
}

func appendInt(b []byte, k string, v int64) []byte {
	return strconv.AppendInt(key(b, k), v, 10)
}

// MessageTypeName is the wire name of a message type.
func MessageTypeName(t chatv1.MessageType) string {
	switch t {
	case chatv1.MessageType_MESSAGE_TYPE_IMAGE:
		return "image"
	case chatv1.MessageType_MESSAGE_TYPE_FILE:
		return "file"
	case chatv1.MessageType_MESSAGE_TYPE_EMOJI:
		return "emoji"
	case chatv1.MessageType_MESSAGE_TYPE_SYSTEM:
		return "system"
	default:
		return "text"
	}
}

// ParseMessageType maps a wire name to a message type; "" is text.
func ParseMessageType(s string) (chatv1.MessageType, bool) {
	switch s {
	case "", "text":
		return chatv1.MessageType_MESSAGE_TYPE_TEXT, true
	case "image":
		return chatv1.MessageType_MESSAGE_TYPE_IMAGE, true
	case "file":
		return chatv1.MessageType_MESSAGE_TYPE_FILE, true
	case "emoji":
		return chatv1.MessageType_MESSAGE_TYPE_EMOJI, true
	case "system":
		return chatv1.MessageType_MESSAGE_TYPE_SYSTEM, true
	}
	return chatv1.MessageType_MESSAGE_TYPE_UNSPECIFIED, false
}

// appendMessageFields appends the fields of the message model (without
// braces): message_id, chatroom_id, user_id, nickname, content,
// message_type, created_at.
func appendMessageFields(b []byte, m *chatv1.Message) []byte {
	b = appendInt(b, "message_id", m.GetId())
	b = appendInt(append(b, ','), "chatroom_id", m.GetRoomId())
	b = appendInt(append(b, ','), "user_id", m.GetUserId())
	b = AppendString(key(append(b, ','), "nickname"), m.GetNickname())
	b = AppendString(key(append(b, ','), "content"), m.GetContent())
	b = AppendString(key(append(b, ','), "message_type"), MessageTypeName(m.GetMessageType()))
	b = key(append(b, ','), "created_at")
	b = AppendTime(b, m.GetCreatedAt().AsTime())
	if id := m.GetClientMsgId(); id != "" {
		b = AppendString(key(append(b, ','), "client_msg_id"), id)
	}
	return b
}

// AppendNewMessage appends a NEW_MESSAGE envelope.
func AppendNewMessage(b []byte, h Header, m *chatv1.Message) []byte {
	b = begin(b, ActionNewMessage)
	b = appendMessageFields(b, m)
	return end(b, h)
}

// AppendAck appends the NEW_MESSAGE that acknowledges a sender's message:
// NEW_MESSAGE, with "duplicate":true (added) when the message had been
// stored before under its client_msg_id.
func AppendAck(b []byte, h Header, m *chatv1.Message, duplicate bool) []byte {
	b = begin(b, ActionNewMessage)
	b = appendMessageFields(b, m)
	if duplicate {
		b = append(b, `,"duplicate":true`...)
	}
	return end(b, h)
}

// AppendBatchMessages appends a BATCH_MESSAGES envelope of a room's history
// (the replay after JOIN_ROOM's since_message_id).
func AppendBatchMessages(b []byte, h Header, roomID int64, msgs []*chatv1.Message, hasMore bool) []byte {
	return appendHistory(b, h, ActionBatchMessages, roomID, msgs, hasMore)
}

// AppendMessages appends a MESSAGES envelope, the reply to GET_MESSAGES
// (added).
func AppendMessages(b []byte, h Header, roomID int64, msgs []*chatv1.Message, hasMore bool) []byte {
	return appendHistory(b, h, ActionMessages, roomID, msgs, hasMore)
}

func appendHistory(b []byte, h Header, action string, roomID int64, msgs []*chatv1.Message, hasMore bool) []byte {
	b = begin(b, action)
	b = appendInt(b, "chatroom_id", roomID)
	b = append(b, `,"messages":[`...)
	for i, m := range msgs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '{')
		b = appendMessageFields(b, m)
		b = append(b, '}')
	}
	b = append(b, `],"has_more":`...)
	b = strconv.AppendBool(b, hasMore)
	return end(b, h)
}

// HistorySize estimates the bytes of a history envelope of msgs, to size
// its buffer once.
func HistorySize(msgs []*chatv1.Message) int {
	n := 256
	for _, m := range msgs {
		n += 192 + len(m.GetNickname()) + len(m.GetContent()) + len(m.GetClientMsgId())
	}
	return n
}

// AppendCoalesced appends a BATCH_MESSAGES envelope of coalesced broadcast
// messages (added): messages are Message objects as encoded once per event
// (see Data), possibly of several rooms, so the envelope has no chatroom_id.
func AppendCoalesced(b []byte, h Header, messages [][]byte) []byte {
	b = begin(b, ActionBatchMessages)
	b = append(b, `"messages":[`...)
	for i, m := range messages {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, m...)
	}
	b = append(b, ']')
	return end(b, h)
}

// AppendMember appends USER_JOINED or USER_LEFT (action) for a membership
// change. A non-empty reason (USER_LEFT's "left", "kicked" or "banned",
// added) is included.
func AppendMember(b []byte, h Header, action string, roomID, userID int64, nickname string, count int32, reason string) []byte {
	b = begin(b, action)
	b = appendInt(b, "chatroom_id", roomID)
	b = appendInt(append(b, ','), "user_id", userID)
	b = AppendString(key(append(b, ','), "nickname"), nickname)
	b = appendInt(append(b, ','), "participants_count", int64(count))
	if reason != "" {
		b = AppendString(key(append(b, ','), "reason"), reason)
	}
	return end(b, h)
}

// LeaveReasonName is the wire name of a leave reason; an unspecified reason
// is an ordinary leave.
func LeaveReasonName(r chatv1.LeaveReason) string {
	switch r {
	case chatv1.LeaveReason_LEAVE_REASON_KICKED:
		return "kicked"
	case chatv1.LeaveReason_LEAVE_REASON_BANNED:
		return "banned"
	default:
		return "left"
	}
}

// AppendRoomDeleted appends a ROOM_DELETED envelope (added).
func AppendRoomDeleted(b []byte, h Header, roomID int64) []byte {
	b = begin(b, ActionRoomDeleted)
	b = appendInt(b, "chatroom_id", roomID)
	return end(b, h)
}

// AppendError appends an ERROR envelope answering the request (origSeqID,
// origAction); both may be empty when the request could not be read.
func AppendError(b []byte, h Header, code, origSeqID, origAction string) []byte {
	return AppendErrorMessage(b, h, code, Message(code), origSeqID, origAction)
}

// AppendErrorMessage appends an ERROR envelope like AppendError with a
// message of the caller's: the code's text and what it refused, such as
// the field at fault.
func AppendErrorMessage(b []byte, h Header, code, message, origSeqID, origAction string) []byte {
	b = begin(b, ActionError)
	b = AppendString(key(b, "error_code"), code)
	b = AppendString(key(append(b, ','), "message"), message)
	b = AppendString(key(append(b, ','), "original_seq_id"), origSeqID)
	b = AppendString(key(append(b, ','), "original_action"), origAction)
	return end(b, h)
}

// AppendConnectError appends a CONNECT_ERROR envelope.
func AppendConnectError(b []byte, h Header, code string) []byte {
	b = begin(b, ActionConnectError)
	b = AppendString(key(b, "error_code"), code)
	b = AppendString(key(append(b, ','), "message"), Message(code))
	return end(b, h)
}

// AppendConnectSuccess appends a CONNECT_SUCCESS envelope.
func AppendConnectSuccess(b []byte, h Header, c Connected) []byte {
	b = begin(b, ActionConnectSuccess)
	b = appendInt(b, "user_id", c.UserID)
	b = AppendString(key(append(b, ','), "session_id"), c.SessionID)
	b = AppendTime(key(append(b, ','), "server_time"), h.Time)
	b = AppendString(key(append(b, ','), "nickname"), c.Nickname)
	if !c.ExpiresAt.IsZero() {
		b = AppendTime(key(append(b, ','), "expires_at"), c.ExpiresAt)
	}
	b = appendInt(append(b, ','), "heartbeat_interval_s", int64(c.HeartbeatInterval/time.Second))
	if c.Compression != "" {
		b = AppendString(key(append(b, ','), "compression"), c.Compression)
	}
	return end(b, h)
}

// AppendPong appends a PONG envelope.
func AppendPong(b []byte, h Header) []byte {
	b = begin(b, ActionPong)
	b = AppendTime(key(b, "server_time"), h.Time)
	return end(b, h)
}

// AppendJoinRoomSuccess appends a JOIN_ROOM_SUCCESS envelope.
func AppendJoinRoomSuccess(b []byte, h Header, roomID int64, count int32, online []Participant) []byte {
	b = begin(b, ActionJoinRoomSuccess)
	b = appendInt(b, "chatroom_id", roomID)
	b = appendInt(append(b, ','), "participants_count", int64(count))
	b = append(b, `,"online_participants":[`...)
	for i, p := range online {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendInt(append(b, '{'), "user_id", p.UserID)
		b = AppendString(key(append(b, ','), "nickname"), p.Nickname)
		b = append(b, `,"is_online":true}`...)
	}
	b = append(b, ']')
	return end(b, h)
}

// AppendLeaveRoomSuccess appends a LEAVE_ROOM_SUCCESS envelope. The reply
// is ours (added): the seed only broadcasts USER_LEFT to the others.
func AppendLeaveRoomSuccess(b []byte, h Header, roomID int64, count int32) []byte {
	b = begin(b, ActionLeaveRoomSuccess)
	b = appendInt(b, "chatroom_id", roomID)
	b = appendInt(append(b, ','), "participants_count", int64(count))
	return end(b, h)
}

// appendOptionalTime appends t as a quoted TimeLayout string, or null when
// t is zero.
func appendOptionalTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, "null"...)
	}
	return AppendTime(b, t)
}

// AppendRefreshTokenSuccess appends a REFRESH_TOKEN_SUCCESS envelope
// (added); expires_at is null for a token without expiry.
func AppendRefreshTokenSuccess(b []byte, h Header, expiresAt time.Time) []byte {
	b = begin(b, ActionRefreshTokenSuccess)
	b = appendOptionalTime(key(b, "expires_at"), expiresAt)
	return end(b, h)
}

// AppendUserStatusChanged appends a USER_STATUS_CHANGED envelope; last_seen
// is null when lastSeen is zero (never seen).
func AppendUserStatusChanged(b []byte, h Header, userID int64, online bool, lastSeen time.Time) []byte {
	b = begin(b, ActionUserStatusChanged)
	b = appendInt(b, "user_id", userID)
	b = strconv.AppendBool(key(append(b, ','), "is_online"), online)
	b = appendOptionalTime(key(append(b, ','), "last_seen"), lastSeen)
	return end(b, h)
}

// Announcement is the data of SERVER_ANNOUNCEMENT.
type Announcement struct {
	// Title is the headline.
	Title string
	// Message is the body.
	Message string
	// Type is the kind, for example "info" or "maintenance".
	Type string
	// Priority is the urgency, for example "low", "normal" or "high".
	Priority string
}

// AppendServerAnnouncement appends a SERVER_ANNOUNCEMENT envelope.
func AppendServerAnnouncement(b []byte, h Header, a Announcement) []byte {
	b = begin(b, ActionServerAnnouncement)
	b = AppendString(key(b, "title"), a.Title)
	b = AppendString(key(append(b, ','), "message"), a.Message)
	b = AppendString(key(append(b, ','), "type"), a.Type)
	b = AppendString(key(append(b, ','), "priority"), a.Priority)
	return end(b, h)
}
