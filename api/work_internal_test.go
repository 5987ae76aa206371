package api

import (
	"io"
	"net"
	"testing"
	"time"
)

// clientGone sees a closed peer without consuming what the peer sent.
func TestClientGone(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	g := GuardListener(ln, 0)
	wrapped := &guardedConn{Conn: server, l: g}
	if clientGone(wrapped) {
		t.Fatal("open connection seen as gone")
	}
	if _, err := client.Write([]byte("GET")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 3)
	_ = server.SetReadDeadline(time.Now().Add(5 * time.Second))
	for range 3 {
		if clientGone(wrapped) {
			t.Fatal("a client that sent data seen as gone")
		}
	}
	if _, err := io.ReadFull(server, b); err != nil || string(b) != "GET" {
		t.Fatalf("peeking consumed bytes: read %q, %v", b, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	client.Close()
	for !clientGone(wrapped) {
		if time.Now().After(deadline) {
			t.Fatal("closed client not seen as gone")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
