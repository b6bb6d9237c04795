package main

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/api"
	"github.com/otpgate/otpgate/engine"
)

// TestFacadeSandboxFlows drives the SMS.CX, Message Central and NexCode
// facades of a sandbox gateway with the sandbox's demo credentials, as
// each vendor's client would after changing its base URL: token, create,
// the code read from the sandbox inbox, a wrong and the right check, get,
// cancel, SMS.CX's signed callback, NexCode's customer_id in the native
// API. Then the gateway restarts on the same data directory: the access
// tokens issued before still work (they are signed, not stored).
func TestFacadeSandboxFlows(t *testing.T) {
	const demoKey = "facade-sandbox-key"
	t.Setenv("OTPGATE_SANDBOX_KEY", demoKey)
	dir := t.TempDir()
	g := startTestGateway(t, "sandbox: true\n", dir)
	base := "http://" + g.Addr()
	demo := client{t, base, demoKey}
	codeFor := func(number string, n int) string {
		var in api.SandboxMessages
		eventually(t, 5*time.Second, "SMS "+number, func() bool {
			demo.do("GET", "/v1/sandbox/messages?number="+url.QueryEscape(number), "", &in)
			return len(in.Messages) >= n
		})
		return codeFrom(t, in.Messages[0].Text) // newest first
	}
	hooks := make(chan *http.Request, 8)
	bodies := make(chan []byte, 8)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		hooks <- r
		bodies <- b
	}))
	defer receiver.Close()

	// SMS.CX: a token for the demo application, an OTP with a callback
	var tok struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	st, _, b := send(t, "POST", base+"/compat/smscx/oauth/token", "grant_type=client_credentials",
		"Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("demo:"+demoKey)),
		"Content-Type", "application/x-www-form-urlencoded")
	if st != 200 || json.Unmarshal(b, &tok) != nil || tok.AccessToken == "" || tok.ExpiresIn != 86400 {
		t.Fatalf("smscx token: %d %s", st, b)
	}
	bearer := "Bearer " + tok.AccessToken
	var otp struct {
		OTPID  string `json:"otpId"`
		Status string `json:"status"`
	}
	st, _, b = send(t, "POST", base+"/compat/smscx/otp", `{"phoneNumber":"+33612246401","otpCallbackUrl":"`+receiver.URL+`/smscx"}`,
		"Authorization", bearer, "Content-Type", "application/json")
	if st != 201 || json.Unmarshal(b, &otp) != nil || otp.Status != "PENDING" {
		t.Fatalf("smscx create: %d %s", st, b)
	}
	code := codeFor("+33612246401", 1)
	if st, _, b = send(t, "POST", base+"/compat/smscx/otp/"+otp.OTPID, `{"pin":"`+wrongCode(code)+`"}`, "Authorization", bearer); st != 400 || !strings.Contains(string(b), `"code":2029`) {
		t.Fatalf("smscx wrong pin: %d %s", st, b)
	}
	if st, _, b = send(t, "POST", base+"/compat/smscx/otp/"+otp.OTPID, `{"pin":"`+code+`"}`, "X-API-KEY", demoKey); st != 200 || string(b) != `{"status":"VERIFIED"}` {
		t.Fatalf("smscx right pin: %d %s", st, b)
	}
	select {
	case r := <-hooks:
		body := <-bodies
		if err := engine.VerifySignature(g.sandbox.WebhookSecret, r.Header.Get(engine.SignatureHeader), body, time.Now(), time.Minute); err != nil {
			t.Fatalf("smscx callback signature: %v", err)
		}
		if !strings.HasPrefix(string(body), `{"data":[{"otpId":"`+otp.OTPID+`"`) || !strings.Contains(string(body), `"status":"VERIFIED"`) || !strings.Contains(string(body), `"event":"otp_update"`) {
			t.Fatalf("smscx callback: %s", body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no smscx callback in 10s")
	}

	// a second OTP, cancelled
	var otp2 struct {
		OTPID string `json:"otpId"`
	}
	st, _, b = send(t, "POST", base+"/compat/smscx/otp", `{"phoneNumber":"+33612246403"}`, "Authorization", bearer, "Content-Type", "application/json")
	if st != 201 || json.Unmarshal(b, &otp2) != nil {
		t.Fatalf("smscx create: %d %s", st, b)
	}
	if st, _, b = send(t, "DELETE", base+"/compat/smscx/otp/"+otp2.OTPID, "", "Authorization", bearer); st != 200 || string(b) != `{"info":{"id":"`+otp2.OTPID+`"}}` {
		t.Fatalf("smscx cancel: %d %s", st, b)
	}

	// Message Central: a token for customer demo (key = base64 of the demo
	// key), a send, a wrong and the right code
	var mcTok struct{ Token string }
	st, _, b = send(t, "GET", base+"/compat/messagecentral/auth/v1/authentication/token?customerId=demo&key="+
		url.QueryEscape(base64.StdEncoding.EncodeToString([]byte(demoKey)))+"&scope=NEW", "")
	if st != 200 || json.Unmarshal(b, &mcTok) != nil || mcTok.Token == "" {
		t.Fatalf("messagecentral token: %d %s", st, b)
	}
	var sent struct {
		Data struct{ VerificationID string }
	}
	st, _, b = send(t, "POST", base+"/compat/messagecentral/verification/v2/verification/send?countryCode=91&customerId=demo&flowType=SMS&mobileNumber=9990655875", "",
		"authToken", mcTok.Token)
	if st != 200 || json.Unmarshal(b, &sent) != nil || sent.Data.VerificationID == "" {
		t.Fatalf("messagecentral send: %d %s", st, b)
	}
	mcCode := codeFor("+919990655875", 1)
	validate := func(code string) (int, []byte) {
		st, _, b := send(t, "GET", base+"/compat/messagecentral/verification/v3/validateOtp?verificationId="+sent.Data.VerificationID+"&code="+code, "", "authToken", mcTok.Token)
		return st, b
	}
	if st, b := validate(wrongCode(mcCode)); st != 400 || !strings.Contains(string(b), `"responseCode":702`) {
		t.Fatalf("messagecentral wrong code: %d %s", st, b)
	}
	if st, b := validate(mcCode); st != 200 || !strings.Contains(string(b), `"verificationStatus":"VERIFICATION_COMPLETED"`) {
		t.Fatalf("messagecentral right code: %d %s", st, b)
	}

	// NexCode: the demo key as Bearer; customer_id shows in the native API
	var req struct {
		RequestID string `json:"request_id"`
	}
	st, _, b = send(t, "POST", base+"/compat/nexcode/otp/request", `{"msisdn":"+393331234567","customer_id":"retailer-001","channel":"sms"}`,
		"Authorization", "Bearer "+demoKey)
	if st != 200 || json.Unmarshal(b, &req) != nil || !strings.HasPrefix(req.RequestID, "req_") {
		t.Fatalf("nexcode request: %d %s", st, b)
	}
	nxCode := codeFor("+393331234567", 1)
	if st, _, b = send(t, "POST", base+"/compat/nexcode/otp/verify", `{"request_id":"`+req.RequestID+`","otp":"`+wrongCode(nxCode)+`"}`,
		"Authorization", "Bearer "+demoKey); st != 200 || !strings.HasPrefix(string(b), `{"verified":false,"reason":"wrong_code"`) {
		t.Fatalf("nexcode wrong code: %d %s", st, b)
	}
	if st, _, b = send(t, "POST", base+"/compat/nexcode/otp/verify", `{"request_id":"`+req.RequestID+`","otp":"`+nxCode+`"}`,
		"Authorization", "Bearer "+demoKey); st != 200 || string(b) != `{"verified":true}` {
		t.Fatalf("nexcode verify: %d %s", st, b)
	}
	if v := demo.get(strings.TrimPrefix(req.RequestID, "req_")); v.CustomerID != "retailer-001" || v.Status != "verified" || v.API != "nexcode" {
		t.Fatalf("native view of the NexCode verification: %+v", v)
	}

	// a restart on the same data directory: the tokens still work
	if err := g.Shutdown(ctxTimeout(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	g = startTestGateway(t, "sandbox: true\n", dir)
	base = "http://" + g.Addr()
	if st, _, b = send(t, "GET", base+"/compat/smscx/otp/"+otp.OTPID, "", "Authorization", bearer); st != 200 || !strings.Contains(string(b), `"status":"VERIFIED"`) {
		t.Fatalf("smscx token after a restart: %d %s", st, b)
	}
	if st, _, b = send(t, "GET", base+"/compat/messagecentral/verification/v3/validateOtp?verificationId="+sent.Data.VerificationID+"&code="+mcCode, "",
		"authToken", mcTok.Token); st != 409 || !strings.Contains(string(b), `"responseCode":703`) {
		t.Fatalf("messagecentral token after a restart: %d %s", st, b)
	}
}

// send makes one request with headers given as name, value pairs.
func send(t *testing.T, method, url, body string, headers ...string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}
