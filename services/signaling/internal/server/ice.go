package server

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"slices"
	"strconv"
	"time"

	signalingv1 "switchboard.dev/api/gen/switchboard/signaling/v1"
)

// DefaultTURNTTL is how long TURN credentials made from a secret last.
const DefaultTURNTTL = 24 * time.Hour

// ICE is the STUN and TURN servers handed to the participants.
type ICE struct {
	// STUNURLs are the STUN servers' URLs (stun:host:port), given as one
	// IceServer.
	STUNURLs []string
	// TURNURLs are the TURN servers' URLs (turn:, turns:), given as one
	// IceServer with credentials.
	TURNURLs []string
	// TURNSecret, when set, makes time-limited credentials per user in
	// the TURN REST form coturn checks with its static-auth-secret:
	// username "<unix expiry>:<user id>", credential the base64 of the
	// HMAC-SHA1 of the username keyed with the secret.
	TURNSecret []byte
	// TURNTTL is how long those credentials last; 0 means DefaultTURNTTL.
	TURNTTL time.Duration
	// TURNUsername and TURNCredential are static credentials, given to
	// every user when there is no TURNSecret.
	TURNUsername, TURNCredential string
}

// servers returns the ICE servers for userID, with TURN credentials that
// expire TURNTTL after now.
func (c ICE) servers(userID int64, now time.Time) []*signalingv1.IceServer {
	var out []*signalingv1.IceServer
	if len(c.STUNURLs) > 0 {
		out = append(out, &signalingv1.IceServer{Urls: slices.Clone(c.STUNURLs)})
	}
	if len(c.TURNURLs) == 0 {
		return out
	}
	turn := &signalingv1.IceServer{Urls: slices.Clone(c.TURNURLs), Username: c.TURNUsername, Credential: c.TURNCredential}
	if len(c.TURNSecret) > 0 {
		ttl := c.TURNTTL
		if ttl <= 0 {
			ttl = DefaultTURNTTL
		}
		turn.Username = strconv.FormatInt(now.Add(ttl).Unix(), 10) + ":" + strconv.FormatInt(userID, 10)
		mac := hmac.New(sha1.New, c.TURNSecret)
		mac.Write([]byte(turn.Username))
		turn.Credential = base64.StdEncoding.EncodeToString(mac.Sum(nil))
	}
	return append(out, turn)
}
