package main

// The tables of Teamgram's authsession service, written and read with the SQL of its DAOs
// (teamgram-server app/service/authsession/internal/dal/dao/mysql_dao/*.go) and with its encoding of
// the key body (app/service/authsession/internal/dao/auth_key.go: base64.RawStdEncoding).

import (
	"context"
	"crypto/sha1"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"math/rand"
	"time"
)

// Teamgram's auth_key_infos.auth_key_type values (mtproto.AuthKeyType*).
const (
	authKeyTypePerm = 0
	authKeyTypeTemp = 1
)

type authsession struct{ db *sql.DB }

// authKeyID is the id MTProto gives a key: the low 8 bytes of its SHA-1, little-endian.
func authKeyID(key []byte) int64 {
	h := sha1.Sum(key)
	return int64(binary.LittleEndian.Uint64(h[12:20]))
}

// keyInfo is an auth_keys row with its auth_key_infos row, as QueryAuthKeyV2 reads them.
type keyInfo struct {
	ID            int64
	Key           []byte
	Type          int32
	PermAuthKeyID int64
	TempAuthKeyID int64
}

// QueryAuthKey reads a key as Teamgram's QueryAuthKeyV2 does (the two SelectByAuthKeyId queries,
// the body decoded with base64.RawStdEncoding; a decoding error is returned here, where Teamgram
// ignores it).
func (a *authsession) QueryAuthKey(ctx context.Context, id int64) (*keyInfo, error) {
	k := &keyInfo{ID: id}
	err := a.db.QueryRowContext(ctx,
		"select auth_key_id, auth_key_type, perm_auth_key_id, temp_auth_key_id, media_temp_auth_key_id from auth_key_infos where auth_key_id = ? limit 1", id).
		Scan(&k.ID, &k.Type, &k.PermAuthKeyID, &k.TempAuthKeyID, new(int64))
	if err != nil {
		return nil, err
	}
	var body string
	if err := a.db.QueryRowContext(ctx, "select auth_key_id, body from auth_keys where auth_key_id = ?", id).Scan(new(int64), &body); err != nil {
		return nil, err
	}
	if k.Key, err = base64.RawStdEncoding.DecodeString(body); err != nil {
		return nil, err
	}
	return k, nil
}

// SetAuthKey writes a permanent key as Teamgram's SetAuthKeyV2 does: auth_keys and auth_key_infos
// in one transaction.
func (a *authsession) SetAuthKey(ctx context.Context, key []byte) (int64, error) {
	id := authKeyID(key)
	tx, err := a.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "insert into auth_keys(auth_key_id, body) values (?, ?)", id, base64.RawStdEncoding.EncodeToString(key)); err != nil {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx,
		"insert into auth_key_infos(auth_key_id, auth_key_type, perm_auth_key_id, temp_auth_key_id, media_temp_auth_key_id) values (?, ?, ?, ?, ?)",
		id, authKeyTypePerm, id, 0, 0); err != nil {
		return 0, err
	}
	return id, tx.Commit()
}

// errAuthKeyPermEmpty is authsession's answer for a key whose auth_key_infos row names no
// permanent key (mtproto.ErrAuthKeyPermEmpty).
var errAuthKeyPermEmpty = errors.New("AUTH_KEY_PERM_EMPTY")

// BindAuthKeyUser is authsession.bindAuthKeyUser: the key is read (QueryAuthKeyV2) and must name
// its permanent key; that key is bound to the user as the dao's BindAuthKeyUser does
// (AuthUsersDAO.InsertOrUpdates with a rand.Int63() hash). Returns the hash.
func (a *authsession) BindAuthKeyUser(ctx context.Context, authKeyID, userID int64) (int64, error) {
	k, err := a.QueryAuthKey(ctx, authKeyID)
	if err != nil {
		return 0, err
	}
	if k.PermAuthKeyID == 0 {
		return 0, errAuthKeyPermEmpty
	}
	permAuthKeyID := k.PermAuthKeyID
	now := time.Now().Unix()
	hash := rand.Int63()
	_, err = a.db.ExecContext(ctx,
		"insert into auth_users(auth_key_id, user_id, hash, date_created, date_active) values (?, ?, ?, ?, ?) on duplicate key update hash = values(hash), date_active = values(date_active), deleted = 0",
		permAuthKeyID, userID, hash, now, now)
	return hash, err
}

// UnbindAuthKeyUser is authsession.unbindAuthKeyUser of one key (AuthUsersDAO.Delete).
func (a *authsession) UnbindAuthKeyUser(ctx context.Context, permAuthKeyID, userID int64) error {
	_, err := a.db.ExecContext(ctx, "update auth_users set deleted = 1, date_active = 0 where auth_key_id = ? and user_id = ?", permAuthKeyID, userID)
	return err
}

// SetLayer writes the key's `auths` row as Teamgram's AuthsDAO.InsertOrUpdateLayer does (Teamgram
// reads a binding only together with this row).
func (a *authsession) SetLayer(ctx context.Context, authKeyID int64, layer int32, clientIP string) error {
	_, err := a.db.ExecContext(ctx,
		"insert into auths(auth_key_id, layer, api_id, params, client_ip, date_active) values (?, ?, 0, 'null', ?, ?) on duplicate key update layer = values(layer), client_ip = values(client_ip), date_active = values(date_active)",
		authKeyID, layer, clientIP, time.Now().Unix())
	return err
}

// BoundUser is the user of a permanent key's active binding (AuthUsersDAO.Select), 0 when none.
func (a *authsession) BoundUser(ctx context.Context, permAuthKeyID int64) (int64, error) {
	var id, keyID, uid, hash, created, active, push int64
	err := a.db.QueryRowContext(ctx,
		"select id, auth_key_id, user_id, hash, date_created, date_active, android_push_session_id from auth_users where auth_key_id = ? and deleted = 0", permAuthKeyID).
		Scan(&id, &keyID, &uid, &hash, &created, &active, &push)
	if err == sql.ErrNoRows {
		return 0, nil
	}
	return uid, err
}
