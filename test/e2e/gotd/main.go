// Command gotd-probe connects the unmodified gotd/td client (github.com/gotd/td) to an mtgate
// server, lets it create an auth key, calls help.getConfig and help.getNearestDc through its
// encrypted session and prints one JSON line describing what happened.
//
// Only public options are set: the server's address (dcs.List + the plain resolver, intermediate
// transport), its RSA public key, a memory session, timeouts, a reconnection backoff that gives up
// after two retries, and the randomness source telegram.Options.Random: crypto/rand that counts
// gotd's draws of its DH secret b and, when GOTD_B_HEX is given, hands out that value as the first b.
//
// Usage: gotd-probe -addr 127.0.41.1:12345 -pem /path/key.pub [-timeout 40s]
// Environment: GOTD_B_HEX (256-byte b, hex), GOTD_LOG (debug|info|warn|error; default warn).
package main

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/gotd/log/logslog"
	"github.com/gotd/td/crypto"
	"github.com/gotd/td/session"
	"github.com/gotd/td/telegram"
	"github.com/gotd/td/telegram/dcs"
	"github.com/gotd/td/tg"
)

const (
	apiID   = 4
	apiHash = "014b35b6184100b085b0d0572f9b5103"
	dcID    = 2
	// dhSecretSize is how many bytes gotd's exchange draws for b: crypto/rand.Int(rand, 2^2048)
	// reads exactly 256 bytes with one io.ReadFull, masks nothing (2048 % 8 == 0) and keeps the
	// value (big-endian) because every 256-byte value is below 2^2048.
	dhSecretSize = 256
)

// fixedSecret is an io.Reader over crypto/rand, except that gotd's first draw of its DH secret b
// gets `secret`. That draw is recognised by its caller (crypto/rand.Int called from
// exchange.ClientExchange.Run) and size, not by order: gotd's message padding can also be a
// 256-byte read.
type fixedSecret struct {
	mu     sync.Mutex
	secret []byte
	given  bool
	// dhDraws counts draws of b (one per key exchange; the first one got secret).
	dhDraws int
}

func (r *fixedSecret) Read(p []byte) (int, error) {
	if len(p) == dhSecretSize && isDHDraw() {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.dhDraws++
		if r.secret != nil && !r.given {
			r.given = true
			return copy(p, r.secret), nil
		}
	}
	return io.ReadFull(crand.Reader, p)
}

// isDHDraw reports whether the current read comes from crypto/rand.Int called by gotd's
// client-side exchange flow (step 6 of the exchange: b := rand.Int(c.rand, 2^2048)).
func isDHDraw() bool {
	pcs := make([]uintptr, 16)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs)])
	inRandInt := false
	for {
		f, more := frames.Next()
		switch {
		case f.Function == "crypto/rand.Int":
			inRandInt = true
		case inRandInt:
			return strings.HasPrefix(f.Function, "github.com/gotd/td/exchange.") && strings.HasSuffix(f.Function, ".Run")
		}
		if !more {
			return false
		}
	}
}

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
	// Stage reached: "connect" (no session yet), "rpc", "done".
	Stage     string     `json:"stage"`
	Layer     int        `json:"layer"`
	Config    *config    `json:"config,omitempty"`
	NearestDC *nearestDC `json:"nearest_dc,omitempty"`
	// The auth key gotd persisted in its session (what it encrypts with).
	AuthKeyID        string `json:"auth_key_id,omitempty"` // signed int64, decimal
	AuthKeyIDHex     string `json:"auth_key_id_hex,omitempty"`
	AuthKeyLen       int    `json:"auth_key_len"`
	AuthKeyHex       string `json:"auth_key_hex,omitempty"`
	AuthKeyIDMatches bool   `json:"auth_key_id_matches"` // gotd's stored id == id of its stored key
	// Randomness: BInjected when GOTD_B_HEX was given, BGiven once gotd drew it as its b.
	BInjected bool `json:"b_injected"`
	BGiven    bool `json:"b_given"`
	DHDraws   int  `json:"dh_draws"` // draws of b seen (one per exchange)
	// Connection lifecycle as reported by gotd's OnConnectionState / OnDead.
	States     []string `json:"states"`
	DeadErrors []string `json:"dead_errors"`
	ElapsedMs  int64    `json:"elapsed_ms"`
}

type recorder struct {
	mu  sync.Mutex
	res *result
}

func (r *recorder) state(s telegram.ConnectionState) {
	r.mu.Lock()
	r.res.States = append(r.res.States, s.String())
	r.mu.Unlock()
}

