package chat_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	backupv1 "switchboard.dev/api/gen/switchboard/backup/v1"
	chatv1 "switchboard.dev/api/gen/switchboard/chat/v1"
	"switchboard.dev/services/chat"
)

// TestBackupRestore backs the store up through the BackupService while the
// service runs, then runs a second service on the copy: it has the rooms
// and messages written before the backup.
func TestBackupRestore(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dataDir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- chat.Run(ctx, chat.Config{Listener: lis, DataDir: dataDir}) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run after cancel = %v, want nil", err)
		}
	})
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	live := &service{chat: chatv1.NewChatServiceClient(conn), admin: chatv1.NewChatAdminServiceClient(conn)}
	live.createRoom(t, 1, 0, false)
	live.join(t, 1, 10)
	const sent = 20
	for i := range sent {
		live.send(t, 1, 10, fmt.Sprint("m", i))
	}

	restoreDir := t.TempDir()
	f, err := os.Create(filepath.Join(restoreDir, "chat.db"))
	if err != nil {
		t.Fatal(err)
	}
	stream, err := backupv1.NewBackupServiceClient(conn).Backup(callCtx(t), &backupv1.BackupRequest{})
	if err != nil {
		t.Fatalf("Backup() = %v", err)
	}
	for i := 0; ; i++ {
		chunk, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("Backup() chunk %d: %v", i, err)
		}
		if i == 0 && chunk.GetFileName() != "chat.db" {
			t.Errorf("Backup() file_name = %q, want chat.db", chunk.GetFileName())
		}
		if _, err := f.Write(chunk.GetData()); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if left, _ := filepath.Glob(filepath.Join(dataDir, ".backup-*")); len(left) != 0 {
		t.Errorf("the data folder holds %v after the backup, want no spool file", left)
	}

	restored := start(t, chat.Config{DataDir: restoreDir})
	res, err := restored.admin.ListRoomMessages(callCtx(t), &chatv1.ListRoomMessagesRequest{RoomId: 1, Limit: 100})
	if err != nil {
		t.Fatalf("ListRoomMessages(room 1) on the restored copy = %v", err)
	}
	if got := len(res.GetMessages()); got != sent {
		t.Fatalf("the restored copy has %d messages in room 1, want %d", got, sent)
	}
	for i, m := range res.GetMessages() {
		if want := fmt.Sprint("m", i); m.GetContent() != want {
			t.Errorf("restored message %d = %q, want %q", i, m.GetContent(), want)
		}
	}
}
