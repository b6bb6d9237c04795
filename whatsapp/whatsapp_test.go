package whatsapp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func testAccount(url string) Account {
	return Account{Name: "wa", BaseURL: url, PhoneNumberID: "106540352242922", Token: "tok", AppSecret: "secret",
		VerifyToken: "vt", Template: "verification_code", Languages: []string{"en_US", "it", "pt_BR", "en"},
		MessageTTL: time.Minute, Rate: 1000, Timeout: 2 * time.Second}
}

// canonical re-encodes JSON so two documents compare by content.
func canonical(t *testing.T, b []byte) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%v in %s", err, b)
	}
	out, _ := json.Marshal(v)
	return string(out)
}

// TestSendMatchesMetasExample: the request is Meta's documented
// authentication-template send (testdata/send_request.json), to the
// documented path with the bearer token, and the wamid is read from Meta's
// documented answer.
func TestSendMatchesMetasExample(t *testing.T) {
	want, _ := os.ReadFile("testdata/send_request.json")
	answer, _ := os.ReadFile("testdata/send_response.json")
	var got []byte
	var path, auth, ctype string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = io.ReadAll(r.Body)
		path, auth, ctype = r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("Content-Type")
		w.Write(answer)
	}))
	defer srv.Close()
	c, err := New(testAccount(srv.URL), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := c.Send(context.Background(), Message{To: "+12015553931", Code: "J8FpnY", Locale: "en-us", Ref: "0123456789abcdef01234567.0"})
	if err != nil {
		t.Fatal(err)
	}
	if id != "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI4Qzc5QkNGNTc5NTMyMDU5QzEA" {
		t.Errorf("wamid %q", id)
	}
	if path != "/"+DefaultAPIVersion+"/106540352242922/messages" || auth != "Bearer tok" || ctype != "application/json" {
		t.Errorf("path %q auth %q content type %q", path, auth, ctype)
	}
	if canonical(t, got) != canonical(t, want) {
		t.Errorf("request\n%s\nwant\n%s", got, want)
	}
}

// TestSendErrors: each refusal is sorted by Meta's code, whatever the HTTP
// status; without Meta's body, by the status.
func TestSendErrors(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		reason string
		kind   Kind
	}{
		{"throughput", 429, `{"error":{"message":"(#130429) Rate limit hit","type":"OAuthException","code":130429,"error_data":{"messaging_product":"whatsapp","details":"Cloud API message throughput has been reached."},"fbtrace_id":"x"}}`, "whatsapp_throttled", KindPassing},
		{"throughput as 400", 400, `{"error":{"message":"(#130429) Rate limit hit","type":"OAuthException","code":130429}}`, "whatsapp_throttled", KindPassing},
		{"pair rate", 400, `{"error":{"message":"(#131056) (Business Account, Consumer Account) pair rate limit hit","type":"OAuthException","code":131056}}`, "whatsapp_throttled", KindPassing},
		{"not on whatsapp", 400, `{"error":{"message":"(#131026) Message undeliverable","type":"OAuthException","code":131026}}`, "not_on_whatsapp", KindRecipient},
		{"expired token", 401, `{"error":{"message":"Error validating access token: Session has expired","type":"OAuthException","code":190,"error_subcode":463,"fbtrace_id":"y"}}`, "whatsapp_auth", KindAccount},
		{"no template", 404, `{"error":{"message":"(#132001) Template name does not exist in the translation","type":"OAuthException","code":132001,"error_data":{"messaging_product":"whatsapp","details":"template name (x) does not exist in en_US"}}}`, "whatsapp_template", KindAccount},
		{"payment", 400, `{"error":{"message":"(#131042) Business eligibility payment issue","type":"OAuthException","code":131042}}`, "whatsapp_account", KindAccount},
		{"meta asks to retry", 500, `{"error":{"message":"(#131000) Something went wrong","type":"OAuthException","code":131000}}`, "whatsapp_unavailable", KindPassing},
		{"meta's code 0", 401, `{"error":{"message":"(#0) We were unable to authenticate the app user","type":"OAuthException","code":0}}`, "whatsapp_auth", KindAccount},
		{"a code nobody listed", 400, `{"error":{"message":"(#999999) New","type":"OAuthException","code":999999}}`, "whatsapp_refused", KindAccount},
		{"bare 502 from a proxy", 502, `<html>bad gateway</html>`, "whatsapp_timeout", KindUnknown},
		{"bare 429", 429, ``, "whatsapp_unavailable", KindPassing},
		{"bare 404: wrong base_url", 404, `not found`, "whatsapp_refused", KindAccount},
		{"200 without an id", 200, `{"messaging_product":"whatsapp","messages":[]}`, "whatsapp_timeout", KindUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			c, _ := New(testAccount(srv.URL), nil, nil)
			_, err := c.Send(context.Background(), Message{To: "+393471234567", Code: "123456"})
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is not an *Error", err)
			}
			if e.Reason() != tt.reason || e.Kind != tt.kind {
				t.Errorf("reason %q kind %d, want %q %d (%v)", e.Reason(), e.Kind, tt.reason, tt.kind, err)
			}
			if e.Permanent() != (tt.kind == KindRecipient || tt.kind == KindAccount) || e.Recipient() != (tt.kind == KindRecipient) || e.Unknown() != (tt.kind == KindUnknown) {
				t.Errorf("Permanent %v Recipient %v Unknown %v for kind %d", e.Permanent(), e.Recipient(), e.Unknown(), tt.kind)
			}
			if strings.Contains(err.Error(), "123456") {
				t.Errorf("the error names the code: %v", err)
			}
		})
	}
}

