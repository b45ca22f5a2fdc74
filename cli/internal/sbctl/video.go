package sbctl

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"

	signalingv1 "switchboard.dev/api/gen/switchboard/signaling/v1"
	"switchboard.dev/cli/internal/rpcerr"
)

func videoList(fs *flag.FlagSet) func(context.Context, *env) error {
	var chatroom int64
	fs.Int64Var(&chatroom, "chatroom", 0, "list only this chat room's video rooms (0: every chat room's)")
	return func(ctx context.Context, e *env) error {
		if err := validIDs(fs, idFlag{"chatroom", &chatroom, false}); err != nil {
			return err
		}
		resp, err := signalingCall(ctx, e, rpcerr.Subject{Name: "the video rooms"}, func(ctx context.Context, c signalingv1.SignalingAdminServiceClient) (*signalingv1.ListVideoRoomsResponse, error) {
			return c.ListVideoRooms(ctx, &signalingv1.ListVideoRoomsRequest{ChatroomId: chatroom})
		})
		if err != nil {
			return err
		}
		// The service sends the rooms oldest first.
		tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tCHATROOM\tNAME\tHOST\tPARTICIPANTS\tCREATED\tUSERS")
		for _, r := range resp.GetRooms() {
			users := make([]string, len(r.GetParticipants()))
			for i, p := range r.GetParticipants() {
				users[i] = strconv.FormatInt(p.GetUserId(), 10)
			}
			fmt.Fprintf(tw, "%d\t%d\t%s\t%d\t%d/%d\t%s\t%s\n", r.GetVideoRoomId(), r.GetChatroomId(), tableCell(r.GetName()),
				r.GetHostUserId(), len(users), r.GetMaxParticipants(), timeOrDash(r.GetCreatedAt()), orDash(strings.Join(users, ",")))
		}
		return tw.Flush()
	}
}

// tableCell returns s for a table: "-" when empty, quoted when it holds a
// tab, a line break or another control character. A video room's name is
// chosen by a user, and must not pass for cells or rows of its own.
func tableCell(s string) string {
	if strings.ContainsFunc(s, unicode.IsControl) {
		return strconv.Quote(s)
	}
	return orDash(s)
}

func videoClose(fs *flag.FlagSet) func(context.Context, *env) error {
	var id int64
	fs.Int64Var(&id, "id", 0, "the video room's id (from video list)")
	return func(ctx context.Context, e *env) error {
		if err := required(flagCheck{"id", given(fs, "id")}); err != nil {
			return err
		}
		if err := validIDs(fs, idFlag{"id", &id, true}); err != nil {
			return err
		}
		_, err := signalingCall(ctx, e, rpcerr.Subject{Name: fmt.Sprint("video room ", id)}, func(ctx context.Context, c signalingv1.SignalingAdminServiceClient) (*signalingv1.CloseVideoRoomResponse, error) {
			return c.CloseVideoRoom(ctx, &signalingv1.CloseVideoRoomRequest{VideoRoomId: id})
		})
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(e.stdout, "closed video room %d\n", id)
		return err
	}
}

// signalingCall runs one SignalingAdminService call with the deadline and
// describes its error.
func signalingCall[R any](ctx context.Context, e *env, s rpcerr.Subject, f func(context.Context, signalingv1.SignalingAdminServiceClient) (R, error)) (R, error) {
	t := rpcerr.Target{Service: "signaling", Addr: e.signalingAddr, Timeout: e.timeout}
	var zero R
	cc, err := dial(t)
	if err != nil {
		return zero, err
	}
	defer cc.Close()
	client := signalingv1.NewSignalingAdminServiceClient(cc)
	return call(ctx, t, s, func(ctx context.Context) (R, error) { return f(ctx, client) })
}