func (r *recorder) dead(err error) {
	r.mu.Lock()
	r.res.DeadErrors = append(r.res.DeadErrors, err.Error())
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

func main() {
	addr := flag.String("addr", "", "server host:port")
	pemPath := flag.String("pem", "", "server RSA public key (PEM)")
	timeout := flag.Duration("timeout", 40*time.Second, "overall deadline")
	flag.Parse()

	start := time.Now()
	res := &result{Stage: "connect", Layer: tg.Layer, States: []string{}, DeadErrors: []string{}}
	rec := &recorder{res: res}
	err := run(*addr, *pemPath, *timeout, rec)

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

func run(addr, pemPath string, timeout time.Duration, rec *recorder) error {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("-addr: %w", err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return fmt.Errorf("-addr port: %w", err)
	}
	pemData, err := os.ReadFile(pemPath)
	if err != nil {
		return fmt.Errorf("-pem: %w", err)
	}
	keys, err := crypto.ParseRSAPublicKeys(pemData)
	if err != nil || len(keys) == 0 {
		return fmt.Errorf("-pem: no RSA public key (%v)", err)
	}
	publicKeys := make([]telegram.PublicKey, 0, len(keys))
	for _, k := range keys {
		publicKeys = append(publicKeys, telegram.PublicKey{RSA: k})
	}

	// Without GOTD_B_HEX the reader is crypto/rand throughout (it only counts gotd's DH draws).
	random := &fixedSecret{}
	if h := os.Getenv("GOTD_B_HEX"); h != "" {
		b, err := hex.DecodeString(h)
		if err != nil || len(b) != dhSecretSize {
			return fmt.Errorf("GOTD_B_HEX: want %d bytes of hex (%v)", dhSecretSize, err)
		}
		random.secret = b
	}

	storage := &session.StorageMemory{}
	logger := logslog.New(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel(os.Getenv("GOTD_LOG"))})))
	opts := telegram.Options{
		PublicKeys: publicKeys,
		DC:         dcID,
		DCList: dcs.List{Options: []tg.DCOption{
			{ID: dcID, IPAddress: host, Port: port},
		}},
		Resolver:        dcs.Plain(dcs.PlainOptions{}),
		SessionStorage:  storage,
		Logger:          logger,
		DialTimeout:     5 * time.Second,
		ExchangeTimeout: 10 * time.Second,
		// Give up after two reconnections (the deadline bounds everything anyway).
		ReconnectionBackoff: func() backoff.BackOff {
			return backoff.WithMaxRetries(backoff.NewConstantBackOff(300*time.Millisecond), 2)
		},
		OnConnectionState: rec.state,
		OnDead:            rec.dead,
		Random:            random,
	}
	client := telegram.NewClient(apiID, apiHash, opts)

	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	runErr := client.Run(ctx, func(ctx context.Context) error {
		rec.mu.Lock()
		rec.res.Stage = "rpc"
		rec.mu.Unlock()
		api := client.API()
		cfg, err := api.HelpGetConfig(ctx)
		if err != nil {
			return fmt.Errorf("help.getConfig: %w", err)
		}
		ndc, err := api.HelpGetNearestDC(ctx)
		if err != nil {
			return fmt.Errorf("help.getNearestDc: %w", err)
		}
		c := &config{ThisDC: cfg.ThisDC, Expires: cfg.Expires, Date: cfg.Date, DCOptions: []string{}}
		for _, o := range cfg.DCOptions {
			c.DCOptions = append(c.DCOptions, fmt.Sprintf("%d %s:%d", o.ID, o.IPAddress, o.Port))
		}
		rec.mu.Lock()
		rec.res.Config = c
		rec.res.NearestDC = &nearestDC{Country: ndc.Country, ThisDC: ndc.ThisDC, NearestDC: ndc.NearestDC}
		rec.mu.Unlock()
		return nil
	})

	rec.mu.Lock()
	defer rec.mu.Unlock()
	random.mu.Lock()
	rec.res.BInjected = random.secret != nil
	rec.res.BGiven = random.given
	rec.res.DHDraws = random.dhDraws
	random.mu.Unlock()
	if data, err := (&session.Loader{Storage: storage}).Load(context.Background()); err == nil {
		var value crypto.Key
		copy(value[:], data.AuthKey)
		id := value.ID()
		rec.res.AuthKeyLen = len(data.AuthKey)
		rec.res.AuthKeyHex = hex.EncodeToString(data.AuthKey)
		rec.res.AuthKeyIDHex = hex.EncodeToString(data.AuthKeyID)
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