// TestNoAnswerIsUnknownAndNoConnectionIsPassing: a request the Cloud API
// may have taken is never called passing (it would be sent again).
func TestNoAnswerIsUnknownAndNoConnectionIsPassing(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer srv.Close()
	defer close(release)
	a := testAccount(srv.URL)
	a.Timeout = 100 * time.Millisecond
	c, _ := New(a, nil, nil)
	_, err := c.Send(context.Background(), Message{To: "+393471234567", Code: "123456"})
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindUnknown || e.Reason() != "whatsapp_timeout" {
		t.Fatalf("timeout: %v", err)
	}

	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	c, _ = New(testAccount("http://"+addr), nil, nil)
	_, err = c.Send(context.Background(), Message{To: "+393471234567", Code: "123456"})
	if !errors.As(err, &e) || e.Kind != KindPassing {
		t.Fatalf("refused connection: %v", err)
	}
}

// TestRateSpacesSends: the account's bucket keeps sends within Rate.
func TestRateSpacesSends(t *testing.T) {
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		mu.Unlock()
		io.WriteString(w, `{"messaging_product":"whatsapp","messages":[{"id":"wamid.x"}]}`)
	}))
	defer srv.Close()
	a := testAccount(srv.URL)
	a.Rate = 20 // burst 2
	c, _ := New(a, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	sent := 0
	for ctx.Err() == nil {
		if _, err := c.Send(ctx, Message{To: "+393471234567", Code: "1234"}); err == nil {
			sent++
		}
	}
	// 2 at once, then 20 a second: about 5 in 150 ms
	if sent > 6 {
		t.Errorf("%d sends in 150 ms at 20 a second", sent)
	}
}

func TestLanguage(t *testing.T) {
	a := Account{Languages: []string{"en_US", "it", "pt_BR", "en", "zh_TW", "es_MX"}}
	for locale, want := range map[string]string{
		"en": "en", "en-gb": "en", "en-us": "en_US", "it": "it", "pt-br": "pt_BR", "pt": "pt_BR",
		"zh-tw": "zh_TW", "zh-hk": "zh_TW", "es": "es_MX", "de": "en_US", "": "en_US",
	} {
		if got := a.Language(locale); got != want {
			t.Errorf("Language(%q) = %q, want %q", locale, got, want)
		}
	}
}

func TestTemplateFor(t *testing.T) {
	a := Account{Template: "verification_code", Languages: []string{"en_US", "pt_BR"}, Templates: map[string]string{"pt_BR": "codigo_de_verificacao"}}
	if n, l := a.TemplateFor("pt-br"); n != "codigo_de_verificacao" || l != "pt_BR" {
		t.Errorf("pt-br: %s %s", n, l)
	}
	if n, l := a.TemplateFor("en"); n != "verification_code" || l != "en_US" {
		t.Errorf("en: %s %s", n, l)
	}
}

