package protocol

import (
	"bytes"
	"strconv"
)

// The video-room envelopes (edge-protocol.md §6).

// VideoRoomID is a video room id in a client request: a positive integer,
// a JSON number as the protocol document writes it ("video_room_id": 200);
// a string of digits ("200") from a lenient client is the same id.
// Anything else is refused with an error that names the field.
type VideoRoomID int64

// UnmarshalJSON implements json.Unmarshaler.
func (id *VideoRoomID) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, nullLiteral) {
		return nil
	}
	v, err := ParseID(b)
	if err != nil {
		return &FieldError{Field: "video_room_id", Problem: "must be a positive integer"}
	}
	*id = VideoRoomID(v)
	return nil
}

// MediaStatus is a participant's media status.
type MediaStatus struct {
	// AudioEnabled is whether the microphone is on.
	AudioEnabled bool `json:"audio_enabled"`
	// VideoEnabled is whether the camera is on.
	VideoEnabled bool `json:"video_enabled"`
	// ScreenSharing is whether the screen is shared.
	ScreenSharing bool `json:"screen_sharing"`
}

// VideoRoom is the data of VIDEO_ROOM_CREATED.
type VideoRoom struct {
	// ID is the video room's id.
	ID int64
	// ChatroomID is its chat room.
	ChatroomID int64
	// Name is its name.
	Name string
	// HostUserID is the user who created it.
	HostUserID int64
	// MaxParticipants bounds its participants.
	MaxParticipants int32
}

// VideoParticipant is a participant listed in JOIN_VIDEO_ROOM_SUCCESS or
// announced in VIDEO_PARTICIPANT_JOINED.
type VideoParticipant struct {
	// UserID is the participant's user.
	UserID int64
	// Nickname is the user's display name.
	Nickname string
	// Media is the participant's media status.
	Media MediaStatus
}

// ICEServer is a STUN or TURN server, in the form of WebRTC's RTCIceServer.
type ICEServer struct {
	// URLs are the server's URLs.
	URLs []string
	// Username and Credential are TURN credentials; empty for STUN.
	Username, Credential string
}

func appendMediaStatus(b []byte, m MediaStatus) []byte {
	b = strconv.AppendBool(append(b, `{"audio_enabled":`...), m.AudioEnabled)
	b = strconv.AppendBool(append(b, `,"video_enabled":`...), m.VideoEnabled)
	b = strconv.AppendBool(append(b, `,"screen_sharing":`...), m.ScreenSharing)
	return append(b, '}')
}

func appendVideoRoomID(b []byte, id int64) []byte {
	return appendInt(b, "video_room_id", id)
}

// AppendVideoRoomCreated appends a VIDEO_ROOM_CREATED envelope. The
// creator's copy, its answer, also lists the ICE servers it is to use
// (added; nil for the others' copies, which omit the field).
func AppendVideoRoomCreated(b []byte, h Header, r VideoRoom, ice []ICEServer) []byte {
	b = begin(b, ActionVideoRoomCreated)
	b = appendVideoRoomID(b, r.ID)
	b = appendInt(append(b, ','), "chatroom_id", r.ChatroomID)
	b = AppendString(key(append(b, ','), "video_room_name"), r.Name)
	b = appendInt(append(b, ','), "host_user_id", r.HostUserID)
	b = appendInt(append(b, ','), "max_participants", int64(r.MaxParticipants))
	if ice != nil {
		b = appendICEServers(append(b, ','), ice)
	}
	return end(b, h)
}

// AppendJoinVideoRoomSuccess appends a JOIN_VIDEO_ROOM_SUCCESS envelope
// (added): the participants, the joiner included, so that the joiner knows
// whom to offer to, and the ICE servers to use.
func AppendJoinVideoRoomSuccess(b []byte, h Header, roomID int64, participants []VideoParticipant, ice []ICEServer) []byte {
	b = begin(b, ActionJoinVideoRoomSuccess)
	b = appendVideoRoomID(b, roomID)
	b = append(b, `,"participants":[`...)
	for i, p := range participants {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendInt(append(b, '{'), "user_id", p.UserID)
		b = AppendString(key(append(b, ','), "nickname"), p.Nickname)
		b = appendMediaStatus(key(append(b, ','), "media_status"), p.Media)
		b = append(b, '}')
	}
	b = appendICEServers(append(b, `],`...), ice)
	return end(b, h)
}

