// Command tgtest serves gotd's in-process MTProto test server (github.com/gotd/td/tgtest) on one
// fixed TCP address for `npm run bench -- peers`: the transport is auto-detected per connection
// (abridged, intermediate, padded intermediate, full), the server answers the auth-key exchange
// with the given RSA key, ping and the other service messages by itself, and help.getConfig
// (tgtest/services/config) as DC 2; any other method gets rpc_error 400 INPUT_METHOD_INVALID.
//
//	tgtest -addr 127.0.0.1:44302 -key server.pem
//
// Once listening it prints "tgtest: listening on ADDR" on stdout; SIGTERM or SIGINT stops it.
package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgtest"
	"github.com/gotd/td/tgtest/services"
	"github.com/gotd/td/tgtest/services/config"
	"github.com/gotd/td/transport"
)

const dcID = 2

func main() {
	addr := flag.String("addr", "127.0.0.1:44302", "TCP address to listen on")
	keyPath := flag.String("key", "", "PKCS#1 PEM of the server's RSA private key")
	flag.Parse()
	if err := run(*addr, *keyPath); err != nil {
		fmt.Fprintln(os.Stderr, "tgtest:", err)
		os.Exit(1)
	}
}

func run(addr, keyPath string) error {
	b, err := os.ReadFile(keyPath)
	if err != nil {
		return err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return errors.New("no PEM block in " + keyPath)
	}
	key, err := x509.ParsePKCS1PrivateKey(blk.Bytes)
	if err != nil {
		return err
	}
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return err
	}

	cfg := tg.Config{
		ThisDC:                  dcID,
		DCOptions:               []tg.DCOption{{ID: dcID, IPAddress: host, Port: port, Static: true}},
		Expires:                 int(time.Now().Add(time.Hour).Unix()),
		ChatSizeMax:             200,
		MegagroupSizeMax:        200000,
		ForwardedCountMax:       100,
		OnlineUpdatePeriodMs:    210000,
		OfflineBlurTimeoutMs:    5000,
		OfflineIdleTimeoutMs:    30000,
		OnlineCloudTimeoutMs:    300000,
		NotifyCloudDelayMs:      30000,
		NotifyDefaultDelayMs:    1500,
		PushChatPeriodMs:        60000,
		PushChatLimit:           2,
		EditTimeLimit:           172800,
		RevokeTimeLimit:         2147483647,
		RevokePmTimeLimit:       2147483647,
		RatingEDecay:            2419200,
		StickersRecentLimit:     200,
		ChannelsReadMediaPeriod: 604800,
		CallReceiveTimeoutMs:    20000,
		CallRingTimeoutMs:       90000,
		CallConnectTimeoutMs:    30000,
		CallPacketTimeoutMs:     10000,
		MeURLPrefix:             "https://t.me/",
		CaptionLengthMax:        1024,
		MessageLengthMax:        4096,
		WebfileDCID:             dcID,
	}
	d := tgtest.NewDispatcher()
	config.NewService(&cfg, &tg.CDNConfig{}).Register(d)
	d.Fallback(services.NotImplemented)
	// UnpackInvoke strips invokeWithLayer / initConnection / invokeWithoutUpdates.
	// An idle connection is closed after 5 minutes without a packet (mtgate's default idle
	// timeout), not tgtest's default of 30 s: the bench holds idle authorised connections.
	opts := tgtest.ServerOptions{DC: dcID, ReadTimeout: 5 * time.Minute}
	srv := tgtest.NewServer(tgtest.NewPrivateKey(key), tgtest.UnpackInvoke(d), opts)

	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		return err
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer cancel()
	fmt.Printf("tgtest: listening on %s\n", ln.Addr())
	// A nil codec: each connection's transport is detected from its first bytes.
	err = srv.Serve(ctx, transport.Listen(ln))
	if ctx.Err() != nil {
		return nil
	}
	return err
}