func TestValidate(t *testing.T) {
	ok := testAccount("https://graph.facebook.com").WithDefaults()
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		field string
		edit  func(a *Account)
	}{
		{"name", func(a *Account) { a.Name = "" }},
		{"base_url", func(a *Account) { a.BaseURL = "graph.facebook.com" }},
		{"api_version", func(a *Account) { a.APIVersion = "23" }},
		{"phone_number_id", func(a *Account) { a.PhoneNumberID = "+15550783881" }},
		{"token", func(a *Account) { a.Token = "" }},
		{"token", func(a *Account) { a.Token = "a b" }},
		{"app_secret", func(a *Account) { a.AppSecret = "" }},
		{"verify_token", func(a *Account) { a.VerifyToken = "" }},
		{"template", func(a *Account) { a.Template = "Verification Code" }},
		{"languages", func(a *Account) { a.Languages = nil }},
		{"languages[1]", func(a *Account) { a.Languages = []string{"en_US", "english"} }},
		{"message_ttl", func(a *Account) { a.MessageTTL = 0 }},
		{"message_ttl", func(a *Account) { a.MessageTTL = 20 * time.Minute }},
		{"rate", func(a *Account) { a.Rate = -1 }},
		{"timeout", func(a *Account) { a.Timeout = time.Hour }},
		{`templates["de"]`, func(a *Account) { a.Templates = map[string]string{"de": "code"} }},
		{`templates["it"]`, func(a *Account) { a.Templates = map[string]string{"it": "Codice"} }},
	}
	for _, tt := range tests {
		a := ok
		tt.edit(&a)
		err := a.Validate()
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tt.field {
			t.Errorf("%s: got %v", tt.field, err)
		}
	}
}

// TestSendRefusesWhatCannotGo: a code a template cannot carry is refused
// before any request.
func TestSendRefusesWhatCannotGo(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { t.Error("a request was made") }))
	defer srv.Close()
	c, _ := New(testAccount(srv.URL), nil, nil)
	for _, m := range []Message{{To: "+393471234567", Code: ""}, {To: "+393471234567", Code: strings.Repeat("1", 16)}, {To: "+393471234567", Code: "1234", Ref: strings.Repeat("r", 513)}} {
		if _, err := c.Send(context.Background(), m); err == nil {
			t.Errorf("sent %+v", m)
		}
	}
}

func webhook(got *[]Status) *Webhook {
	a := testAccount("https://graph.facebook.com")
	b := testAccount("https://graph.facebook.com")
	b.Name, b.PhoneNumberID, b.AppSecret, b.VerifyToken = "wa-other-app", "200", "other-secret", "vt2"
	return NewWebhook([]Account{a, b}, func(s Status) error { *got = append(*got, s); return nil }, nil)
}

func TestVerifyHandshake(t *testing.T) {
	w := webhook(new([]Status))
	for _, tt := range []struct {
		mode, token, challenge string
		status                 int
	}{
		{"subscribe", "vt", "1158201444", 200},
		{"subscribe", "vt2", "1158201444", 200},
		{"subscribe", "nope", "1158201444", 403},
		{"unsubscribe", "vt", "1158201444", 403},
		{"subscribe", "vt", "", 400},
		{"subscribe", "vt", "<script>", 400},
	} {
		status, body := w.Verify(tt.mode, tt.token, tt.challenge)
		if status != tt.status || (status == 200 && body != tt.challenge) {
			t.Errorf("%+v: %d %q", tt, status, body)
		}
	}
}

