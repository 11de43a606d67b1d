package devnats

import (
	"context"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
)

func connect(t *testing.T, s *Server) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(s.ClientURL())
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	return nc, js
}

func TestStartPublishAndRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir := t.TempDir()

	s, err := Start(Config{Port: RandomPort, StoreDir: dir})
	require.NoError(t, err)
	t.Cleanup(s.Stop)
	require.NotZero(t, s.Port())
	require.Equal(t, "nats://127.0.0.1:"+strconv.Itoa(s.Port()), s.ClientURL())
	require.Equal(t, dir, s.StoreDir())

	nc, js := connect(t, s)
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{
		Name:     "TURNS",
		Subjects: []string{"turns.>"},
		Storage:  jetstream.FileStorage,
	})
	require.NoError(t, err)
	ack, err := js.Publish(ctx, "turns.t1", []byte("hello"), jetstream.WithMsgID("t1"))
	require.NoError(t, err)
	require.Equal(t, uint64(1), ack.Sequence)
	require.False(t, ack.Duplicate)
	// Dedupe by Nats-Msg-Id works (the ingress relies on it).
	ack, err = js.Publish(ctx, "turns.t1", []byte("hello"), jetstream.WithMsgID("t1"))
	require.NoError(t, err)
	require.True(t, ack.Duplicate)
	nc.Close()
	s.Stop()
	s.Stop() // idempotent

	_, err = os.Stat(dir)
	require.NoError(t, err, "a caller's StoreDir is kept")

	s2, err := Start(Config{Port: RandomPort, StoreDir: dir})
	require.NoError(t, err)
	t.Cleanup(s2.Stop)
	_, js2 := connect(t, s2)
	stream, err := js2.Stream(ctx, "TURNS")
	require.NoError(t, err)
	msg, err := stream.GetMsg(ctx, 1)
	require.NoError(t, err)
	require.Equal(t, "turns.t1", msg.Subject)
	require.Equal(t, "hello", string(msg.Data))
	info, err := stream.Info(ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(1), info.State.Msgs)
}

func TestTempStoreDirRemovedOnStop(t *testing.T) {
	s, err := Start(Config{Port: RandomPort})
	require.NoError(t, err)
	dir := s.StoreDir()
	require.DirExists(t, dir)
	_, js := connect(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s"}})
	require.NoError(t, err)
	_, err = js.Publish(ctx, "s", []byte("x"))
	require.NoError(t, err)
	s.Stop()
	require.NoDirExists(t, dir)
}

func TestBusyPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port

	_, err = Start(Config{Port: port})
	require.Error(t, err)
	require.Contains(t, err.Error(), "port "+strconv.Itoa(port)+" is in use")
}

func TestValidate(t *testing.T) {
	require.NoError(t, Config{}.Validate())
	for field, cfg := range map[string]Config{
		"Config.Host":         {Host: "localhost:1"},
		"Config.Port":         {Port: -2},
		"Config.MaxMemory":    {MaxMemory: -1},
		"Config.MaxStore":     {MaxStore: -1},
		"Config.ReadyTimeout": {ReadyTimeout: -time.Second},
	} {
		err := cfg.Validate()
		require.Error(t, err, field)
		require.True(t, strings.Contains(err.Error(), field), "%q should name %s", err, field)
	}
}
