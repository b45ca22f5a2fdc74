// Package protocol is the bridge's WebSocket protocol (seed 004): one JSON
// object per text frame, each with a type.
package protocol

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Message types.
const (
	// TypeCredential (client → bridge) authenticates with an API key; it
	// must be the first message.
	TypeCredential = "CREDENTIAL"
	// TypeAuthSuccess (bridge → client) accepts the credential.
	TypeAuthSuccess = "auth_success"
	// TypeSessionStart (client → bridge) asks for a node.
	TypeSessionStart = "session_start"
	// TypeNodeStatus (bridge → client) tells the state of the session's
	// node in Status.
	TypeNodeStatus = "node_status"
	// TypeOffer (client → bridge) carries the client's SDP offer.
	TypeOffer = "offer"
	// TypeServerProvisioning (bridge → client) says the offer waits for a
	// node being made ready.
	TypeServerProvisioning = "server_provisioning"
	// TypeAnswer (bridge → client) carries the node's SDP answer.
	TypeAnswer = "answer"
	// TypeCandidate (both ways) carries a trickled ICE candidate.
	TypeCandidate = "candidate"
	// TypeError (bridge → client) reports a failure in Message; the
	// connection stays open.
	TypeError = "error"
)

// Node statuses of a node_status message.
const (
	// StatusPending: a node is being provisioned (or a stopped one
	// started) for the session.
	StatusPending = "pending"
	// StatusFull: the pool is at its maximum and every node is busy.
	StatusFull = "full"
	// StatusWaiting: a node is ready and waits for the offer.
	StatusWaiting = "waiting"
)

// Texts of error messages. The first two are the seed's, word for word.
const (
	ErrPoolFull          = "Maximum pool size reached. Cannot assign a new node."
	ErrStartFailed       = "Failed to start a stopped node."
	ErrProvisionFailed   = "Failed to provision a new node."
	ErrNodeLost          = "The media node was lost."
	ErrSessionEnded      = "The media session ended."
	ErrOfferRefused      = "The node refused the offer."
	ErrOfferTooLarge     = "The offer is too large."
	ErrSessionStarted    = "A session is already started."
	ErrOfferSent         = "An offer was already sent."
	ErrTooManyCandidates = "Too many candidates."
	ErrMalformed         = "Malformed message."
	ErrUnknownType       = "Unknown message type."
	ErrAlreadyAuthed     = "Already authenticated."
	ErrUnavailable       = "The service is unavailable."
)

// Candidate is a trickled ICE candidate, the W3C RTCIceCandidateInit.
type Candidate struct {
	// Candidate is the candidate line ("candidate:..."); empty means the
	// end of the candidates.
	Candidate string `json:"candidate"`
	// SDPMid is the media stream identification of the candidate's m-line.
	SDPMid *string `json:"sdpMid,omitempty"`
	// SDPMLineIndex is the index of the candidate's m-line.
	SDPMLineIndex *uint16 `json:"sdpMLineIndex,omitempty"`
	// UsernameFragment is the ICE ufrag the candidate belongs to.
	UsernameFragment *string `json:"usernameFragment,omitempty"`
}

// CredentialPayload is the payload of a CREDENTIAL message.
type CredentialPayload struct {
	// Credential is the API secret key, sk_<ENV>_<random>.
	Credential string `json:"credential"`
}

// Message is a message of either direction; only the fields of its type
// are set.
type Message struct {
	// Type is one of the Type constants.
	Type string `json:"type"`
	// Payload is a CREDENTIAL's.
	Payload *CredentialPayload `json:"payload,omitempty"`
	// Status is a node_status's.
	Status string `json:"status,omitempty"`
	// SDP is an offer's or an answer's.
	SDP string `json:"sdp,omitempty"`
	// Candidate is a candidate's.
	Candidate *Candidate `json:"candidate,omitempty"`
	// Message is an error's text.
	Message string `json:"message,omitempty"`
}

// Errors of Decode.
var (
	// ErrBadMessage: not a JSON object with a string type, or a known type
	// without its fields.
	ErrBadMessage = errors.New("malformed message")
	// ErrBadType: a well-formed message of a type the bridge does not know.
	ErrBadType = errors.New("unknown message type")
)

// Decode parses one client message and checks the fields of its type.
func Decode(data []byte) (Message, error) {
	var m Message
	if err := json.Unmarshal(data, &m); err != nil {
		return Message{}, fmt.Errorf("%w: %w", ErrBadMessage, err)
	}
	switch m.Type {
	case "":
		return m, fmt.Errorf("%w: no type", ErrBadMessage)
	case TypeCredential:
		if m.Payload == nil || m.Payload.Credential == "" {
			return m, fmt.Errorf("%w: no credential", ErrBadMessage)
		}
	case TypeOffer:
		if m.SDP == "" {
			return m, fmt.Errorf("%w: no sdp", ErrBadMessage)
		}
	case TypeCandidate:
		if m.Candidate == nil {
			return m, fmt.Errorf("%w: no candidate", ErrBadMessage)
		}
	case TypeSessionStart:
	default:
		return m, ErrBadType
	}
	return m, nil
}

// Encode returns m as a frame's text.
func Encode(m Message) []byte {
	b, err := json.Marshal(m)
	if err != nil {
		panic(fmt.Sprintf("protocol: encode %q: %v", m.Type, err)) // strings and small ints only
	}
	return b
}
