package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"unicode/utf8"
)

// MaxSeqIDBytes bounds a client's seq_id.
const MaxSeqIDBytes = 64

// MaxClientMsgIDBytes bounds a message's client_msg_id (the chat
// service's bound).
const MaxClientMsgIDBytes = 64

// Envelope is a decoded client envelope.
type Envelope struct {
	// Action is the requested action, never empty in an accepted envelope.
	Action string
	// Data is the raw JSON object of the request ("{}" when absent or null).
	Data json.RawMessage
	// SeqID is the client's sequence id, echoed in replies.
	SeqID string
	// UserID is the client's claimed user id, when HasUserID.
	UserID int64
	// HasUserID tells whether the envelope carried a user_id.
	HasUserID bool
	// Compressed tells that Data is a JSON string, the base64 of the gzip
	// of the data object (added, see Compressor.InflateData).
	Compressed bool
}

// Decode errors. Each is answered with ERROR INVALID_DATA.
var (
	ErrInvalidUTF8 = errors.New("invalid UTF-8")
	ErrTooDeep     = errors.New("JSON nested too deeply")
	ErrSurrogate   = errors.New("lone UTF-16 surrogate escape")
	ErrSyntax      = errors.New("not a JSON object")
	ErrNoAction    = errors.New("missing action")
	ErrSeqID       = errors.New("seq_id must be a string of at most 64 bytes")
	ErrUserID      = errors.New("user_id must be a positive integer")
	ErrDataNotObj  = errors.New("data must be an object")
	ErrFieldType   = errors.New("timestamp must be a string")
	ErrCompressed  = errors.New("compressed must be a boolean, with string data when true")
	trueLiteral    = []byte("true")
	falseLiteral   = []byte("false")
	emptyObject    = json.RawMessage("{}")
	nullLiteral    = []byte("null")
)

// Decode validates and decodes one line. It refuses invalid UTF-8, lone
// surrogate escapes and nesting deeper than maxDepth before parsing, so that
// no input is silently altered or costs more than a linear scan. On error the
// returned Envelope carries the action and seq_id when they could be read, so
// the error reply can echo them. Field names are matched exactly; of a
// field given twice, the last counts, as with encoding/json. The Envelope's
// Data shares line's bytes.
func Decode(line []byte, maxDepth int) (Envelope, error) {
	var env Envelope
	if !utf8.Valid(line) {
		return env, ErrInvalidUTF8
	}
	if err := Scan(line, maxDepth); err != nil {
		return env, err
	}
	var action, data, timestamp, seqID, userID, compressed []byte
	err := members(line, func(key, value []byte) error {
		switch string(key) {
		case "action":
			action = value
		case "data":
			data = value
		case "timestamp":
			timestamp = value
		case "seq_id":
			seqID = value
		case "user_id":
			userID = value
		case "compressed":
			compressed = value
		}
		return nil
	})
	if err != nil {
		return env, ErrSyntax
	}
	// seq_id first, so that later errors can echo it.
	if present(seqID) {
		s, ok := stringValue(seqID)
		if !ok || len(s) > MaxSeqIDBytes {
			return env, ErrSeqID
		}
		env.SeqID = s
	}
	if present(action) {
		a, ok := actionValue(action)
		if !ok {
			return env, ErrNoAction
		}
		env.Action = a
	}
	if env.Action == "" {
		return env, ErrNoAction
	}
	if present(timestamp) && timestamp[0] != '"' {
		return env, ErrFieldType
	}
	if present(userID) {
		id, err := ParseID(userID)
		if err != nil {
			return env, ErrUserID
		}
		env.UserID, env.HasUserID = id, true
	}
	if present(compressed) {
		switch {
		case bytes.Equal(compressed, trueLiteral):
			if !present(data) || data[0] != '"' {
				return env, ErrCompressed
			}
			env.Data, env.Compressed = data, true
			return env, nil
		case !bytes.Equal(compressed, falseLiteral):
			return env, ErrCompressed
		}
	}
	env.Data = emptyObject
	if present(data) {
		if data[0] != '{' {
			return env, ErrDataNotObj
		}
		env.Data = data
	}
	return env, nil
}

func present(raw []byte) bool {
	return len(raw) > 0 && !bytes.Equal(raw, nullLiteral)
}

// knownActions are the actions a client sends, decoded without allocating.
var knownActions = []string{
	ActionConnect, ActionPing, ActionJoinRoom, ActionSendMessage, ActionLeaveRoom, ActionGetMessages,
	ActionBatchMessages, ActionRefreshToken, ActionCreateVideoRoom, ActionJoinVideoRoom, ActionLeaveVideoRoom,
	ActionSDPOffer, ActionSDPAnswer, ActionICECandidate, ActionMediaStatusChange,
}

// actionValue decodes the action's JSON string: a known action is
// returned without allocating.
func actionValue(raw []byte) (string, bool) {
	if len(raw) >= 2 && raw[0] == '"' {
		for _, a := range knownActions {
			if string(raw[1:len(raw)-1]) == a {
				return a, true
			}
		}
	}
	return stringValue(raw)
}

// FieldError refuses one field of a request's data; its text names the
// field, and the edge sends it as the message of the ERROR INVALID_DATA.
type FieldError struct {
	// Field is the field's name, as the client sent it.
	Field string
	// Problem says what is wrong, as a predicate: "must be a positive integer".
	Problem string
}

