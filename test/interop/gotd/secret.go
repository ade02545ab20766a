package main

import (
	crand "crypto/rand"
	"io"
	"runtime"
	"strings"
	"sync"
)

// dhSecretSize is how many bytes gotd's exchange draws for b: crypto/rand.Int(rand, 2^2048) reads
// exactly 256 bytes with one io.ReadFull, masks nothing (2048 % 8 == 0) and keeps the value
// (big-endian) because every 256-byte value is below 2^2048.
const dhSecretSize = 256

// fixedSecret is an io.Reader over crypto/rand (telegram.Options.Random), except that gotd's first
// draw of its DH secret b gets `secret` when one is set. That draw is recognised by its caller
// (crypto/rand.Int called from exchange.ClientExchange.Run) and size, not by order: gotd's message
// padding can also be a 256-byte read.
type fixedSecret struct {
	mu     sync.Mutex
	secret []byte
	given  bool
	// dhDraws counts draws of b (one per key exchange).
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
