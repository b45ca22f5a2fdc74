// Package protocol is the edge's wire format: newline-delimited JSON
// envelopes (docs: edge-protocol.md §1, §2, §9). It frames lines, decodes and
// validates client envelopes, and appends server envelopes to byte slices
// without reflection, because the encoder sits on the delivery hot path.
package protocol

// Actions the edge understands or sends.
const (
	ActionConnect          = "CONNECT"
	ActionConnectSuccess   = "CONNECT_SUCCESS"
	ActionConnectError     = "CONNECT_ERROR"
	ActionPing             = "PING"
	ActionPong             = "PONG"
	ActionJoinRoom         = "JOIN_ROOM"
	ActionJoinRoomSuccess  = "JOIN_ROOM_SUCCESS"
	ActionLeaveRoom        = "LEAVE_ROOM"
	ActionLeaveRoomSuccess = "LEAVE_ROOM_SUCCESS"
	ActionSendMessage      = "SEND_MESSAGE"
	ActionNewMessage       = "NEW_MESSAGE"
	ActionBatchMessages    = "BATCH_MESSAGES"
	ActionUserJoined       = "USER_JOINED"
	ActionUserLeft         = "USER_LEFT"
	ActionRoomDeleted      = "ROOM_DELETED"
	ActionGetMessages      = "GET_MESSAGES"
	ActionMessages         = "MESSAGES"
	ActionError            = "ERROR"

	ActionRefreshToken        = "REFRESH_TOKEN"
	ActionRefreshTokenSuccess = "REFRESH_TOKEN_SUCCESS"
	ActionUserStatusChanged   = "USER_STATUS_CHANGED"
	ActionServerAnnouncement  = "SERVER_ANNOUNCEMENT"

	ActionCreateVideoRoom         = "CREATE_VIDEO_ROOM"
	ActionVideoRoomCreated        = "VIDEO_ROOM_CREATED"
	ActionJoinVideoRoom           = "JOIN_VIDEO_ROOM"
	ActionJoinVideoRoomSuccess    = "JOIN_VIDEO_ROOM_SUCCESS"
	ActionVideoParticipantJoined  = "VIDEO_PARTICIPANT_JOINED"
	ActionLeaveVideoRoom          = "LEAVE_VIDEO_ROOM"
	ActionLeaveVideoRoomSuccess   = "LEAVE_VIDEO_ROOM_SUCCESS"
	ActionVideoParticipantLeft    = "VIDEO_PARTICIPANT_LEFT"
	ActionVideoRoomClosed         = "VIDEO_ROOM_CLOSED"
	ActionSDPOffer                = "SDP_OFFER"
	ActionSDPAnswer               = "SDP_ANSWER"
	ActionICECandidate            = "ICE_CANDIDATE"
	ActionMediaStatusChange       = "MEDIA_STATUS_CHANGE"
	ActionParticipantMediaChanged = "PARTICIPANT_MEDIA_CHANGED"
)

// Error codes of ERROR and CONNECT_ERROR envelopes (edge-protocol.md §9).
const (
	CodeInvalidToken       = "INVALID_TOKEN"
	CodeTokenExpired       = "TOKEN_EXPIRED"
	CodeTokenRevoked       = "TOKEN_REVOKED"
	CodeInvalidAction      = "INVALID_ACTION"
	CodeInvalidData        = "INVALID_DATA"
	CodeNotAuthenticated   = "NOT_AUTHENTICATED"
	CodeRoomNotFound       = "ROOM_NOT_FOUND"
	CodePermissionDenied   = "PERMISSION_DENIED"
	CodeUserBlocked        = "USER_BLOCKED"
	CodeRoomFull           = "ROOM_FULL"
	CodeVideoRoomFull      = "VIDEO_ROOM_FULL"
	CodeVideoRoomNotFound  = "VIDEO_ROOM_NOT_FOUND"
	CodeRateLimited        = "RATE_LIMITED"
	CodeServiceUnavailable = "SERVICE_UNAVAILABLE"
	CodeInternalError      = "INTERNAL_ERROR"
	// CodeTooManyConnections refuses a connection at accept: too many from
	// its source address, or too many not yet authenticated.
	CodeTooManyConnections = "TOO_MANY_CONNECTIONS"
)

// Message returns the client-facing text of an error code. Clients only
// ever see these fixed texts, never an internal error's text.
func Message(code string) string {
	switch code {
	case CodeInvalidToken:
		return "invalid token"
	case CodeTokenExpired:
		return "token expired"
	case CodeTokenRevoked:
		return "token revoked"
	case CodeInvalidAction:
		return "invalid action"
	case CodeInvalidData:
		return "invalid data"
	case CodeNotAuthenticated:
		return "not authenticated: send CONNECT first"
	case CodeRoomNotFound:
		return "room not found"
	case CodePermissionDenied:
		return "permission denied"
	case CodeUserBlocked:
		return "user blocked"
	case CodeRoomFull:
		return "room full"
	case CodeVideoRoomFull:
		return "video room full"
	case CodeVideoRoomNotFound:
		return "video room not found"
	case CodeRateLimited:
		return "rate limited"
	case CodeServiceUnavailable:
		return "service unavailable, try again"
	case CodeTooManyConnections:
		return "too many connections, try again later"
	default:
		return "internal error"
	}
}
