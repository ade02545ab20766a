package main

import (
	"github.com/gotd/td/tg"
)

// appConfigHash is the hash of the one app config (a client's help.getAppConfig hash is not compared).
const appConfigHash = 0x6d746761

// appConfigEntry is one key of the app config: a number, a bool, a string or a list of strings.
type appConfigEntry struct {
	key   string
	value any
}

// appConfigEntries are client settings in the shape of Telegram's own app config (about 1.5 KB of TL).
var appConfigEntries = []appConfigEntry{
	{"test", 1.0},
	{"emojies_animated_zoom", 0.625},
	{"emojies_send_dice", []string{"🎲", "🎯", "🏀", "⚽", "🎰", "🎳"}},
	{"emojies_sounds_version", 2.0},
	{"gif_search_branding", "tenor"},
	{"gif_search_emojies", []string{"👍", "😘", "😍", "😡", "🥳", "😂", "😮", "🙄", "😎", "👎"}},
	{"stickers_emoji_suggest_only_api", false},
	{"stickers_emoji_cache_time", 86400.0},
	{"groupcall_video_participants_max", 1000.0},
	{"youtube_pip", "inapp"},
	{"qr_login_camera", false},
	{"qr_login_code", "disabled"},
	{"dialog_filters_enabled", true},
	{"dialog_filters_tooltip", false},
	{"ignore_restriction_reasons", []string{}},
	{"autoarchive_setting_available", false},
	{"pending_suggestions", []string{"VALIDATE_PASSWORD", "SETUP_PASSWORD"}},
	{"autologin_token", "0123456789abcdef0123456789abcdef"},
	{"autologin_domains", []string{"instantview.example.org", "translations.example.org"}},
	{"url_auth_domains", []string{"example.org"}},
	{"round_video_encoding", "480p"},
	{"chat_read_mark_size_threshold", 100.0},
	{"chat_read_mark_expire_period", 604800.0},
	{"pm_read_date_expire_period", 604800.0},
	{"reactions_uniq_max", 11.0},
	{"reactions_default", "👍"},
	{"upload_max_fileparts_default", 4000.0},
	{"upload_max_fileparts_premium", 8000.0},
	{"caption_length_limit_default", 1024.0},
	{"channels_limit_default", 500.0},
	{"saved_gifs_limit_default", 200.0},
	{"stickers_faved_limit_default", 5.0},
	{"dialog_filters_limit_default", 10.0},
	{"about_length_limit_default", 70.0},
	{"message_animated_emoji_max", 100.0},
	{"stories_all_hidden", false},
	{"stories_posting", "enabled"},
	{"stories_entities", "premium"},
	{"story_expiring_limit_default", 3.0},
	{"premium_purchase_blocked", true},
	{"premium_bot_username", "PremiumBot"},
	{"default_emoji_statuses_stickerset_id", "773947703670341676"},
}

// tlJSON is a JSON value of appConfigEntries as TL.
func tlJSON(v any) tg.JSONValueClass {
	switch v := v.(type) {
	case float64:
		return &tg.JSONNumber{Value: v}
	case bool:
		return &tg.JSONBool{Value: v}
	case string:
		return &tg.JSONString{Value: v}
	case []string:
		items := make([]tg.JSONValueClass, len(v))
		for i, s := range v {
			items[i] = &tg.JSONString{Value: s}
		}
		return &tg.JSONArray{Value: items}
	}
	panic("app config: unsupported value")
}

// appConfig is the boxed help.appConfig answer to every help.getAppConfig, serialised once.
var appConfig = func() []byte {
	values := make([]tg.JSONObjectValue, len(appConfigEntries))
	for i, e := range appConfigEntries {
		values[i] = tg.JSONObjectValue{Key: e.key, Value: tlJSON(e.value)}
	}
	b, err := boxed(&tg.HelpAppConfig{Hash: appConfigHash, Config: &tg.JSONObject{Value: values}})
	if err != nil {
		panic(err)
	}
	return b
}()