// TestNotifyReadsMetasExamples: Meta's documented callbacks, signed with
// the app secret, become statuses; a batch gives every status of the
// accounts this app signs for, skipping "played", other apps' numbers and
// received messages.
func TestNotifyReadsMetasExamples(t *testing.T) {
	tests := []struct {
		file string
		want []Status
	}{
		{"status_delivered.json", []Status{{Account: "wa", MessageID: "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3N0EyQUJDMjFEQzZCQUMzODMA", Ref: "0123456789abcdef01234567.0",
			Status: "delivered", At: time.Unix(1750030073, 0).UTC(), Recipient: "16505551234"}}},
		{"status_failed.json", []Status{{Account: "wa", MessageID: "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0QUQ2MjA4NEYyRkExNjMyREUA", Status: "failed",
			At: time.Unix(1751142888, 0).UTC(), Recipient: "16505551234", ErrorCode: 131049, ErrorTitle: "This message was not delivered to maintain healthy ecosystem engagement."}}},
		{"status_batch.json", []Status{
			{Account: "wa", MessageID: "wamid.A", Ref: "r.0", Status: "sent", At: time.Unix(1750030070, 0).UTC(), Recipient: "16505551234"},
			{Account: "wa", MessageID: "wamid.A", Ref: "r.0", Status: "read", At: time.Unix(1750030075, 0).UTC(), Recipient: "16505551234"},
		}},
	}
	for _, tt := range tests {
		body, err := os.ReadFile("testdata/" + tt.file)
		if err != nil {
			t.Fatal(err)
		}
		var got []Status
		w := webhook(&got)
		status, msg := w.Notify(Sign([]byte("secret"), body), body)
		if status != 200 {
			t.Fatalf("%s: %d %s", tt.file, status, msg)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tt.file, got, tt.want)
		}
	}
}

// TestNotifyRefusesWhatMetaDidNotSign: a tampered body, another app's
// signature for this app's numbers, or no signature reach nothing.
func TestNotifyRefusesWhatMetaDidNotSign(t *testing.T) {
	body, _ := os.ReadFile("testdata/status_delivered.json")
	var got []Status
	w := webhook(&got)
	tampered := bytes.Replace(body, []byte(`"delivered"`), []byte(`"read"`), 1)
	for name, c := range map[string]struct {
		sig  string
		body []byte
	}{
		"tampered":            {Sign([]byte("secret"), body), tampered},
		"wrong secret":        {Sign([]byte("not-the-secret"), body), body},
		"no signature":        {"", body},
		"sha1 only":           {"sha1=0123456789abcdef0123456789abcdef01234567", body},
		"not hex":             {"sha256=zz", body},
		"other app's numbers": {Sign([]byte("other-secret"), body), body},
	} {
		status, _ := w.Notify(c.sig, c.body)
		want := 401
		if name == "other app's numbers" {
			want = 200 // signed, but by an app that does not send from this number: ignored
		}
		if status != want {
			t.Errorf("%s: status %d, want %d", name, status, want)
		}
	}
	if len(got) != 0 {
		t.Errorf("statuses taken from unsigned or foreign callbacks: %+v", got)
	}
	bad := []byte(`{"object":`)
	if status, _ := w.Notify(Sign([]byte("secret"), bad), bad); status != 400 {
		t.Errorf("a signed body that is not JSON: %d", status)
	}
}

// FuzzNotify: a signed body of any shape gets 200 or 400 and never a
// panic; every status it yields names its message.
func FuzzNotify(f *testing.F) {
	for _, name := range []string{"status_delivered.json", "status_failed.json", "status_batch.json"} {
		b, _ := os.ReadFile("testdata/" + name)
		f.Add(b)
	}
	f.Add([]byte(`{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"statuses":[{"id":"x","status":"read","timestamp":"99999999999999999999"}]}}]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var got []Status
		w := webhook(&got)
		status, _ := w.Notify(Sign([]byte("secret"), body), body)
		if status != 200 && status != 400 {
			t.Fatalf("status %d", status)
		}
		for _, s := range got {
			if s.MessageID == "" || s.Account != "wa" {
				t.Fatalf("status %+v", s)
			}
		}
	})
}

// TestNotifyAsksAgainWhatItCouldNotRecord: a status the store could not
// take makes the answer 503, so Meta sends the notification again.
func TestNotifyAsksAgainWhatItCouldNotRecord(t *testing.T) {
	body, _ := os.ReadFile("testdata/status_batch.json")
	calls := 0
	w := NewWebhook([]Account{testAccount("https://graph.facebook.com")}, func(s Status) error {
		calls++
		if calls == 2 {
			return errors.New("store closed")
		}
		return nil
	}, nil)
	if status, msg := w.Notify(Sign([]byte("secret"), body), body); status != 503 || calls != 2 {
		t.Fatalf("%d %q after %d statuses", status, msg, calls)
	}
}
