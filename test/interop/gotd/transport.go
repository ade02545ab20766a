package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"

	"github.com/gotd/td/telegram/dcs"
	"github.com/gotd/td/tg"
	"github.com/gotd/td/transport"
)

// plainProtocols are gotd's TCP framings (transport.Abridged etc.); each also runs inside
// Obfuscated2 through dcs.PlainOptions.Obfuscated, except full (obfuscated2 has no tag for it).
var plainProtocols = map[string]transport.Protocol{
	"abridged":     transport.Abridged,
	"intermediate": transport.Intermediate,
	"padded":       transport.PaddedIntermediate,
	"full":         transport.Full,
}

// Recorded first bytes of each TCP connection: the plain tag or the whole 64-byte obfuscated2
// init; for WebSocket the HTTP upgrade request and the first message (the init).
const (
	tcpHeadLen = 64
	wsHeadLen  = 1024
)

// heads records the first bytes (up to limit) every TCP connection gotd opens writes, in dial order.
type heads struct {
	limit int
	mu    sync.Mutex
	conns []*recordingConn
}

func (h *heads) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	rc := &recordingConn{Conn: c, limit: h.limit}
	h.mu.Lock()
	h.conns = append(h.conns, rc)
	h.mu.Unlock()
	return rc, nil
}

func (h *heads) hex() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]string, 0, len(h.conns))
	for _, c := range h.conns {
		c.mu.Lock()
		out = append(out, hex.EncodeToString(c.head))
		c.mu.Unlock()
	}
	return out
}

type recordingConn struct {
	net.Conn
	limit int
	mu    sync.Mutex
	head  []byte
}

func (c *recordingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	if n := c.limit - len(c.head); n > 0 {
		c.head = append(c.head, p[:min(n, len(p))]...)
	}
	c.mu.Unlock()
	return c.Conn.Write(p)
}

// resolver builds gotd's DC list and resolver for one transport: "<framing>" or
// "obfuscated-<framing>" over TCP at addr, or "websocket" at wsURL (dcs.Websocket with its default
// options: obfuscated2 over intermediate inside binary WebSocket messages; its dialer,
// coder/websocket, uses http.DefaultClient, whose transport gets the recording dial function).
func resolver(name, addr, wsURL string, dc int, h *heads) (dcs.List, dcs.Resolver, error) {
	if name == "websocket" {
		if wsURL == "" {
			return dcs.List{}, nil, fmt.Errorf("-ws is required for websocket")
		}
		h.limit = wsHeadLen
		http.DefaultTransport.(*http.Transport).DialContext = h.dial
		return dcs.List{Domains: map[int]string{dc: wsURL}}, dcs.Websocket(dcs.WebsocketOptions{}), nil
	}
	h.limit = tcpHeadLen
	obfuscated := false
	framing := name
	if len(name) > len("obfuscated-") && name[:len("obfuscated-")] == "obfuscated-" {
		obfuscated = true
		framing = name[len("obfuscated-"):]
	}
	proto, ok := plainProtocols[framing]
	if !ok || (obfuscated && framing == "full") {
		return dcs.List{}, nil, fmt.Errorf("unknown transport %q", name)
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return dcs.List{}, nil, fmt.Errorf("-addr: %w", err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return dcs.List{}, nil, fmt.Errorf("-addr port: %w", err)
	}
	list := dcs.List{Options: []tg.DCOption{{ID: dc, IPAddress: host, Port: port}}}
	return list, dcs.Plain(dcs.PlainOptions{Protocol: proto, Obfuscated: obfuscated, Dial: h.dial}), nil
}
