package main

// The key tool: a key read back the way Teamgram's authsession reads it, and a key written the way
// it writes one (then bound to a user), each printed as one JSON line for a test or an operator.

import (
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
)

type keyReport struct {
	AuthKeyID     string `json:"auth_key_id"`
	AuthKeyType   int32  `json:"auth_key_type"`
	PermAuthKeyID string `json:"perm_auth_key_id"`
	Key           string `json:"key"`
	SHA1          string `json:"sha1"`
	// IDMatches: the id the key's SHA-1 gives equals auth_key_id (the row is the key it names).
	IDMatches bool  `json:"id_matches"`
	UserID    int64 `json:"user_id"`
}

func report(k *keyInfo, userID int64) keyReport {
	h := sha1.Sum(k.Key)
	return keyReport{
		AuthKeyID:     fmt.Sprint(k.ID),
		AuthKeyType:   k.Type,
		PermAuthKeyID: fmt.Sprint(k.PermAuthKeyID),
		Key:           hex.EncodeToString(k.Key),
		SHA1:          hex.EncodeToString(h[:]),
		IDMatches:     authKeyID(k.Key) == k.ID,
		UserID:        userID,
	}
}

func printJSON(v any) error { return json.NewEncoder(os.Stdout).Encode(v) }

// readKey prints the key as QueryAuthKeyV2 decodes it, with its permanent key's bound user.
func readKey(ctx context.Context, auth *authsession, id int64) error {
	k, err := auth.QueryAuthKey(ctx, id)
	if err != nil {
		return fmt.Errorf("auth key %d: %w", id, err)
	}
	perm := k.PermAuthKeyID
	if perm == 0 {
		perm = k.ID
	}
	user, err := auth.BoundUser(ctx, perm)
	if err != nil {
		return err
	}
	return printJSON(report(k, user))
}

// writeKey makes a random 2048-bit permanent key, stores it as SetAuthKeyV2 does, binds it to the
// phone's user as BindAuthKeyUser does and writes its `auths` row (layer 0, as before any
// initConnection); prints it, read back from the tables.
func writeKey(ctx context.Context, auth *authsession, phone string) error {
	userID := userIDOfPhone(phone)
	if userID == 0 {
		return fmt.Errorf("--phone %q: not a phone number", phone)
	}
	key := make([]byte, 256)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	id, err := auth.SetAuthKey(ctx, key)
	if err != nil {
		return err
	}
	if _, err := auth.BindAuthKeyUser(ctx, id, userID); err != nil {
		return err
	}
	if err := auth.SetLayer(ctx, id, 0, ""); err != nil {
		return err
	}
	return readKey(ctx, auth, id)
}