func (e *FieldError) Error() string { return e.Field + " " + e.Problem }

// ParseID reads a positive int64 id given as a JSON number or a numeric
// JSON string.
func ParseID(raw []byte) (int64, error) {
	id, err := strconv.ParseInt(numberText(raw), 10, 64)
	if err != nil || id <= 0 {
		return 0, ErrUserID
	}
	return id, nil
}

// numberText returns the text of a JSON number, or the value of a JSON
// string holding one: "\u0031" is "1" too.
func numberText(raw []byte) string {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return string(raw)
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1])
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return ""
	}
	return s
}

// ID is a positive int64 id that decodes from a JSON number or a numeric
// JSON string (mobile clients send both).
type ID int64

// UnmarshalJSON implements json.Unmarshaler.
func (id *ID) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, nullLiteral) {
		return nil
	}
	v, err := ParseID(b)
	if err != nil {
		return errors.New("id must be a positive integer")
	}
	*id = ID(v)
	return nil
}

// Int is an int64 of any sign that decodes from a JSON number or a numeric
// JSON string (mobile clients send both). Use a *Int to tell null or absent
// from zero.
type Int int64

// UnmarshalJSON implements json.Unmarshaler.
func (n *Int) UnmarshalJSON(b []byte) error {
	v, err := strconv.ParseInt(numberText(b), 10, 64)
	if err != nil {
		return errors.New("must be an integer")
	}
	*n = Int(v)
	return nil
}

// Scan checks, in one pass over the bytes, that JSON arrays and objects nest
// at most maxDepth deep and that every \uD800–\uDFFF escape is a proper
// surrogate pair (encoding/json would silently replace a lone one). It does
// not validate the rest of the syntax.
func Scan(b []byte, maxDepth int) error {
	depth := 0
	inString := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inString {
			switch c {
			case '"':
				inString = false
			case '\\':
				if i+1 < len(b) && b[i+1] == 'u' {
					r, ok := hex4(b, i+2)
					if ok && r >= 0xD800 && r <= 0xDFFF {
						if r >= 0xDC00 {
							return ErrSurrogate
						}
						lo, ok := hex4(b, i+8)
						if !ok || b[i+6] != '\\' || b[i+7] != 'u' || lo < 0xDC00 || lo > 0xDFFF {
							return ErrSurrogate
						}
						i += 11
						continue
					}
				}
				i++ // skip the escaped byte
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
			if depth > maxDepth {
				return ErrTooDeep
			}
		case '}', ']':
			depth--
		}
	}
	return nil
}

// hex4 reads the four hex digits at b[i:i+4].
func hex4(b []byte, i int) (rune, bool) {
	if i < 0 || i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// MessageData is the data of a SEND_MESSAGE, or an item of a client
// BATCH_MESSAGES.
type MessageData struct {
	// ChatroomID is the room, a positive id.
	ChatroomID int64
	// Content is the message body (possibly empty: chat judges it).
	Content string
	// MessageType is the wire name of the type ("" for text).
	MessageType string
	// SeqID is a batch item's own seq_id, "" when it has none.
	SeqID string
	// ClientMsgID is the client's own id of the message (added), "" when
	// it gives none: a retry with the same id is not stored twice.
	ClientMsgID string
}

// DecodeMessageData reads the data of a SEND_MESSAGE or a batch item
// without reflection. An error names the field at fault (a *FieldError,
// or errJSON for broken JSON); the SeqID is read first, so that a refused
// batch item's answer can still carry it.
func DecodeMessageData(data []byte) (MessageData, error) {
	var d MessageData
	var room, content, typ, seq, clientID []byte
	err := members(data, func(key, value []byte) error {
		switch string(key) {
		case "chatroom_id":
			room = value
		case "client_msg_id":
			clientID = value
		case "content":
			content = value
		case "message_type":
			typ = value
		case "seq_id":
			seq = value
		}
		return nil
	})
	if err != nil {
		return d, err
	}
	if present(seq) {
		s, ok := stringValue(seq)
		if !ok || len(s) > MaxSeqIDBytes {
			return d, &FieldError{Field: "seq_id", Problem: "must be a string of at most 64 bytes"}
		}
		d.SeqID = s
	}
	if present(clientID) {
		s, ok := stringValue(clientID)
		if !ok || len(s) > MaxClientMsgIDBytes {
			return d, &FieldError{Field: "client_msg_id", Problem: "must be a string of at most 64 bytes"}
		}
		d.ClientMsgID = s
	}
	if !present(room) {
		return d, &FieldError{Field: "chatroom_id", Problem: "is required"}
	}
	if d.ChatroomID, err = ParseID(room); err != nil {
		return d, &FieldError{Field: "chatroom_id", Problem: "must be a positive integer"}
	}
	if !present(content) {
		return d, &FieldError{Field: "content", Problem: "is required"}
	}
	var ok bool
	if d.Content, ok = stringValue(content); !ok {
		return d, &FieldError{Field: "content", Problem: "must be a string"}
	}
	if present(typ) {
		if d.MessageType, ok = stringValue(typ); !ok {
			return d, &FieldError{Field: "message_type", Problem: "must be a string"}
		}
	}
	if _, ok := ParseMessageType(d.MessageType); !ok {
		return d, &FieldError{Field: "message_type", Problem: "must be text, image, file, emoji or system"}
	}
	return d, nil
}
