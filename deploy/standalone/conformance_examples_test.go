package standalone

// The envelopes of the original protocol document (testdata/protocol-v1.1,
// decoded.md), copied verbatim, each with the section and the direction
// the document gives it. TestProtocolExamplesAreVerbatim checks that each
// is in the document exactly and that the document has no other.

// The document's examples, in its order.
var (
	// §1.2 the envelope structure
	exEnvelope = `{
  "action": "ACTION_TYPE",
  "data": { ... },
  "timestamp": "2024-01-01T12:00:00.000Z",
  "seq_id": "unique_sequence_id",
  "user_id": 123
}`
	// §2.1 Client → Server
	exConnect = `{
  "action": "CONNECT",
  "data": {
    "jwt_token": "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9..."
  },
  "timestamp": "2024-01-01T12:00:00.000Z",
  "seq_id": "auth_001"
}`
	// §2.1 Server → Client (성공)
	exConnectSuccess = `{
  "action": "CONNECT_SUCCESS",
  "data": {
    "user_id": 123,
    "session_id": "session_abc123",
    "server_time": "2024-01-01T12:00:01.000Z"
  },
  "timestamp": "2024-01-01T12:00:01.000Z",
  "seq_id": "auth_001"
}`
	// §2.1 Server → Client (실패)
	exConnectError = `{
  "action": "CONNECT_ERROR",
  "data": {
    "error_code": "INVALID_TOKEN",
    "message": "JWT 토큰이 유효하지 않습니다"
  },
  "timestamp": "2024-01-01T12:00:01.000Z",
  "seq_id": "auth_001"
}`
	// §2.2 Client → Server (30초마다)
	exPing = `{
  "action": "PING",
  "data": {},
  "timestamp": "2024-01-01T12:00:30.000Z",
  "seq_id": "ping_001"
}`
	// §2.2 Server → Client
	exPong = `{
  "action": "PONG",
  "data": {
    "server_time": "2024-01-01T12:00:30.100Z"
  },
  "timestamp": "2024-01-01T12:00:30.100Z",
  "seq_id": "ping_001"
}`
	// §3.1 Client → Server
	exJoinRoom = `{
  "action": "JOIN_ROOM",
  "data": {
    "chatroom_id": 1
  },
  "timestamp": "2024-01-01T12:00:00.000Z",
  "seq_id": "join_001",
  "user_id": 123
}`
	// §3.1 Server → Client (성공)
	exJoinRoomSuccess = `{
  "action": "JOIN_ROOM_SUCCESS",
  "data": {
    "chatroom_id": 1,
    "participants_count": 5,
    "online_participants": [
      {
        "user_id": 123,
        "nickname": "사용자1",
        "is_online": true
      }
    ]
  },
  "timestamp": "2024-01-01T12:00:00.500Z",
  "seq_id": "join_001"
}`
	// §3.1 Server → All Room Members (다른 사용자에게 알림)
	exUserJoined = `{
  "action": "USER_JOINED",
  "data": {
    "chatroom_id": 1,
    "user_id": 123,
    "nickname": "사용자1",
    "participants_count": 5
  },
  "timestamp": "2024-01-01T12:00:00.500Z",
  "seq_id": "broadcast_001"
}`
	// §3.2 Client → Server
	exSendMessage = `{
  "action": "SEND_MESSAGE",
  "data": {
    "chatroom_id": 1,
    "content": "안녕하세요!",
    "message_type": "text"
  },
  "timestamp": "2024-01-01T12:00:00.000Z",
  "seq_id": "msg_001",
  "user_id": 123
}`
	// §3.2 Server → All Room Members
	exNewMessage = `{
  "action": "NEW_MESSAGE",
  "data": {}, // Message 모델 - 05. 데이터 모델 참조
  "timestamp": "2024-01-01T12:00:00.100Z",
  "seq_id": "msg_001"
}`
	// §3.3 Client → Server
	exLeaveRoom = `{
  "action": "LEAVE_ROOM",
  "data": {
    "chatroom_id": 1
  },
  "timestamp": "2024-01-01T12:00:00.000Z",
  "seq_id": "leave_001",
  "user_id": 123
}`
	// §3.3 Server → All Room Members
	exUserLeft = `{
  "action": "USER_LEFT",
  "data": {
    "chatroom_id": 1,
    "user_id": 123,
    "nickname": "사용자1",
    "participants_count": 4
  },
  "timestamp": "2024-01-01T12:00:00.100Z",
  "seq_id": "broadcast_002"
}`
	// §4.1 Client → Server
	exCreateVideoRoom = `{
  "action": "CREATE_VIDEO_ROOM",
  "data": {
    "chatroom_id": 1,
    "video_room_name": "영상회의",
    "max_participants": 10
  },
  "timestamp": "2024-01-01T12:00:00.000Z",
  "seq_id": "video_001",
  "user_id": 123
}`
	// §4.1 Server → All Room Members
	exVideoRoomCreated = `{
  "action": "VIDEO_ROOM_CREATED",
  "data": {
    "video_room_id": 200,
    "chatroom_id": 1,
    "video_room_name": "영상회의",
    "host_user_id": 123,
    "max_participants": 10
  },
  "timestamp": "2024-01-01T12:00:00.100Z",
  "seq_id": "video_001"
}`
	// §4.2 Client → Server
	exJoinVideoRoom = `{
  "action": "JOIN_VIDEO_ROOM",
  "data": {
    "video_room_id": 200,
    "media_status": {
      "audio_enabled": true,
      "video_enabled": true
    }
  },
  "timestamp": "2024-01-01T12:00:00.000Z",
  "seq_id": "video_join_001",
  "user_id": 124
}`
	// §4.2 Server → All Video Room Participants
	exVideoParticipantJoined = `{
  "action": "VIDEO_PARTICIPANT_JOINED",
  "data": {
    "video_room_id": 200,
    "user_id": 124,
    "nickname": "참가자",
    "media_status": {
      "audio_enabled": true,
      "video_enabled": true
    },
    "participants_count": 2
  },
  "timestamp": "2024-01-01T12:00:00.100Z",
  "seq_id": "video_join_001"
}`
	// §4.3 Client → Server (Offer)
	exSDPOffer = `{
  "action": "SDP_OFFER",
  "data": {
    "video_room_id": 200,
    "target_user_id": 124,
    "sdp": {
      "type": "offer",
      "sdp": "v=0\r\no=- 123456789 2 IN IP4 127.0.0.1\r\n..."
    }
  },
  "timestamp": "2024-01-01T12:00:00.000Z",
  "seq_id": "sdp_001",
  "user_id": 123
}`
	// §4.3 Server → Target User
	exSDPOfferRelayed = `{
  "action": "SDP_OFFER",
  "data": {
    "video_room_id": 200,
    "from_user_id": 123,
    "sdp": {
      "type": "offer",
      "sdp": "v=0\r\no=- 123456789 2 IN IP4 127.0.0.1\r\n..."
    }
  },
  "timestamp": "2024-01-01T12:00:00.050Z",
  "seq_id": "sdp_001"
}`
	// §4.3 Target User → Server (Answer)
	exSDPAnswer = `{
  "action": "SDP_ANSWER",
  "data": {
    "video_room_id": 200,
    "target_user_id": 123,
    "sdp": {
      "type": "answer",
      "sdp": "v=0\r\no=- 987654321 2 IN IP4 127.0.0.1\r\n..."
    }
  },
  "timestamp": "2024-01-01T12:00:01.000Z",
  "seq_id": "sdp_002",
  "user_id": 124
}`
	// §4.4 Client → Server
	exICECandidate = `{
  "action": "ICE_CANDIDATE",
  "data": {
    "video_room_id": 200,
    "target_user_id": 124,
    "candidate": {
      "candidate": "candidate:1 1 UDP 2130706431 192.168.1.100 54400 typ host",
      "sdpMid": "0",
      "sdpMLineIndex": 0
    }
  },
  "timestamp": "2024-01-01T12:00:00.000Z",
  "seq_id": "ice_001",
  "user_id": 123
}`
	// §4.4 Server → Target User
	exICECandidateRelayed = `{
  "action": "ICE_CANDIDATE",
  "data": {
    "video_room_id": 200,
    "from_user_id": 123,
    "candidate": {
      "candidate": "candidate:1 1 UDP 2130706431 192.168.1.100 54400 typ host",
      "sdpMid": "0",
      "sdpMLineIndex": 0
    }
  },
  "timestamp": "2024-01-01T12:00:00.050Z",
  "seq_id": "ice_001"
}`
	// §4.5 Client → Server
	exMediaStatusChange = `{
  "action": "MEDIA_STATUS_CHANGE",
  "data": {
    "video_room_id": 200,
    "media_status": {
      "audio_enabled": false,
      "video_enabled": true,
      "screen_sharing": false
    }
  },
  "timestamp": "2024-01-01T12:00:00.000Z",
  "seq_id": "media_001",
  "user_id": 123
}`
	// §4.5 Server → All Video Room Participants
	exParticipantMediaChanged = `{
  "action": "PARTICIPANT_MEDIA_CHANGED",
  "data": {
    "video_room_id": 200,
    "user_id": 123,
    "nickname": "사용자1",
    "media_status": {
      "audio_enabled": false,
      "video_enabled": true,
      "screen_sharing": false
    }
  },
  "timestamp": "2024-01-01T12:00:00.100Z",
  "seq_id": "media_001"
}`
	// §5.1 Server → All Related Users (자동 발송)
	exUserStatusChanged = `{
  "action": "USER_STATUS_CHANGED",
  "data": {
    "user_id": 123,
    "is_online": false,
    "last_seen": "2024-01-01T12:00:00.000Z"
  },
  "timestamp": "2024-01-01T12:00:00.000Z",
  "seq_id": "status_001"
}`
	// §5.2 Server → All Connected Users
	exServerAnnouncement = `{
  "action": "SERVER_ANNOUNCEMENT",
  "data": {
    "title": "서버 점검 안내",
    "message": "2024년 1월 2일 오전 2시부터 4시까지 서버 점검이 있습니다.",
    "type": "maintenance",
    "priority": "high"
  },
  "timestamp": "2024-01-01T12:00:00.000Z",
  "seq_id": "announce_001"
}`
	// §6.1 ERROR
	exError = `{
  "action": "ERROR",
  "data": {
    "error_code": "ERROR_CODE",
    "message": "에러 메시지",
    "original_seq_id": "원본_요청_seq_id",
    "original_action": "원본_액션명"
  },
  "timestamp": "2024-01-01T12:00:00.000Z",
  "seq_id": "error_001"
}`
	// §7.1 compressed SEND_MESSAGE
	exCompressed = `{
  "action": "SEND_MESSAGE",
  "data": "gzipped_json_data",
  "compressed": true,
  "timestamp": "2024-01-01T12:00:00.000Z",
  "seq_id": "msg_001",
  "user_id": 123
}`
	// §7.2 BATCH_MESSAGES
	exBatchMessages = `{
  "action": "BATCH_MESSAGES",
  "data": {
    "messages": [
      {}, // Message 1
      {}, // Message 2
      {}  // Message 3
    ]
  },
  "timestamp": "2024-01-01T12:00:00.000Z",
  "seq_id": "batch_001"
}`
)

