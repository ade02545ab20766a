// Command gotd-probe connects the unmodified gotd/td client (github.com/gotd/td) to an mtgate
// server over one of gotd's transports, calls help.getConfig, help.getNearestDc and ping through
// its encrypted session and prints one JSON line describing what happened.
//
// Only public options are set: the server's address (dcs.List + dcs.Plain with a recording dial
// function, or dcs.Websocket with its defaults and http.DefaultTransport dialling through that
// function), its RSA public key, a file session (-session: a second run on the same file reuses
// the key), timeouts, a reconnection backoff that gives up after two retries, and
// telegram.Options.Random (secret.go: crypto/rand that counts gotd's DH draws and, when GOTD_B_HEX
// is given, hands out that value as the first b).
//
// Usage: gotd-probe -transport intermediate -addr 127.0.41.1:12345 -pem key.pub -session s.json
//
//	gotd-probe -transport websocket -ws ws://127.0.41.1:12346/apiws -pem key.pub -session s.json
//	gotd-probe -addr 127.0.41.1:12345 -pem key.pub -session s.json -push-text TEXT -push-wait 20s
//
// With -push-text the probe runs push.go's scenario instead (account.updateStatus, then waits for
// a pushed updateNewMessage with that text in its UpdateHandler).
//
// Transports: abridged, intermediate, padded, full, obfuscated-abridged, obfuscated-intermediate,
// obfuscated-padded, websocket. Environment: GOTD_B_HEX (256-byte b, hex), GOTD_LOG
// (debug|info|warn|error; default warn).
package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/gotd/log/logslog"
	"github.com/gotd/td/crypto"
	"github.com/gotd/td/session"
	"github.com/gotd/td/telegram"
	"github.com/gotd/td/tg"
)

const (
	apiID   = 4
	apiHash = "014b35b6184100b085b0d0572f9b5103"
	dcID    = 2
)

type nearestDC struct {
	Country   string `json:"country"`
	ThisDC    int    `json:"this_dc"`
	NearestDC int    `json:"nearest_dc"`
}

type config struct {
	ThisDC    int      `json:"this_dc"`
	DCOptions []string `json:"dc_options"`
	Expires   int      `json:"expires"`
	Date      int      `json:"date"`
}

type result struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
	// Stage reached: "connect" (no session yet), "getConfig", "getNearestDc", "ping", "done".
	Stage     string     `json:"stage"`
	Transport string     `json:"transport"`
	Layer     int        `json:"layer"`
	Config    *config    `json:"config,omitempty"`
	NearestDC *nearestDC `json:"nearest_dc,omitempty"`
	// Ping: client.Ping returned (it returns nil only on the pong carrying its ping_id).
	Pong bool `json:"pong"`
	// The auth key gotd persisted in its session (what it encrypts with).
	AuthKeyID        string `json:"auth_key_id,omitempty"` // signed int64, decimal
	AuthKeyLen       int    `json:"auth_key_len"`
	AuthKeyHex       string `json:"auth_key_hex,omitempty"`
	AuthKeyIDMatches bool   `json:"auth_key_id_matches"` // gotd's stored id == id of its stored key
	// SessionExisted: the session file held a key before this run.
	SessionExisted bool `json:"session_existed"`
	// Randomness: BInjected when GOTD_B_HEX was given, BGiven once gotd drew it as its b.
	BInjected bool `json:"b_injected"`
	BGiven    bool `json:"b_given"`
	DHDraws   int  `json:"dh_draws"` // draws of b seen (one per exchange)
	// Heads: the first bytes (hex; 64, or 1024 for WebSocket) each TCP connection wrote, in dial order.
	Heads []string `json:"heads"`
	// Connection lifecycle as reported by gotd's OnConnectionState / OnDead.
	States     []string `json:"states"`
	DeadErrors []string `json:"dead_errors"`
	ElapsedMs  int64    `json:"elapsed_ms"`
	// Push mode: account.updateStatus's answer and what the UpdateHandler saw.
	Status   bool       `json:"status"`
	Received []received `json:"received,omitempty"`
}

type recorder struct {
	mu  sync.Mutex
	res *result
}

func (r *recorder) set(f func(*result)) {
	r.mu.Lock()
	f(r.res)
	r.mu.Unlock()
}

func logLevel(s string) slog.Level {
	switch s {
	case "debug":
		return slog.LevelDebug
	case "info":
		return slog.LevelInfo
	case "error":
		return slog.LevelError
	default:
		return slog.LevelWarn
	}
}

type options struct {
	transport, addr, ws, pem, session string
	timeout                           time.Duration
	pushText                          string
	pushWait                          time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.transport, "transport", "intermediate", "gotd transport")
	flag.StringVar(&o.addr, "addr", "", "server host:port (TCP transports)")
	flag.StringVar(&o.ws, "ws", "", "server WebSocket URL (websocket)")
	flag.StringVar(&o.pem, "pem", "", "server RSA public key (PEM)")
	flag.StringVar(&o.session, "session", "", "session file (gotd session.FileStorage)")
	flag.DurationVar(&o.timeout, "timeout", 30*time.Second, "overall deadline")
	flag.StringVar(&o.pushText, "push-text", "", "push mode: the text of the updateNewMessage to wait for")
	flag.DurationVar(&o.pushWait, "push-wait", 20*time.Second, "push mode: how long to wait for it")
	flag.Parse()

	start := time.Now()
	res := &result{Stage: "connect", Transport: o.transport, Layer: tg.Layer, States: []string{}, DeadErrors: []string{}, Heads: []string{}}
	rec := &recorder{res: res}
	err := run(o, rec)

	rec.mu.Lock()
	defer rec.mu.Unlock()
	res.ElapsedMs = time.Since(start).Milliseconds()
	if err != nil {
		res.Error = err.Error()
	} else {
		res.OK = true
		res.Stage = "done"
	}
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
	if !res.OK {
		os.Exit(1)
	}
}