// appendICEServers appends the ice_servers field.
func appendICEServers(b []byte, ice []ICEServer) []byte {
	b = append(b, `"ice_servers":[`...)
	for i, s := range ice {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"urls":[`...)
		for j, u := range s.URLs {
			if j > 0 {
				b = append(b, ',')
			}
			b = AppendString(b, u)
		}
		b = append(b, ']')
		if s.Username != "" || s.Credential != "" {
			b = AppendString(key(append(b, ','), "username"), s.Username)
			b = AppendString(key(append(b, ','), "credential"), s.Credential)
		}
		b = append(b, '}')
	}
	return append(b, ']')
}

// AppendVideoParticipantJoined appends a VIDEO_PARTICIPANT_JOINED envelope.
func AppendVideoParticipantJoined(b []byte, h Header, roomID int64, p VideoParticipant, count int32) []byte {
	b = begin(b, ActionVideoParticipantJoined)
	b = appendVideoRoomID(b, roomID)
	b = appendInt(append(b, ','), "user_id", p.UserID)
	b = AppendString(key(append(b, ','), "nickname"), p.Nickname)
	b = appendMediaStatus(key(append(b, ','), "media_status"), p.Media)
	b = appendInt(append(b, ','), "participants_count", int64(count))
	return end(b, h)
}

// AppendVideoParticipantLeft appends a VIDEO_PARTICIPANT_LEFT envelope
// (added); reason is "left", "disconnected" or "closed".
func AppendVideoParticipantLeft(b []byte, h Header, roomID int64, userID int64, nickname string, count int32, reason string) []byte {
	b = begin(b, ActionVideoParticipantLeft)
	b = appendVideoRoomID(b, roomID)
	b = appendInt(append(b, ','), "user_id", userID)
	b = AppendString(key(append(b, ','), "nickname"), nickname)
	b = appendInt(append(b, ','), "participants_count", int64(count))
	b = AppendString(key(append(b, ','), "reason"), reason)
	return end(b, h)
}

// AppendLeaveVideoRoomSuccess appends a LEAVE_VIDEO_ROOM_SUCCESS envelope
// (added), the leaver's answer.
func AppendLeaveVideoRoomSuccess(b []byte, h Header, roomID int64) []byte {
	b = begin(b, ActionLeaveVideoRoomSuccess)
	b = appendVideoRoomID(b, roomID)
	return end(b, h)
}

// AppendVideoRoomClosed appends a VIDEO_ROOM_CLOSED envelope (added);
// reason is "empty", "timeout" or "closed".
func AppendVideoRoomClosed(b []byte, h Header, roomID, chatroomID int64, reason string) []byte {
	b = begin(b, ActionVideoRoomClosed)
	b = appendVideoRoomID(b, roomID)
	b = appendInt(append(b, ','), "chatroom_id", chatroomID)
	b = AppendString(key(append(b, ','), "reason"), reason)
	return end(b, h)
}

// AppendParticipantMediaChanged appends a PARTICIPANT_MEDIA_CHANGED envelope.
func AppendParticipantMediaChanged(b []byte, h Header, roomID, userID int64, nickname string, m MediaStatus) []byte {
	b = begin(b, ActionParticipantMediaChanged)
	b = appendVideoRoomID(b, roomID)
	b = appendInt(append(b, ','), "user_id", userID)
	b = AppendString(key(append(b, ','), "nickname"), nickname)
	b = appendMediaStatus(key(append(b, ','), "media_status"), m)
	return end(b, h)
}

// AppendSignal appends a relayed SDP_OFFER, SDP_ANSWER or ICE_CANDIDATE
// envelope: the sender's payload object under field ("sdp" or
// "candidate"), as it was sent, with from_user_id in place of the
// target_user_id. payload must be a JSON object on one line: the edge
// checks it before relaying and again before delivering.
func AppendSignal(b []byte, h Header, action string, roomID, fromUserID int64, field string, payload []byte) []byte {
	b = begin(b, action)
	b = appendVideoRoomID(b, roomID)
	b = appendInt(append(b, ','), "from_user_id", fromUserID)
	b = append(key(append(b, ','), field), payload...)
	return end(b, h)
}