// direction is which way the document sends an example.
type direction int

const (
	toServer direction = iota
	toClient
	// eitherWay is §1.2's structure of every envelope and §7.2's batch,
	// which the document gives without a direction.
	eitherWay
)

// protocolExample is one envelope of the document.
type protocolExample struct {
	section string // "§4.3"
	name    string
	dir     direction
	text    string
}

// protocolExamples are every envelope of the document, in its order.
var protocolExamples = []protocolExample{
	{"§1.2", "the structure of every envelope", eitherWay, exEnvelope},
	{"§2.1", "CONNECT", toServer, exConnect},
	{"§2.1", "CONNECT_SUCCESS", toClient, exConnectSuccess},
	{"§2.1", "CONNECT_ERROR", toClient, exConnectError},
	{"§2.2", "PING", toServer, exPing},
	{"§2.2", "PONG", toClient, exPong},
	{"§3.1", "JOIN_ROOM", toServer, exJoinRoom},
	{"§3.1", "JOIN_ROOM_SUCCESS", toClient, exJoinRoomSuccess},
	{"§3.1", "USER_JOINED", toClient, exUserJoined},
	{"§3.2", "SEND_MESSAGE", toServer, exSendMessage},
	{"§3.2", "NEW_MESSAGE", toClient, exNewMessage},
	{"§3.3", "LEAVE_ROOM", toServer, exLeaveRoom},
	{"§3.3", "USER_LEFT", toClient, exUserLeft},
	{"§4.1", "CREATE_VIDEO_ROOM", toServer, exCreateVideoRoom},
	{"§4.1", "VIDEO_ROOM_CREATED", toClient, exVideoRoomCreated},
	{"§4.2", "JOIN_VIDEO_ROOM", toServer, exJoinVideoRoom},
	{"§4.2", "VIDEO_PARTICIPANT_JOINED", toClient, exVideoParticipantJoined},
	{"§4.3", "SDP_OFFER", toServer, exSDPOffer},
	{"§4.3", "SDP_OFFER to its target", toClient, exSDPOfferRelayed},
	{"§4.3", "SDP_ANSWER", toServer, exSDPAnswer},
	{"§4.4", "ICE_CANDIDATE", toServer, exICECandidate},
	{"§4.4", "ICE_CANDIDATE to its target", toClient, exICECandidateRelayed},
	{"§4.5", "MEDIA_STATUS_CHANGE", toServer, exMediaStatusChange},
	{"§4.5", "PARTICIPANT_MEDIA_CHANGED", toClient, exParticipantMediaChanged},
	{"§5.1", "USER_STATUS_CHANGED", toClient, exUserStatusChanged},
	{"§5.2", "SERVER_ANNOUNCEMENT", toClient, exServerAnnouncement},
	{"§6.1", "ERROR", toClient, exError},
	{"§7.1", "a compressed SEND_MESSAGE", toServer, exCompressed},
	{"§7.2", "BATCH_MESSAGES", eitherWay, exBatchMessages},
}