func publicKeys(path string) ([]telegram.PublicKey, error) {
	pemData, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("-pem: %w", err)
	}
	keys, err := crypto.ParseRSAPublicKeys(pemData)
	if err != nil || len(keys) == 0 {
		return nil, fmt.Errorf("-pem: no RSA public key (%v)", err)
	}
	out := make([]telegram.PublicKey, 0, len(keys))
	for _, k := range keys {
		out = append(out, telegram.PublicKey{RSA: k})
	}
	return out, nil
}

func run(o options, rec *recorder) error {
	keys, err := publicKeys(o.pem)
	if err != nil {
		return err
	}
	if o.session == "" {
		return fmt.Errorf("-session is required")
	}
	h := &heads{}
	list, resolver, err := resolver(o.transport, o.addr, o.ws, dcID, h)
	if err != nil {
		return err
	}
	random := &fixedSecret{}
	if s := os.Getenv("GOTD_B_HEX"); s != "" {
		b, err := hex.DecodeString(s)
		if err != nil || len(b) != dhSecretSize {
			return fmt.Errorf("GOTD_B_HEX: want %d bytes of hex (%v)", dhSecretSize, err)
		}
		random.secret = b
	}

	storage := &session.FileStorage{Path: o.session}
	loader := &session.Loader{Storage: storage}
	if data, err := loader.Load(context.Background()); err == nil && len(data.AuthKey) > 0 {
		rec.set(func(r *result) { r.SessionExisted = true })
	}
	var box *inbox
	var updates telegram.UpdateHandler
	if o.pushText != "" {
		box = newInbox(o.pushText)
		updates = box.handler()
	}
	logger := logslog.New(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel(os.Getenv("GOTD_LOG"))})))
	client := telegram.NewClient(apiID, apiHash, telegram.Options{
		PublicKeys:      keys,
		DC:              dcID,
		DCList:          list,
		Resolver:        resolver,
		SessionStorage:  storage,
		Logger:          logger,
		DialTimeout:     5 * time.Second,
		ExchangeTimeout: 10 * time.Second,
		// Give up after two reconnections (the deadline bounds everything anyway).
		ReconnectionBackoff: func() backoff.BackOff {
			return backoff.WithMaxRetries(backoff.NewConstantBackOff(300*time.Millisecond), 2)
		},
		OnConnectionState: func(s telegram.ConnectionState) { rec.set(func(r *result) { r.States = append(r.States, s.String()) }) },
		OnDead:            func(err error) { rec.set(func(r *result) { r.DeadErrors = append(r.DeadErrors, err.Error()) }) },
		Random:            random,
		UpdateHandler:     updates,
	})

	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	runErr := client.Run(ctx, func(ctx context.Context) error {
		if box != nil {
			return pushScenario(ctx, client, rec, box, o.pushWait)
		}
		return scenario(ctx, client, rec)
	})

	rec.mu.Lock()
	defer rec.mu.Unlock()
	random.mu.Lock()
	rec.res.BInjected = random.secret != nil
	rec.res.BGiven = random.given
	rec.res.DHDraws = random.dhDraws
	random.mu.Unlock()
	rec.res.Heads = h.hex()
	if data, err := loader.Load(context.Background()); err == nil {
		var value crypto.Key
		copy(value[:], data.AuthKey)
		id := value.ID()
		rec.res.AuthKeyLen = len(data.AuthKey)
		rec.res.AuthKeyHex = hex.EncodeToString(data.AuthKey)
		if len(data.AuthKeyID) == 8 {
			rec.res.AuthKeyID = strconv.FormatInt(int64(binary.LittleEndian.Uint64(data.AuthKeyID)), 10)
		}
		rec.res.AuthKeyIDMatches = len(data.AuthKey) == len(value) && bytes.Equal(id[:], data.AuthKeyID)
	}
	if runErr != nil {
		return runErr
	}
	if ctx.Err() != nil {
		return fmt.Errorf("deadline: %w", ctx.Err())
	}
	return nil
}

// scenario runs once gotd's connection is ready (its initConnection(help.getConfig) answered).
func scenario(ctx context.Context, client *telegram.Client, rec *recorder) error {
	api := client.API()
	rec.set(func(r *result) { r.Stage = "getConfig" })
	cfg, err := api.HelpGetConfig(ctx)
	if err != nil {
		return fmt.Errorf("help.getConfig: %w", err)
	}
	c := &config{ThisDC: cfg.ThisDC, Expires: cfg.Expires, Date: cfg.Date, DCOptions: []string{}}
	for _, o := range cfg.DCOptions {
		c.DCOptions = append(c.DCOptions, fmt.Sprintf("%d %s:%d", o.ID, o.IPAddress, o.Port))
	}
	rec.set(func(r *result) { r.Config = c; r.Stage = "getNearestDc" })
	ndc, err := api.HelpGetNearestDC(ctx)
	if err != nil {
		return fmt.Errorf("help.getNearestDc: %w", err)
	}
	rec.set(func(r *result) {
		r.NearestDC = &nearestDC{Country: ndc.Country, ThisDC: ndc.ThisDC, NearestDC: ndc.NearestDC}
		r.Stage = "ping"
	})
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := client.Ping(pingCtx); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	rec.set(func(r *result) { r.Pong = true })
	return nil
}
