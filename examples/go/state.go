package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// The access_hash of every user: user_id * accessHashFactor.
const accessHashFactor = 7919

// firstUserID is the id of the first user made; later ones go up by one.
const firstUserID = 1000

// firstPts is a new user's pts: an update's pts - pts_count is at least 1 (TDLib drops one below).
const firstPts = 1

// BoxMessage is one message in a user's box (a private chat message is in both boxes, with the
// id and pts of each).
type BoxMessage struct {
	ID   int    `json:"id"`
	Pts  int    `json:"pts"`
	Out  bool   `json:"out"`
	From int64  `json:"from"`
	Peer int64  `json:"peer"`
	Text string `json:"text"`
	Date int    `json:"date"`
}

// User is a signed-up user with its update counter and message box.
type User struct {
	ID        int64        `json:"id"`
	Phone     string       `json:"phone"`
	FirstName string       `json:"first_name"`
	Pts       int          `json:"pts"`
	LastMsgID int          `json:"last_msg_id"`
	Messages  []BoxMessage `json:"messages"`
}

// AccessHash is the user's access_hash as every InputUser/InputPeer must carry it.
func (u *User) AccessHash() int64 { return u.ID * accessHashFactor }

// State is everything the backend knows; every change is written to its file at once.
type State struct {
	mu   sync.Mutex
	path string

	NextUserID int64             `json:"next_user_id"`
	Users      []*User           `json:"users"`
	Codes      map[string]string `json:"codes"` // phone → phone_code_hash of its pending sign-in
}

// LoadState reads the state file; a missing file is an empty state.
func LoadState(path string) (*State, error) {
	s := &State{path: path, NextUserID: firstUserID, Codes: map[string]string{}}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, s); err != nil {
		return nil, fmt.Errorf("state file %s: %w", path, err)
	}
	if s.Codes == nil {
		s.Codes = map[string]string{}
	}
	return s, nil
}

// save writes the state to a temporary file and renames it over the state file (callers hold mu).
func (s *State) save() error {
	data, err := json.MarshalIndent(s, "", " ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(s.path), filepath.Base(s.path)+".tmp*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), s.path)
}

// user is the user with this id, or nil (callers hold mu).
func (s *State) user(id int64) *User {
	for _, u := range s.Users {
		if u.ID == id {
			return u
		}
	}
	return nil
}

// userByPhone is the user with this phone, or nil (callers hold mu).
func (s *State) userByPhone(phone string) *User {
	for _, u := range s.Users {
		if u.Phone == phone {
			return u
		}
	}
	return nil
}

// addUser makes a user for phone (callers hold mu).
func (s *State) addUser(phone string) *User {
	u := &User{ID: s.NextUserID, Phone: phone, FirstName: fmt.Sprintf("User %d", s.NextUserID), Pts: firstPts}
	s.NextUserID++
	s.Users = append(s.Users, u)
	return u
}

// deliver puts a message into u's box: its pts and message id go up by one.
func (u *User) deliver(out bool, from, peer int64, text string, date int) BoxMessage {
	u.Pts++
	u.LastMsgID++
	m := BoxMessage{ID: u.LastMsgID, Pts: u.Pts, Out: out, From: from, Peer: peer, Text: text, Date: date}
	u.Messages = append(u.Messages, m)
	return m
}
